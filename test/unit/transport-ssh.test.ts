import { describe, expect, it } from 'vitest';
import { HostError } from '../../src/errors.js';
import { nextChannel, transport } from './fake-ssh-client.js';

/**
 * SshTransport over a scripted stand-in for ssh2's Client: the
 * connection-level behaviour (drops, timeouts, sudo, channel limits) without
 * a network. The real thing is covered by test/e2e/transport.test.ts.
 */

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
