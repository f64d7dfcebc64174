import { sysctlPath } from '../facts/gather.js';
import type { ChangeKind, SysctlLiveChange } from './types.js';

export const sysctlLiveKind: ChangeKind<SysctlLiveChange> = {
  simulate(state, c) {
    state.sysctls.set(c.key, c.to);
  },
  inverse(c, opts) {
    return c.from === null ? undefined : { kind: 'sysctl-live', key: c.key, from: c.to, to: c.from, restore: true, ...(opts.force ? { force: true } : {}) };
  },
  stepArgv(c) {
    // an undo names what the run wrote: the kernel must still have it
    const expect = c.restore && !c.force && c.from !== null ? [c.from] : [];
    return ['vp_sysctl', c.key, c.to, sysctlPath(c.key), ...expect];
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
