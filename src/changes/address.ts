import type { AddressChange, ChangeKind } from './types.js';

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
    return { ...c, op: c.op === 'add' ? 'del' : 'add', restore: true, ...(opts.force ? { force: true } : {}) };
  },
  stepArgv(c) {
    if (c.op === 'add') return ['vp_addr_add', String(c.family), c.cidr, c.dev, c.scope, ...(c.label ? [c.label] : [])];
    // the undo of an add removes the address only while it has the scope the run gave it
    return ['vp_addr_del', String(c.family), c.cidr, c.dev, ...(c.restore && !c.force ? [c.scope] : [])];
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
