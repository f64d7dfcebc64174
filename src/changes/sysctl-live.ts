import { sysctlPath } from '../facts/gather.js';
import type { ChangeKind, SysctlLiveChange } from './types.js';

export const sysctlLiveKind: ChangeKind<SysctlLiveChange> = {
  simulate(state, c) {
    state.sysctls.set(c.key, c.to);
  },
  inverse(c) {
    return c.from === null ? undefined : { kind: 'sysctl-live', key: c.key, from: c.to, to: c.from };
  },
  stepArgv(c) {
    return ['vp_sysctl', c.key, c.to, sysctlPath(c.key)];
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
