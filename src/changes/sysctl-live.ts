import { sysctlPath } from '../facts/gather.js';
import type { ChangeKind, SysctlLiveChange } from './types.js';

/** arp_ignore and arp_announce of conf/all, conf/default, lo or an interface, as /proc/sys names them */
const ARP_SYSCTL = /^\/proc\/sys\/net\/ipv4\/conf\/[^/]+\/arp_(?:ignore|announce)$/;

export const sysctlLiveKind: ChangeKind<SysctlLiveChange> = {
  simulate(state, c) {
    state.sysctls.set(c.key, c.to);
  },
  inverse(c, opts) {
    return c.from === null
      ? undefined
      : {
          kind: 'sysctl-live',
          key: c.key,
          from: c.to,
          to: c.from,
          restore: true,
          ...(c.allowArp ? { allowArp: true } : {}),
          ...(opts.force ? { force: true } : {}),
        };
  },
  stepArgv(c) {
    // a compare-and-swap: a run's step names the value the plan read, an undo what the run wrote; the
    // kernel must still have it (--force: whatever it has)
    const expect = c.force || c.from === null ? ['-'] : [c.restore ? 'wrote' : 'read', c.from];
    const path = sysctlPath(c.key);
    // the host refuses to lower an ARP sysctl so that it stops hiding an address on lo (src/remote/sh/arp-guard.sh)
    const arp = ARP_SYSCTL.test(path) && !c.allowArp ? 'guard' : '-';
    return ['vp_sysctl', c.key, c.to, path, arp, ...expect];
  },
  mayHang: false,
  diff(c) {
    return `sysctl ${c.key}: ${c.from ?? '(unset)'} -> ${c.to}\n`;
  },
  summary(c) {
    return `${c.key} ${c.from ?? '(unset)'} -> ${c.to}`;
  },
  drift(c) {
    return { item: `sysctl ${c.key}`, expected: c.to, actual: c.from ?? '(unset)' };
  },
};
