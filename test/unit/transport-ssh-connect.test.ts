import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { NodeSSH } from 'node-ssh';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HostError } from '../../src/errors.js';
import { connectHost } from '../../src/transport/ssh/index.js';

/**
 * What connectOnce relies on from node-ssh, checked against the installed
 * version: an ssh2 'error' with no listener kills the process, and ours can
 * only be there from the start if node-ssh makes its client synchronously.
 */

let server: Server;
let port: number;
const sockets = new Set<Socket>();

beforeAll(async () => {
  // accepts and never answers: the client stays mid-handshake until the test ends it
  server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((resolve) => server.close(resolve));
});

describe('node-ssh as connectOnce uses it', () => {
  it('has made its ssh2 client, listening for errors, by the time connect() returns', async () => {
    const ssh = new NodeSSH();
    const connecting = ssh.connect({ host: '127.0.0.1', port, username: 'nobody', readyTimeout: 5_000 });
    const client = ssh.connection;
    expect(client).not.toBeNull();
    expect(client?.listenerCount('error')).toBeGreaterThan(0);
    client?.destroy();
    await connecting.catch(() => undefined);
  });
});

describe('why a host is unreachable', () => {
  const keyDir = mkdtempSync(join(tmpdir(), 'vipush-key-'));
  const key = join(keyDir, 'id');
  beforeAll(() => execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]));
  afterAll(() => rmSync(keyDir, { recursive: true, force: true }));
  const listen = async (onSocket: (s: Socket) => void): Promise<{ port: number; close(): Promise<void> }> => {
    const open = new Set<Socket>();
    const srv = createServer((socket) => {
      open.add(socket);
      socket.on('error', () => undefined);
      onSocket(socket);
    });
    await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
    return {
      port: (srv.address() as AddressInfo).port,
      close: async () => {
        for (const s of open) s.destroy();
        await new Promise((resolve) => srv.close(resolve));
      },
    };
  };
  const attempt = async (p: number) => {
    const e = await connectHost(
      { host: 'h1', address: '127.0.0.1', port: p, user: 'root', become: false },
      { knownHostsFiles: [], sshConfigFile: null, connectTimeoutMs: 800, connectAttempts: 1, privateKeyFile: key, env: { HOME: keyDir } },
    ).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(HostError);
    return e as HostError;
  };

  it('says TCP connected but no SSH banner came, when the server says nothing', async () => {
    const srv = await listen(() => undefined);
    try {
      const e = await attempt(srv.port);
      expect(e.kind).toBe('unreachable');
      expect(e.message).toMatch(/TCP connected, but no SSH banner within \d+ ms/);
    } finally {
      await srv.close();
    }
  });

  it('says the banner came but the handshake did not finish, when the server stops after its banner', async () => {
    const srv = await listen((s) => s.write('SSH-2.0-stalled\r\n'));
    try {
      expect((await attempt(srv.port)).message).toMatch(/sent its SSH banner, but the handshake did not finish within \d+ ms/);
    } finally {
      await srv.close();
    }
  });

  it('says the connection was refused when nothing listens', async () => {
    const srv = await listen(() => undefined);
    const p = srv.port;
    await srv.close();
    expect((await attempt(p)).message).toMatch(/is unreachable: connection refused/);
  });
});
