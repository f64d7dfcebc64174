import { EventEmitter } from 'node:events';
import type { Client } from 'ssh2';
import type { Endpoint } from '../../src/transport/resolve.js';
import { SshTransport } from '../../src/transport/ssh/index.js';

/**
 * A scripted stand-in for ssh2's Client and its channels, for SshTransport
 * unit tests: the connection-level behaviour without a network.
 */

export class FakeChannel extends EventEmitter {
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

export class FakeClient extends EventEmitter {
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

export function transport(opts: { user?: string; become?: boolean; commandTimeoutMs?: number; maxStdoutBytes?: number; released?: () => void } = {}) {
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

export async function nextChannel(client: FakeClient, index: number): Promise<FakeChannel> {
  for (let i = 0; i < 100 && client.channels.length <= index; i++) await new Promise((r) => setImmediate(r));
  const ch = client.channels[index];
  if (!ch) throw new Error(`channel ${index} was never opened`);
  return ch;
}
