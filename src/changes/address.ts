import type { AddressChange, ChangeKind } from './types.js';

/** An IPv4 address outside 127/8 going on lo, which ARP must not answer for. */
function needsArpCheck(c: AddressChange): boolean {
  return c.op === 'add' && c.dev === 'lo' && c.family === 4 && !c.cidr.startsWith('127.') && !c.allowArp;
}

function describe(c: AddressChange): string {
  return `${c.cidr} dev ${c.dev} scope ${c.scope}${c.label ? ` label ${c.label}` : ''}`;
}

export const addressKind: ChangeKind<AddressChange> = {
  simulate(state, c) {
    const [ip, prefix] = c.cidr.split('/');
    if (c.op === 'add') state.addresses.push({ dev: c.dev, family: c.family, local: ip, prefixlen: Number(prefix), scope: c.scope, label: c.label });
    else state.addresses = state.addresses.filter((a) => !(a.dev === c.dev && a.local === ip && a.prefixlen === Number(prefix)));
  },
  inverse(c, opts) {
    // putting back an address vipush removed is checked like any other: never while ARP would answer for it
    return { ...c, op: c.op === 'add' ? 'del' : 'add', restore: true, ...(opts.force ? { force: true } : {}) };
  },
  stepArgv(c) {
    // a compare-and-swap: a run's removal takes the address only while it has the scope the plan read,
    // the undo of an add only while it has the scope the run gave it (--force: whatever its scope)
    if (c.op === 'del') return ['vp_addr_del', String(c.family), c.cidr, c.dev, ...(c.force ? [] : [c.scope, c.restore ? 'wrote' : 'read'])];
    const add = ['vp_addr_add', String(c.family), c.cidr, c.dev, c.scope, ...(c.label ? [c.label] : [])];
    // the host checks the ARP invariant itself before a VIP goes on lo (src/remote/sh/arp-guard.sh)
    return needsArpCheck(c) ? ['vp_hidden_then', c.scope, c.cidr, ...add] : add;
  },
  mayHang: false,
  diff(c) {
    return `${c.op === 'add' ? '+' : '-'} ip addr ${describe(c)}\n`;
  },
  summary(c) {
    return `${c.op} ${describe(c)}`;
  },
  drift(c) {
    return c.op === 'add'
      ? { item: `address ${c.cidr} on ${c.dev}`, expected: `present, scope ${c.scope}${c.label ? `, label ${c.label}` : ''}`, actual: 'absent or different' }
      : { item: `address ${c.cidr} on ${c.dev}`, expected: 'absent', actual: `present, scope ${c.scope}` };
  },
};
