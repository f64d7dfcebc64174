import { describe, expect, it } from 'vitest';
import { parseFacts } from '../../src/facts/gather.js';
import { addressModule, arpExposure } from '../../src/modules/address/index.js';
import { PlanRefusal } from '../../src/modules/types.js';
import type { AddressArgs } from '../../src/modules/address/index.js';
import { factsOutput } from './fake-transport.js';

const req = { sysctlKeys: [], files: [], paths: [], globs: [], probes: [] };
const nonce = '0a1b2c';
const facts = (f: Parameters<typeof factsOutput>[1]) => parseFacts(Buffer.from(factsOutput(nonce, f)), nonce, req);
const vip: AddressArgs = { address: '198.18.0.250/32', family: 4, dev: 'lo', scope: 'host', label: 'lo:1', state: 'present', persist: 'none', allowArp: false };
const hidden = { all: [3, 2], default: [0, 0], lo: [0, 0], eth0: [0, 0] } as Record<string, [number, number]>;

describe('address plan', () => {
  it('refuses a VIP on lo while the host would answer ARP for it', () => {
    const state = facts({});
    expect(() => addressModule.plan(vip, state, { host: 'h1' })).toThrow(PlanRefusal);
    expect(() => addressModule.plan(vip, state, { host: 'h1' })).toThrow(/arp_ignore is 0/);
  });

  it('refuses arp_ignore 3 with a non-host scope, accepts it with scope host', () => {
    const state = facts({ arp: hidden });
    expect(arpExposure(state, 'global')).toMatch(/hides only scope-host/);
    expect(() => addressModule.plan({ ...vip, scope: 'global' }, state, { host: 'h1' })).toThrow(/scope global/);
    expect(addressModule.plan(vip, state, { host: 'h1' }).changes).toEqual([
      { kind: 'address', op: 'add', family: 4, cidr: '198.18.0.250/32', dev: 'lo', scope: 'host', label: 'lo:1' },
    ]);
  });

  it('uses max(all, iface): arp_ignore 1 on eth0 alone hides the VIP', () => {
    const state = facts({ arp: { all: [0, 2], eth0: [1, 0], lo: [0, 0] } });
    expect(arpExposure(state, 'global')).toBeUndefined();
  });

  it('treats arp_ignore above 8 as answering, as the kernel does', () => {
    expect(arpExposure(facts({ arp: { all: [9, 2], eth0: [0, 0], lo: [0, 0] } }), 'host')).toMatch(/arp_ignore is 9/);
    expect(arpExposure(facts({ arp: { all: [8, 2], eth0: [0, 0], lo: [0, 0] } }), 'global')).toBeUndefined();
  });

  it('allow_arp skips the guard', () => {
    const state = facts({});
    expect(addressModule.plan({ ...vip, allowArp: true }, state, { host: 'h1' }).changes).toHaveLength(1);
  });

  it('is idempotent, and replaces a VIP that has the wrong scope', () => {
    const base = [
      { dev: 'lo', family: 'inet' as const, local: '127.0.0.1', prefixlen: 8, scope: 'host', label: 'lo' },
      { dev: 'eth0', family: 'inet' as const, local: '198.18.0.11', prefixlen: 24, scope: 'global', label: 'eth0' },
    ];
    const ok = facts({ arp: hidden, addrs: [...base, { dev: 'lo', family: 'inet', local: '198.18.0.250', prefixlen: 32, scope: 'host', label: 'lo:1' }] });
    expect(addressModule.plan(vip, ok, { host: 'h1' }).changes).toEqual([]);
    const wrong = facts({ arp: hidden, addrs: [...base, { dev: 'lo', family: 'inet', local: '198.18.0.250', prefixlen: 32, scope: 'global', label: 'lo' }] });
    expect(addressModule.plan(vip, wrong, { host: 'h1' }).changes.map((c) => c.kind === 'address' && `${c.op} ${c.scope}`)).toEqual(['del global', 'add host']);
  });

  it('refuses to remove or move the address this SSH session uses', () => {
    const state = facts({ arp: hidden });
    const session: AddressArgs = { ...vip, address: '198.18.0.11/24', dev: 'eth0', scope: 'global', label: undefined, state: 'absent' };
    expect(() => addressModule.plan(session, state, { host: 'h1' })).toThrow(/this SSH session uses it/);
    expect(() => addressModule.plan({ ...vip, address: '198.18.0.11/32' }, state, { host: 'h1' })).toThrow(/refusing to move/);
  });

  it('removes an IPv6 address given in another spelling', () => {
    const state = facts({ addrs: [{ dev: 'lo', family: 'inet6', local: '2001:db8::a', prefixlen: 128, scope: 'global' }] });
    const v6: AddressArgs = { address: '2001:0db8:0:0::a/128', family: 6, dev: 'lo', scope: 'global', state: 'absent', persist: 'none', allowArp: false };
    expect(addressModule.plan(v6, state, { host: 'h1' }).changes).toHaveLength(1);
  });
});
