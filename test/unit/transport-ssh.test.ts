import { EventEmitter } from 'node:events';
import type { Client } from 'ssh2';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { HostError } from '../../src/errors.js';
import type { Endpoint } from '../../src/transport/resolve.js';
import { SshTransport } from '../../src/transport/ssh/index.js';

/**
 * SshTransport over a scripted stand-in for ssh2's Client: the
 * connection-level behaviour (drops, timeouts, sudo, channel limits) without
 * a network. The real thing is covered by test/e2e/transport.test.ts.
 */

class FakeChannel extends EventEmitter {
  readonly stderr = Object.assign(new EventEmitter(), { readableEnded: true, destroyed: false });
  stdin: Buffer[] = [];
  /** what a shell session wrote before its last script */
  written: string[] = [];
  ended = false;
  closed = false;
  constructor(readonly command: string) {
    super();
  }
  write(data: string): boolean {
    this.written.push(data);
    return true;
  }
  end(data?: string | Buffer): void {
    if (data !== undefined) this.stdin.push(Buffer.from(data));
    this.ended = true;
  }
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.emit('close');
  }
  /** the remote side finishes: output, exit status, close */
  finish(r: { stdout?: Buffer | Buffer[]; stderr?: string; code?: number | null; signal?: string }): void {
    for (const chunk of [r.stdout ?? []].flat()) this.emit('data', chunk);
    if (r.stderr) this.stderr.emit('data', Buffer.from(r.stderr));
    if (r.signal) this.emit('exit', null, r.signal);
    else this.emit('exit', r.code ?? 0);
    this.close();
  }
}

class FakeClient extends EventEmitter {
  readonly channels: FakeChannel[] = [];
  ended = false;
  exec(command: string, cb: (err: Error | undefined, ch: FakeChannel) => void): void {
    if (this.ended) throw new Error('Not connected');
    const ch = new FakeChannel(command);
    this.channels.push(ch);
    queueMicrotask(() => cb(undefined, ch));
  }
  end(): void {
    this.ended = true;
    queueMicrotask(() => this.emit('close'));
  }
  destroy(): void {
    this.end();
  }
  /** the network or the server goes away */
  drop(reason?: string): void {
    if (reason) this.emit('error', new Error(reason));
    this.ended = true;
    this.emit('close');
  }
  open(): FakeChannel[] {
    return this.channels.filter((c) => !c.closed);
  }
}

const endpoint = (user: string): Endpoint => ({ label: 'web1', address: '198.18.1.11', port: 22, user, keyFiles: [], useDefaultKeys: false });

function transport(opts: { user?: string; become?: boolean; commandTimeoutMs?: number; maxStdoutBytes?: number; released?: () => void } = {}) {
  const client = new FakeClient();
  const warnings: string[] = [];
  const t = new SshTransport(
    client as unknown as Client,
    endpoint(opts.user ?? 'root'),
    { host: 'web1', address: '198.18.1.11', become: opts.become ?? false },
    { commandTimeoutMs: opts.commandTimeoutMs ?? 0, maxStdoutBytes: opts.maxStdoutBytes, logger: { debug() {}, warn: (m) => warnings.push(m) } },
    opts.released ? { release: opts.released } : null,
  );
  return { t, client, warnings };
}

async function nextChannel(client: FakeClient, index: number): Promise<FakeChannel> {
  for (let i = 0; i < 100 && client.channels.length <= index; i++) await new Promise((r) => setImmediate(r));
  const ch = client.channels[index];
  if (!ch) throw new Error(`channel ${index} was never opened`);
  return ch;
}

describe('SshTransport.exec', () => {
  it('returns a failing command as a value, with output decoded across chunk boundaries', async () => {
    const { t, client } = transport();
    const p = t.exec({ argv: ['printf', 'ü'] });
    const ch = await nextChannel(client, 0);
    expect(ch.command).toBe("printf 'ü'");
    ch.finish({ stdout: [Buffer.from([0xc3]), Buffer.from([0xbc])], stderr: 'warn\n', code: 3 });
    const r = await p;
    expect(r).toMatchObject({ stdout: 'ü', stderr: 'warn\n', code: 3, signal: null });
    expect(r.durationMs).toBeGreaterThanOrEqual(0);
  });

  it('reports a signal death as SIGNAME with no exit code', async () => {
    const { t, client } = transport();
    const p = t.exec({ script: 'kill -TERM $$' });
    (await nextChannel(client, 0)).finish({ signal: 'TERM' });
    expect(await p).toMatchObject({ code: null, signal: 'SIGTERM' });
  });

  it('sends stdin and then EOF', async () => {
    const { t, client } = transport();
    const p = t.exec({ argv: ['cat'] }, { stdin: Buffer.from([0, 1, 2]) });
    const ch = await nextChannel(client, 0);
    expect(ch.ended).toBe(true);
    expect(Buffer.concat(ch.stdin)).toEqual(Buffer.from([0, 1, 2]));
    ch.finish({});
    await p;
  });

  it('wraps in sudo -n only when becoming another user', async () => {
    const { t, client } = transport({ user: 'deploy', become: true });
    const p1 = t.exec({ argv: ['id', '-u'] });
    (await nextChannel(client, 0)).finish({});
    await p1;
    expect(client.channels[0].command).toBe(`sudo -n -u root -- sh -c 'id -u'`);
    const p2 = t.exec({ argv: ['id', '-u'] }, { become: true, becomeUser: 'deploy' });
    (await nextChannel(client, 1)).finish({});
    await p2;
    expect(client.channels[1].command).toBe('id -u');
  });

  it("turns sudo's password prompt into an auth HostError", async () => {
    const { t, client } = transport({ user: 'deploy', become: true });
    const p = t.exec({ argv: ['true'] });
    (await nextChannel(client, 0)).finish({ code: 1, stderr: 'sudo: a password is required\n' });
    await expect(p).rejects.toMatchObject({
      name: 'HostError',
      kind: 'auth',
      host: 'web1',
      message: 'sudo on web1 needs a password; vipush uses sudo -n: allow NOPASSWD for this user or connect as root',
    });
  });

  it('times a command out: HostError, channel closed, a deadline on the host too', async () => {
    const { t, client } = transport({ commandTimeoutMs: 60_000 });
    const p = t.exec({ argv: ['sleep', '30'] }, { timeoutMs: 50 });
    const ch = await nextChannel(client, 0);
    expect(ch.command).toContain("exec timeout -k 2 2 sh -c 'sleep 30'");
    await expect(p).rejects.toMatchObject({ kind: 'timeout', message: '`sleep 30` on web1 did not finish within 50 ms; vipush stopped it' });
    expect(ch.closed).toBe(true);
    const next = t.exec({ argv: ['true'] });
    (await nextChannel(client, 1)).finish({});
    expect((await next).code).toBe(0);
  });

  it('keeps at most 8 channels open on one connection', async () => {
    const { t, client } = transport();
    const all = Array.from({ length: 20 }, (_, i) => t.exec({ argv: ['echo', String(i)] }));
    let finished = 0;
    let maxOpen = 0;
    while (finished < 20) {
      await new Promise((r) => setImmediate(r));
      maxOpen = Math.max(maxOpen, client.open().length);
      const ch = client.open()[0];
      if (ch) {
        ch.finish({ stdout: Buffer.from(ch.command.slice(5)) });
        finished++;
      }
    }
    expect(maxOpen).toBe(8);
    expect((await Promise.all(all)).map((r) => r.stdout)).toEqual(Array.from({ length: 20 }, (_, i) => String(i)));
  });
});

describe('SshTransport when the connection drops', () => {
  it('rejects running commands with connection-lost, then fails fast with the same error', async () => {
    let released = 0;
    const { t, client, warnings } = transport({ released: () => released++ });
    const running = t.exec({ argv: ['sleep', '30'] });
    await nextChannel(client, 0);
    client.drop('read ECONNRESET');
    const e = await running.then(
      () => null,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(HostError);
    expect(e).toMatchObject({ kind: 'connection-lost', host: 'web1', message: 'lost the SSH connection to web1 (198.18.1.11): read ECONNRESET' });
    expect(t.alive).toBe(false);
    expect(warnings).toEqual([(e as Error).message]);
    expect(released).toBe(1);
    await expect(t.exec({ argv: ['true'] })).rejects.toBe(e);
    await expect(t.session()).rejects.toBe(e);
    expect(client.channels).toHaveLength(1);
  });

  it('keeps listening for errors, so an ssh2 error event never crashes the process', () => {
    const { client } = transport();
    expect(() => client.emit('error', new Error('Keepalive timeout'))).not.toThrow();
  });

  it('closes cleanly: later calls say the connection was closed', async () => {
    let released = 0;
    const { t, client } = transport({ released: () => released++ });
    await t.close();
    expect(client.ended).toBe(true);
    expect(released).toBe(1);
    await expect(t.exec({ argv: ['true'] })).rejects.toMatchObject({ kind: 'connection-lost', message: 'the connection to web1 (198.18.1.11) was closed' });
    await t.close();
    expect(released).toBe(1);
  });
});

describe('SshTransport files', () => {
  it('writes with the bytes on stdin in one command, and reports failure', async () => {
    const { t, client } = transport();
    const p = t.writeFile('/etc/x', 'data', { mode: 0o640 });
    const ch = await nextChannel(client, 0);
    expect(client.channels).toHaveLength(1);
    expect(Buffer.concat(ch.stdin).toString()).toBe('data');
    expect(ch.command).toContain('mktemp');
    ch.finish({ code: 1, stderr: 'mktemp: failed to create file via template\n' });
    await expect(p).rejects.toMatchObject({ kind: 'command', message: 'cannot write /etc/x on web1: mktemp: failed to create file via template' });
  });
});

const KiB = 1024;
const MiB = 1024 * KiB;

/** Emits `total` bytes in chunks of `size`, the last chunk all 'z' (so a tail can be told from the rest). */
function flood(emit: (chunk: Buffer) => void, total: number, size = 64 * KiB): void {
  const chunk = Buffer.alloc(size, 'e');
  const sent = Math.ceil(total / size);
  for (let i = 0; i < sent - 1; i++) emit(chunk);
  emit(Buffer.alloc(size, 'z'));
}

/** The ready marker the session asked its shell to print last. */
function markerOf(ch: FakeChannel): string {
  const m = /'(@@vipush:ready:[0-9a-f]+)'/.exec(ch.written.at(-1) ?? '');
  if (!m) throw new Error('no marker written');
  return m[1];
}

async function sessionOn(opts: { maxStdoutBytes?: number } = {}) {
  const { t, client } = transport(opts);
  const session = await t.session();
  return { t, client, session, ch: client.channels[0] };
}

describe('SshTransport bounds what a host sends', () => {
  it('keeps only the last 64 KiB of 200 MB of stderr from a command', async () => {
    const { t, client } = transport();
    const p = t.exec({ argv: ['noisy'] });
    const ch = await nextChannel(client, 0);
    flood((c) => ch.stderr.emit('data', c), 200_000_000);
    ch.finish({ code: 1 });
    const r = await p;
    expect(r.code).toBe(1);
    expect(Buffer.byteLength(r.stderr)).toBe(64 * KiB);
    expect(r.stderr).toBe('z'.repeat(64 * KiB));
  });

  it('stops a command that sends more than 64 MiB on stdout, with a one-line message, and takes nothing more from it', async () => {
    const { t, client } = transport();
    const p = t.exec({ argv: ['cat', '/dev/zero'] });
    const ch = await nextChannel(client, 0);
    flood((c) => ch.emit('data', c), 64 * MiB + 64 * KiB);
    expect(ch.closed).toBe(true);
    expect(() => flood((c) => ch.emit('data', c), MiB)).not.toThrow();
    await expect(p).rejects.toMatchObject({
      name: 'HostError',
      kind: 'command',
      message: 'web1 sent more than 64 MiB on stdout for `cat /dev/zero`; vipush stopped it',
    });
    const next = t.exec({ argv: ['true'] });
    (await nextChannel(client, 1)).finish({});
    expect((await next).code).toBe(0);
  });

  it('takes stdout up to the cap as it is', async () => {
    const { t, client } = transport({ maxStdoutBytes: 128 * KiB });
    const p = t.exec({ argv: ['cat', 'big'] });
    const ch = await nextChannel(client, 0);
    ch.finish({ stdout: [Buffer.alloc(64 * KiB, 'a'), Buffer.alloc(64 * KiB, 'b')] });
    const r = await p;
    expect(r.stdoutBytes?.length).toBe(128 * KiB);
  });

  it('fails the host, not the process, when one of its listeners throws', async () => {
    const { t, client } = transport();
    const p = t.exec({ argv: ['true'] });
    const ch = await nextChannel(client, 0);
    expect(() => ch.emit('data', null)).not.toThrow();
    await expect(p).rejects.toMatchObject({ kind: 'command', message: expect.stringMatching(/^vipush could not handle what web1 sent for `true`: /) });
    expect(ch.closed).toBe(true);
  });
});

describe('SshShellSession bounds what a host sends', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('finds the ready marker split over chunks, and returns the output before it', async () => {
    const { session, ch } = await sessionOn();
    const p = session.exchange('facts', { timeoutMs: 0, what: 'reading facts' });
    const answer = Buffer.from(`facts\n${markerOf(ch)}\n`);
    for (const cut of [[0, 3], [3, 9], [9, 10], [10, answer.length - 1], [answer.length - 1, answer.length]]) ch.emit('data', answer.subarray(...cut));
    expect((await p).toString()).toBe('facts\n');
  });

  it('fails the host when an exchange sends more than 64 MiB on stdout', async () => {
    const { session, ch } = await sessionOn();
    const p = session.exchange('facts', { timeoutMs: 0, what: 'reading facts' });
    flood((c) => ch.emit('data', c), 65 * MiB);
    await expect(p).rejects.toMatchObject({ kind: 'command', message: 'web1 sent more than 64 MiB on stdout for reading facts; vipush stopped it' });
    expect(ch.closed).toBe(true);
    await expect(session.exchange('more', { timeoutMs: 0, what: 'more' })).rejects.toMatchObject({ message: expect.stringContaining('more than 64 MiB') });
  });

  it('takes a cap for tests, and counts it per exchange', async () => {
    const { session, ch } = await sessionOn({ maxStdoutBytes: 100 });
    const first = session.exchange('a', { timeoutMs: 0, what: 'first' });
    ch.emit('data', Buffer.from(`${'a'.repeat(50)}${markerOf(ch)}\n`));
    expect((await first).length).toBe(50);
    const second = session.exchange('b', { timeoutMs: 0, what: 'second' });
    ch.emit('data', Buffer.alloc(101, 'b'));
    await expect(second).rejects.toMatchObject({ message: 'web1 sent more than 100 bytes on stdout for second; vipush stopped it' });
  });

  it('keeps only the last 64 KiB of a 200 MB stderr flood, and does not re-concatenate stdout per chunk', async () => {
    const { session, ch } = await sessionOn();
    const concat = vi.spyOn(Buffer, 'concat');
    const p = session.exchange('facts', { timeoutMs: 0, what: 'reading facts' });
    flood((c) => ch.stderr.emit('data', c), 200_000_000);
    flood((c) => ch.emit('data', c), 32 * MiB, 32 * KiB);
    expect(concat).not.toHaveBeenCalled();
    ch.emit('data', Buffer.from(`${markerOf(ch)}\n`));
    expect((await p).length).toBe(32 * MiB);
    expect(concat).toHaveBeenCalledTimes(1);
    const last = session.finish('exit 3', { timeoutMs: 0, hostDeadline: false, what: 'applying' });
    ch.stderr.emit('data', Buffer.from('boom\n'));
    ch.finish({ code: 3 });
    const r = await last;
    expect(r).toMatchObject({ code: 3, stderr: 'boom\n' });
  });

  it('reports the end of a flooded stderr when the shell ends early', async () => {
    const { session, ch } = await sessionOn();
    const p = session.exchange('facts', { timeoutMs: 0, what: 'reading facts' });
    flood((c) => ch.stderr.emit('data', c), 10_000_000);
    ch.stderr.emit('data', Buffer.from('\nsh: 1: facts: not found\n'));
    ch.finish({ code: 127 });
    await expect(p).rejects.toMatchObject({ message: 'reading facts ended early (exit 127): sh: 1: facts: not found' });
  });
});
