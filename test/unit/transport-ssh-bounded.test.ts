import { afterEach, describe, expect, it, vi } from 'vitest';
import { CappedChunks, TailBuffer } from '../../src/transport/ssh/bounded.js';

const KiB = 1024;
const MB = 1_000_000;

/** A chunk whose every byte says which chunk it was, so a tail can be checked for being the right one. */
const chunkNo = (i: number, size = 64 * KiB) => Buffer.alloc(size, i % 256);

afterEach(() => {
  vi.restoreAllMocks();
});

describe('TailBuffer', () => {
  it('keeps the last 64 KiB of a 200 MB flood in 64 KiB chunks, and no more', () => {
    const tail = new TailBuffer(64 * KiB);
    let maxRetained = 0;
    const chunks = Math.ceil((200 * MB) / (64 * KiB));
    for (let i = 0; i < chunks; i++) {
      tail.push(chunkNo(i));
      maxRetained = Math.max(maxRetained, tail.retainedBytes);
    }
    expect(tail.totalBytes).toBe(chunks * 64 * KiB);
    expect(maxRetained).toBeLessThanOrEqual(64 * KiB);
    expect(tail.bytes().equals(chunkNo(chunks - 1))).toBe(true);
  });

  it('keeps exactly the last bytes across small chunks, cutting into the oldest one', () => {
    const tail = new TailBuffer(5);
    for (const s of ['abc', 'de', 'fgh']) tail.push(Buffer.from(s));
    expect(tail.bytes().toString()).toBe('defgh');
    expect(tail.retainedBytes).toBe(5);
    tail.push(Buffer.from('i'));
    expect(tail.bytes().toString()).toBe('efghi');
  });

  it('keeps only the end of a single chunk larger than the limit', () => {
    const tail = new TailBuffer(4);
    tail.push(Buffer.from('0123456789'));
    expect(tail.bytes().toString()).toBe('6789');
    expect(tail.totalBytes).toBe(10);
  });

  it('gives what is held of the bytes after an offset', () => {
    const tail = new TailBuffer(6);
    tail.push(Buffer.from('abcd'));
    const mark = tail.totalBytes;
    expect(tail.since(mark).toString()).toBe('');
    tail.push(Buffer.from('ef'));
    expect(tail.since(mark).toString()).toBe('ef');
    tail.push(Buffer.from('ghijkl'));
    expect(tail.since(mark).toString()).toBe('ghijkl');
  });

  it('refuses a limit that is not a positive integer', () => {
    expect(() => new TailBuffer(0)).toThrow(RangeError);
    expect(() => new TailBuffer(1.5)).toThrow(RangeError);
  });
});

describe('CappedChunks', () => {
  it('keeps chunks up to the cap, refuses the one that would pass it, and keeps nothing of it', () => {
    const out = new CappedChunks(10);
    expect(out.push(Buffer.from('12345'))).toBe(true);
    expect(out.push(Buffer.from('67890'))).toBe(true);
    expect(out.push(Buffer.from('x'))).toBe(false);
    expect(out.length).toBe(10);
    expect(out.bytes().toString()).toBe('1234567890');
  });

  it('finds a marker at the end however it is split over chunks', () => {
    const marker = Buffer.from('@@vipush:ready:0123abcd\n');
    const text = Buffer.concat([Buffer.from('facts...\n'), marker]);
    for (let a = 1; a < text.length; a++) {
      for (let b = a; b < text.length; b++) {
        const out = new CappedChunks(1024);
        for (const part of [text.subarray(0, a), text.subarray(a, b), text.subarray(b)]) out.push(part);
        expect(out.endsWith(marker), `split at ${a}, ${b}`).toBe(true);
      }
    }
  });

  it('does not find a marker that is not at the very end, or longer than what is held', () => {
    const marker = Buffer.from('@@vipush:ready:0123abcd\n');
    const out = new CappedChunks(1024);
    out.push(marker.subarray(0, 10));
    expect(out.endsWith(marker)).toBe(false);
    out.push(marker.subarray(10));
    out.push(Buffer.from('x'));
    expect(out.endsWith(marker)).toBe(false);
    out.push(Buffer.alloc(0));
    expect(out.endsWith(Buffer.from('x'))).toBe(true);
  });

  it('checks the end without concatenating, and concatenates once when the bytes are taken', () => {
    const concat = vi.spyOn(Buffer, 'concat');
    const marker = Buffer.from('@@vipush:ready:0123abcd\n');
    const out = new CappedChunks(64 * 1024 * KiB);
    for (let i = 0; i < 1000; i++) {
      out.push(chunkNo(i, 32 * KiB));
      expect(out.endsWith(marker)).toBe(false);
    }
    expect(concat).not.toHaveBeenCalled();
    expect(out.bytes().length).toBe(1000 * 32 * KiB);
    out.bytes();
    expect(concat).toHaveBeenCalledTimes(1);
  });
});
