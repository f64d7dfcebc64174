import { EventEmitter } from 'node:events';
import type { NodeSSH } from 'node-ssh';
import type { Client } from 'ssh2';
import { describe, expect, it } from 'vitest';
import type { Endpoint } from '../../src/transport/resolve.js';
import { RunConnections } from '../../src/transport/ssh/index.js';
import type { OpenHop } from '../../src/transport/ssh/jump.js';

/** Jump host sharing without a network: each "connection" is an EventEmitter that counts its end(). */

class FakeJumpClient extends EventEmitter {
  ended = 0;
  end(): void {
    this.ended++;
  }
}

const hop = (address: string): Endpoint => ({ label: address, address, port: 22, user: 'root', keyFiles: [], useDefaultKeys: false });
const quiet = { debug() {}, warn() {} };

function opener() {
  const opened: { hop: string; via: string | null; client: FakeJumpClient }[] = [];
  const open: OpenHop = async (h, via) => {
    const client = new FakeJumpClient();
    opened.push({ hop: h.address, via: via?.label ?? null, client });
    return { ssh: {} as NodeSSH, client: client as unknown as Client };
  };
  return { open, opened };
}

describe('JumpPool', () => {
  it('shares one connection per jump host within a run, and closes it when the last target lets go', async () => {
    const run = new RunConnections();
    const { open, opened } = opener();
    const [a, b] = await Promise.all([run.jumps.acquire([hop('10.0.0.1')], open, quiet), run.jumps.acquire([hop('10.0.0.1')], open, quiet)]);
    expect(opened).toHaveLength(1);
    a.release();
    a.release();
    expect(opened[0].client.ended).toBe(0);
    b.release();
    expect(opened[0].client.ended).toBe(1);
    expect(run.jumps.size).toBe(0);
  });

  it('opens a chain hop by hop, and shares its first hop with a shorter chain', async () => {
    const run = new RunConnections();
    const { open, opened } = opener();
    const long = await run.jumps.acquire([hop('10.0.0.1'), hop('10.0.0.2')], open, quiet);
    const short = await run.jumps.acquire([hop('10.0.0.1')], open, quiet);
    expect(opened.map((o) => [o.hop, o.via])).toEqual([
      ['10.0.0.1', null],
      ['10.0.0.2', '10.0.0.1'],
    ]);
    long.release();
    expect(opened.map((o) => o.client.ended)).toEqual([0, 1]);
    short.release();
    expect(opened.map((o) => o.client.ended)).toEqual([1, 1]);
  });

  it('shares nothing between runs', async () => {
    const { open, opened } = opener();
    await new RunConnections().jumps.acquire([hop('10.0.0.1')], open, quiet);
    await new RunConnections().jumps.acquire([hop('10.0.0.1')], open, quiet);
    expect(opened).toHaveLength(2);
  });

  it('opens a fresh connection after the shared one dropped', async () => {
    const run = new RunConnections();
    const { open, opened } = opener();
    const warnings: string[] = [];
    await run.jumps.acquire([hop('10.0.0.1')], open, { debug() {}, warn: (m) => warnings.push(m) });
    opened[0].client.emit('close');
    expect(warnings).toEqual(['lost the connection to jump host 10.0.0.1']);
    await run.jumps.acquire([hop('10.0.0.1')], open, quiet);
    expect(opened).toHaveLength(2);
  });
});

describe('RunConnections', () => {
  it('gives each warning once per run', () => {
    const warnings: string[] = [];
    const logger = { debug() {}, warn: (m: string) => warnings.push(m) };
    const run = new RunConnections();
    run.warnOnce(logger, 'known_hosts:3: ignored known_hosts line: bad key');
    run.warnOnce(logger, 'known_hosts:3: ignored known_hosts line: bad key');
    new RunConnections().warnOnce(logger, 'known_hosts:3: ignored known_hosts line: bad key');
    expect(warnings).toHaveLength(2);
  });
});
