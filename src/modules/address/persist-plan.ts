import type { Change } from '../../changes/index.js';
import type { FactsRequest, HostFacts } from '../../facts/types.js';
import { SYSCTL_CONF } from '../sysctl/boot.js';
import { PlanRefusal } from '../types.js';
import { hidesOnlyScopeHost } from './arp.js';
import {
  chooseBackend,
  keepsScopeHost,
  parsePersistProbe,
  PERSIST_FORMATS,
  PERSIST_PROBE,
  PERSIST_READ_GLOBS,
  probeLinesFromFiles,
  renderPersistAll,
  scopeHostRefusal,
  type StackBackend,
  type StackFacts,
} from './persist/index.js';
import type { AddressArgs } from './resolve.js';

/**
 * A persisted VIP needs the network stacks probed, the files that may be ours or tell the stack read,
 * and /etc/sysctl.conf, which boot reads even where no link in sysctl.d makes it a drop-in the facts list.
 */
export function persistNeeds(args: AddressArgs): Partial<FactsRequest> {
  return args.persist === 'none' ? {} : { files: [SYSCTL_CONF], globs: [...PERSIST_READ_GLOBS], probes: [PERSIST_PROBE] };
}

/** The probe's lines: what it printed, and what the files it needs say. */
function probeLines(state: HostFacts): string[] {
  const files = [...state.files].filter((e): e is [string, NonNullable<(typeof e)[1]>] => e[1] !== null).map(([path, f]) => ({ path, content: f.content }));
  return [...(state.probes.get(PERSIST_PROBE.name) ?? []), ...probeLinesFromFiles(files)];
}

/** The host's persistence facts, with file contents taken from the (simulated) state. */
function stackFacts(state: HostFacts, backend?: keyof typeof PERSIST_FORMATS): StackFacts {
  const f = parsePersistProbe(probeLines(state));
  const fmt = backend ? PERSIST_FORMATS[backend] : undefined;
  f.presentFiles = [];
  f.existing = {};
  for (const [path, file] of state.files) {
    if (!file || (fmt && !fmt.mayBeOurs(path) && !fmt.isCompanion?.(path))) continue;
    f.presentFiles.push(path);
    f.existing[path] = file.content.toString('utf8');
  }
  return f;
}

/** The persistence files' changes, the backend that reads them at boot, and whether PID 1 is systemd. */
export interface PersistOutcome {
  changes: Change[];
  backend?: StackBackend;
  systemd: boolean;
}

/**
 * The persistent configuration for this VIP, as file changes. Refuses when
 * the backend can't express it, and when it would bring the VIP back at boot
 * without scope host while arp_ignore is 3 (the VIP would then answer ARP).
 */
export function persistChanges(args: AddressArgs, state: HostFacts, warnings: string[]): PersistOutcome {
  if (args.persist === 'none') return { changes: [], systemd: false };
  const probed = parsePersistProbe(probeLines(state));
  const chosen = chooseBackend(args.persist, probed, args);
  if (!chosen.backend)
    throw new PlanRefusal(
      `cannot persist ${args.address}: ${chosen.reason}. Name the stack with persist: ifupdown|netplan|networkd|networkmanager|ifcfg|systemd, or use persist: none`,
    );
  const backend = chosen.backend;
  if (backend === 'systemd' && !probed.systemd && args.state === 'present') {
    warnings.push(`${args.address}: PID 1 is not systemd here, so the unit vipush writes adds the VIP at boot only if the host boots with systemd`);
  }
  if (args.state === 'present' && args.family === 4 && args.dev === 'lo' && !keepsScopeHost(backend)) {
    if (hidesOnlyScopeHost(state)) throw new PlanRefusal(scopeHostRefusal(backend, args.address));
  }
  const plan = renderPersistAll(backend, [args], stackFacts(state, backend));
  if (plan.problems.length) throw new PlanRefusal(`cannot persist ${args.address} with ${backend}: ${plan.problems.join('; ')}`);
  const out: Change[] = [];
  for (const f of plan.files) {
    const before = state.files.get(f.path) ?? null;
    if (before && before.content.toString('utf8') === f.content && (before.mode & 0o7777) === f.mode) continue;
    const dir = f.path.slice(0, f.path.lastIndexOf('/'));
    if (!before && f.createDir) out.push({ kind: 'exec', argv: ['mkdir', '-p', '--', dir], why: `create the directory of ${f.path}` });
    out.push({ kind: 'file', path: f.path, before, after: { content: Buffer.from(f.content, 'utf8'), mode: f.mode } });
  }
  for (const path of plan.remove) {
    const before = state.files.get(path) ?? null;
    if (before) out.push({ kind: 'file', path, before, after: null });
  }
  if (out.length > 0) for (const argv of plan.applyNow ?? []) out.push({ kind: 'exec', argv, why: `make ${backend} read its files now` });
  if (args.persist === 'auto' && out.length > 0) warnings.push(`persisting with ${backend}: ${chosen.reason}`);
  return { changes: out, backend, systemd: probed.systemd };
}
