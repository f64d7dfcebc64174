import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { NodeSSH } from 'node-ssh';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

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
