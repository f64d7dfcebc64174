/**
 * Holders for what a host sends, with a bound on what they keep: a host is
 * an untrusted party, and one that floods stdout or stderr must cost the
 * controller a bounded amount of memory and work, not crash or stall it.
 * Both keep the chunks as they came, so taking a chunk costs no copy.
 */

/** What one command or one exchange may print on stdout; facts of a large host are a few MiB. */
export const MAX_STDOUT_BYTES = 64 * 1024 * 1024;
/** The end of stderr is what explains a failure; more is not kept. */
export const STDERR_TAIL_BYTES = 64 * 1024;

/** The last `limit` bytes of a stream: older chunks are dropped as newer ones come. */
export class TailBuffer {
  private chunks: Buffer[] = [];
  private kept = 0;
  private received = 0;

  constructor(readonly limit: number) {
    if (!Number.isSafeInteger(limit) || limit <= 0) throw new RangeError(`TailBuffer limit must be a positive integer, not ${limit}`);
  }

  push(chunk: Buffer): void {
    this.received += chunk.length;
    if (chunk.length >= this.limit) {
      // a copy, so a huge chunk is not held alive by its tail
      this.chunks = [Buffer.from(chunk.subarray(chunk.length - this.limit))];
      this.kept = this.limit;
      return;
    }
    this.chunks.push(chunk);
    this.kept += chunk.length;
    while (this.kept - this.chunks[0].length >= this.limit) this.kept -= this.chunks.shift()!.length;
    if (this.kept > this.limit) {
      this.chunks[0] = this.chunks[0].subarray(this.kept - this.limit);
      this.kept = this.limit;
    }
  }

  /** Bytes held now: at most `limit`. */
  get retainedBytes(): number {
    return this.kept;
  }

  /** Bytes ever pushed, dropped ones included. */
  get totalBytes(): number {
    return this.received;
  }

  /** What is held of the bytes that came after the first `offset` ever pushed (see totalBytes). */
  since(offset: number): Buffer {
    const wanted = Math.min(Math.max(0, this.received - offset), this.kept);
    const all = Buffer.concat(this.chunks, this.kept);
    return all.subarray(all.length - wanted);
  }

  bytes(): Buffer {
    return Buffer.concat(this.chunks, this.kept);
  }
}

/**
 * A stream's bytes up to a cap, in the chunks they came in: no copy per
 * chunk (re-concatenating on every chunk made a flood cost a core), one
 * concatenation when the answer is taken.
 */
export class CappedChunks {
  private chunks: Buffer[] = [];
  private size = 0;

  constructor(readonly cap: number) {
    if (!Number.isSafeInteger(cap) || cap < 0) throw new RangeError(`CappedChunks cap must be a non-negative integer, not ${cap}`);
  }

  /** Keeps the chunk; false, keeping nothing, when it would take the total past the cap. */
  push(chunk: Buffer): boolean {
    if (this.size + chunk.length > this.cap) return false;
    this.chunks.push(chunk);
    this.size += chunk.length;
    return true;
  }

  get length(): number {
    return this.size;
  }

  /** Whether the bytes end with `tail`: looks at the last tail.length bytes only, across chunk boundaries. */
  endsWith(tail: Buffer): boolean {
    if (this.size < tail.length) return false;
    let t = tail.length;
    for (let c = this.chunks.length - 1; t > 0; c--) {
      const chunk = this.chunks[c];
      const n = Math.min(t, chunk.length);
      if (!chunk.subarray(chunk.length - n).equals(tail.subarray(t - n, t))) return false;
      t -= n;
    }
    return true;
  }

  bytes(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks, this.size)];
    return this.chunks[0] ?? Buffer.alloc(0);
  }

  /** Drops everything kept (to free it, or to start the next answer). */
  clear(): void {
    this.chunks = [];
    this.size = 0;
  }
}
