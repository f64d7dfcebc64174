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
  STACK_BACKENDS,
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
  out.push(...staleChanges(args, state, backend, warnings));
  return { changes: out, backend, systemd: probed.systemd };
}

/**
 * The VIP out of vipush's files of every other backend: a VIP that an earlier run persisted with
 * another stack (`auto` picked NetworkManager before it picked the systemd unit, say) would come
 * back from both at boot, and the older one not as declared. Only vipush's own files, and in them
 * only this VIP; the running stacks are not told (telling NetworkManager to forget an active
 * profile would take lo's addresses down with it): the files stop counting at the next boot.
 */
function staleChanges(args: AddressArgs, state: HostFacts, backend: StackBackend, warnings: string[]): Change[] {
  const out: Change[] = [];
  for (const other of STACK_BACKENDS) {
    if (other === backend) continue;
    const f = stackFacts(state, other);
    if (f.presentFiles.length === 0) continue;
    const plan = renderPersistAll(other, [{ ...args, state: 'absent' }], f);
    if (plan.problems.length > 0) {
      warnings.push(`${args.address} stays in ${other}'s files of vipush's: ${plan.problems.join('; ')}`);
      continue;
    }
    for (const file of plan.files) {
      const before = state.files.get(file.path) ?? null;
      if (before && before.content.toString('utf8') === file.content) continue;
      out.push({ kind: 'file', path: file.path, before, after: { content: Buffer.from(file.content, 'utf8'), mode: before?.mode ?? file.mode } });
    }
    for (const path of plan.remove) {
      const before = state.files.get(path) ?? null;
      if (before) out.push({ kind: 'file', path, before, after: null });
    }
  }
  if (out.length > 0)
    warnings.push(`${args.address}: taken out of ${out.map((c) => (c.kind === 'file' ? c.path : '')).join(', ')}, vipush's files of another stack`);
  return out;
}
