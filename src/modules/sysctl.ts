import type { SysctlArgs } from '../config/types.js';
import type { HostFacts } from '../facts/types.js';
import { normaliseKey, normaliseValue, setSysctlConf } from './sysctl-conf.js';
import type { Change, DriftItem, Module, TaskPlan } from './types.js';
import { bootOverrides } from './sysctl-boot.js';

export const sysctlModule: Module<SysctlArgs> = {
  needs(args) {
    return { sysctlKeys: Object.keys(args.set).map(normaliseKey), files: [args.file] };
  },

  plan(args, state): TaskPlan {
    const changes: Change[] = [];
    const warnings: string[] = [];
    const unfixable: DriftItem[] = [];
    const set = Object.fromEntries(Object.entries(args.set).map(([k, v]) => [normaliseKey(k), normaliseValue(v)]));

    const before = state.files.get(args.file) ?? null;
    const text = before ? before.content.toString('utf8') : '';
    const next = setSysctlConf(text, set);
    if (before === null || next !== text) {
      changes.push({ kind: 'file', path: args.file, before, after: { content: Buffer.from(next, 'utf8'), mode: before?.mode ?? 0o644 } });
    }

    if (args.apply) {
      for (const [key, value] of Object.entries(set)) {
        const live = state.sysctls.get(key);
        if (live === null) {
          // A missing key (e.g. an interface that does not exist) can't be set live; sysctl -p would fail too.
          warnings.push(`sysctl ${key} does not exist on this host; written to ${args.file} only`);
          continue;
        }
        if (live === undefined || normaliseValue(live) !== value) changes.push({ kind: 'sysctl-live', key, from: live ?? null, to: value });
      }
    }

    for (const o of bootOverrides(args.file, Object.keys(set), state.sysctlDropIns)) {
      if (o.value === set[o.key]) continue;
      const msg = `${o.path} sets ${o.key} = ${o.value} and is read after ${args.file} at boot, so it wins`;
      warnings.push(msg);
      unfixable.push({ item: `boot value of ${o.key}`, expected: `${set[o.key]} (from ${args.file})`, actual: `${o.value} (from ${o.path})` });
    }
    return { changes, warnings, unfixable };
  },
};
