import type { NodeSSH } from 'node-ssh';
import type { Channel, Client } from 'ssh2';
import { HostError } from '../../errors.js';
import type { Endpoint } from '../resolve.js';
import type { OpenedConnection } from './connect.js';
import type { TransportLogger } from './run-connections.js';
import { describeEndpoint, guarded, seconds, TransientFailure } from './failures.js';

export interface JumpLease {
  readonly label: string;
  /** a stream to endpoint through the jump host, for ssh2's `sock` */
  forward(endpoint: Endpoint, host: string, timeoutMs: number): Promise<Channel>;
  release(): void;
}

/** Opens the connection to one hop, through the hop before it (null for the first). */
export type OpenHop = (hop: Endpoint, via: JumpLease | null) => Promise<OpenedConnection>;

interface JumpConnection {
  key: string;
  /** this connection's entry in the pool, so a newer one under the same key is left alone */
  entry: Promise<JumpConnection>;
  label: string;
  ssh: NodeSSH;
  client: Client;
  refs: number;
  lost: boolean;
  /** the hop before this one, held for as long as this one lives */
  via: JumpLease | null;
}

function endpointKey(e: Endpoint): string {
  return `${e.user}@${e.address}:${e.port}`;
}

/**
 * Jump host connections, shared by every target behind them that uses
 * this pool (one pool per run). Keyed by the whole chain of
 * user@address:port hops; counted by reference and closed when the last
 * target lets go.
 */
export class JumpPool {
  private readonly connections = new Map<string, Promise<JumpConnection>>();

  /** Jump connections open or being opened. */
  get size(): number {
    return this.connections.size;
  }

  async acquire(hops: Endpoint[], open: OpenHop, logger: TransportLogger): Promise<JumpLease> {
    const key = hops.map(endpointKey).join(' > ');
    let pending = this.connections.get(key);
    if (!pending) {
      const hop = hops[hops.length - 1];
      pending = (async (): Promise<JumpConnection> => {
        const via = hops.length > 1 ? await this.acquire(hops.slice(0, -1), open, logger) : null;
        let opened: OpenedConnection;
        try {
          opened = await open(hop, via);
        } catch (e) {
          via?.release();
          throw e;
        }
        const conn: JumpConnection = { key, entry: pending!, label: hop.label, ssh: opened.ssh, client: opened.client, refs: 0, lost: false, via };
        const onGone = guarded(
          () => {
            if (conn.lost) return;
            conn.lost = true;
            // later targets open a fresh connection; current ones see their own streams close
            if (this.connections.get(key) === pending) this.connections.delete(key);
            if (conn.refs > 0) logger.warn(`lost the connection to jump host ${conn.label}`);
          },
          (e) => logger.debug(`jump host ${conn.label}: ${e instanceof Error ? e.message : String(e)}`),
        );
        opened.client.on('end', onGone);
        opened.client.on('close', onGone);
        return conn;
      })();
      this.connections.set(key, pending);
      const mine = pending;
      mine.catch(() => {
        if (this.connections.get(key) === mine) this.connections.delete(key);
      });
    }
    const conn = await pending;
    conn.refs++;
    return this.leaseFor(conn);
  }

  private leaseFor(conn: JumpConnection): JumpLease {
    let released = false;
    return {
      label: conn.label,
      forward: (endpoint, host, timeoutMs) => forward(conn, endpoint, host, timeoutMs),
      release: () => {
        if (released) return;
        released = true;
        conn.refs--;
        if (conn.refs > 0) return;
        if (this.connections.get(conn.key) === conn.entry) this.connections.delete(conn.key);
        conn.client.end();
        conn.via?.release();
      },
    };
  }
}

function forward(conn: JumpConnection, endpoint: Endpoint, host: string, timeoutMs: number): Promise<Channel> {
  return new Promise<Channel>((resolve, reject) => {
    const where = describeEndpoint(endpoint);
    if (conn.lost) {
      reject(new HostError(host, 'unreachable', `cannot reach ${where}: the connection to jump host ${conn.label} is gone`));
      return;
    }
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      const failure = new HostError(host, 'unreachable', `${where} is unreachable through jump host ${conn.label}: no answer within ${seconds(timeoutMs)}`);
      reject(new TransientFailure(failure));
    }, timeoutMs);
    conn.ssh.forwardOut('127.0.0.1', 0, endpoint.address, endpoint.port).then(
      (channel) => {
        clearTimeout(timer);
        if (timedOut) channel.destroy();
        else resolve(channel);
      },
      (e: Error) => {
        clearTimeout(timer);
        if (timedOut) return;
        const failure = new HostError(host, 'unreachable', `${where} is unreachable through jump host ${conn.label}: ${e.message.replace(/^\(SSH\) /, '')}`);
        reject(/refused|reset/i.test(e.message) ? new TransientFailure(failure) : failure);
      },
    );
  });
}
