import { afterEach, describe, expect, it, vi } from 'vitest';
import { type FakeChannel, nextChannel, transport } from './fake-ssh-client.js';

/**
 * A hostile host (issue 17) against SshTransport and its shell session, over
 * the scripted ssh2 stand-in: floods cost bounded memory and no per-chunk
 * copying, too much stdout fails the host, a throwing listener fails the
 * host and not the process. Sizes and work are asserted, never time.
 */

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
  const m = /'(@@vipush:[0-9a-f]+:ready)'/.exec(ch.written.at(-1) ?? '');
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
    for (const cut of [
      [0, 3],
      [3, 9],
      [9, 10],
      [10, answer.length - 1],
      [answer.length - 1, answer.length],
    ])
      ch.emit('data', answer.subarray(...cut));
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
