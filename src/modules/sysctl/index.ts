import type { Change, DriftItem } from '../../changes/index.js';
import type { HostFacts, SysctlDropIn } from '../../facts/types.js';
import { normaliseSysctlKey } from '../../net/values.js';
import type { ModuleDefinition, TaskPlan } from '../types.js';
import { bootOverrides } from './boot.js';
import { effectiveValue, normaliseValue, setSysctlConf } from './conf.js';
import { resolveSysctl, type SysctlArgs } from './resolve.js';
import { sysctlArgsSchema } from './schema.js';

export type { SysctlArgs } from './resolve.js';
export { DEFAULT_SYSCTL_FILE } from './resolve.js';

/**
 * When a file read later at boot sets one of our keys to another value, the
 * playbook's value would silently lose at the next reboot (for hidden ARP:
 * the VIP would answer ARP again). vipush edits no one else's file; it writes
 * the keys to a drop-in of its own that sorts after every NN-name.conf, and
 * reports that it did.
 */
export const OVERRIDE_FILE = '/etc/sysctl.d/zz-vipush-overrides.conf';
const OVERRIDE_HEADER = '# Managed by vipush: keys that a file read later at boot overrode. See vipush drift.\n';

function fileChange(path: string, state: HostFacts, set: Record<string, string>, header = ''): Change | undefined {
  const before = state.files.get(path) ?? null;
  const text = before ? before.content.toString('utf8') : header;
  const next = setSysctlConf(text, set);
  if (before !== null && next === text) return undefined;
  return { kind: 'file', path, before, after: { content: Buffer.from(next, 'utf8'), mode: before?.mode ?? 0o644 } };
}

/** `sysctl`: keys in a sysctl file (edited in place), and their live values. */
export const sysctlModule: ModuleDefinition<SysctlArgs> = {
  schema: sysctlArgsSchema,
  resolve: resolveSysctl,
  needs(args) {
    return { sysctlKeys: Object.keys(args.set).map(normaliseSysctlKey), files: [args.file, OVERRIDE_FILE] };
  },

  plan(args, state): TaskPlan {
    const changes: Change[] = [];
    const warnings: string[] = [];
    const unfixable: DriftItem[] = [];
    const drift: DriftItem[] = [];
    const set = Object.fromEntries(Object.entries(args.set).map(([k, v]) => [normaliseSysctlKey(k), normaliseValue(v)]));

    const main = fileChange(args.file, state, set);
    if (main) {
      changes.push(main);
      const text = state.files.get(args.file)?.content.toString('utf8');
      for (const [key, value] of Object.entries(set)) {
        const inFile = text === undefined ? undefined : effectiveValue(text, key);
        if (inFile !== value)
          drift.push({ item: `${key} in ${args.file}`, expected: value, actual: text === undefined ? `(${args.file} missing)` : (inFile ?? '(missing)') });
      }
    }

    if (args.apply) {
      for (const [key, value] of Object.entries(set)) {
        const live = state.sysctls.get(key);
        if (live === null) {
          // A missing key (e.g. an interface that does not exist) can't be set live; sysctl -p would fail too.
          warnings.push(`sysctl ${key} does not exist on this host; written to ${args.file} only`);
          continue;
        }
        if (live === undefined || normaliseValue(live) !== value) {
          changes.push({ kind: 'sysctl-live', key, from: live ?? null, to: value, ...(args.allowArp ? { allowArp: true } : {}) });
          drift.push({ item: `live ${key}`, expected: value, actual: live ?? '(unset)' });
        }
      }
    }

    const overridden = bootOverrides(args.file, Object.keys(set), state.sysctlDropIns).filter((o) => o.value !== set[o.key]);
    if (overridden.length > 0 && args.file !== OVERRIDE_FILE) {
      const keys = Object.fromEntries(overridden.map((o) => [o.key, set[o.key]]));
      for (const o of overridden)
        drift.push({ item: `boot value of ${o.key}`, expected: set[o.key], actual: `${o.value} (${o.path} is read after ${args.file})` });
      for (const o of overridden)
        warnings.push(`${o.path} sets ${o.key} = ${o.value} and is read after ${args.file} at boot; ${OVERRIDE_FILE} now sets it back to ${set[o.key]}`);
      const fix = fileChange(OVERRIDE_FILE, state, keys, OVERRIDE_HEADER);
      if (fix) {
        changes.push(fix);
        for (const o of overridden) unfixableIfStill(o.key, set[o.key], state, fix, unfixable);
      } else {
        for (const o of overridden) unfixableIfStill(o.key, set[o.key], state, undefined, unfixable);
      }
    }
    return { changes, warnings, unfixable, drift };
  },
};

/** After our override file, does anything read even later still win? Then it can only be reported. */
function unfixableIfStill(key: string, want: string, state: HostFacts, fix: Change | undefined, out: DriftItem[]): void {
  const dropIns: SysctlDropIn[] = state.sysctlDropIns.filter((d) => d.path !== OVERRIDE_FILE);
  const overrideText = fix && fix.kind === 'file' && fix.after ? fix.after.content.toString('utf8') : state.files.get(OVERRIDE_FILE)?.content.toString('utf8');
  if (overrideText !== undefined) dropIns.unshift({ path: OVERRIDE_FILE, target: OVERRIDE_FILE, text: overrideText });
  for (const o of bootOverrides(OVERRIDE_FILE, [key], dropIns)) {
    if (o.value !== want) out.push({ item: `boot value of ${key}`, expected: want, actual: `${o.value} (from ${o.path}, read after ${OVERRIDE_FILE})` });
  }
}
