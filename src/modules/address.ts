import ipaddr from 'ipaddr.js';
import type { AddressArgs } from '../config/types.js';
import type { HostFacts, LiveAddress } from '../facts/types.js';
import { PlanRefusal, type Change, type Module, type TaskPlan } from './types.js';
import { chooseBackend, keepsScopeHost, parsePersistProbe, PERSIST_FORMATS, renderPersistAll, scopeHostRefusal, type StackFacts } from './persist/index.js';

function sameIp(a: string, b: string): boolean {
  try {
    return ipaddr.parse(a).toNormalizedString() === ipaddr.parse(b).toNormalizedString();
  } catch {
    return false;
  }
}

function splitCidr(cidr: string): { ip: string; prefix: number } {
  const [ip, prefix] = cidr.split('/');
  return { ip, prefix: Number(prefix) };
}

export function effectiveArp(state: HostFacts, iface: string): { arpIgnore: number; arpAnnounce: number } {
  // The kernel uses max(conf/all, conf/IFACE) for both (ip-sysctl.rst).
  const all = state.arp.get('all') ?? { arpIgnore: 0, arpAnnounce: 0 };
  const dev = state.arp.get(iface) ?? { arpIgnore: 0, arpAnnounce: 0 };
  return { arpIgnore: Math.max(all.arpIgnore, dev.arpIgnore), arpAnnounce: Math.max(all.arpAnnounce, dev.arpAnnounce) };
}

/**
 * Would this host answer ARP for an IPv4 address held on lo with this scope?
 * Returns the reason it would, or undefined when it stays hidden on every
 * interface where ARP requests arrive.
 */
export function arpExposure(state: HostFacts, scope: string): string | undefined {
  const ifaces = state.lanIfaces.length > 0 ? state.lanIfaces : ['all'];
  for (const iface of ifaces) {
    const { arpIgnore } = effectiveArp(state, iface);
    const where = iface === 'all' ? 'conf/all' : `max(conf/all, conf/${iface})`;
    if (arpIgnore === 0 || (arpIgnore >= 4 && arpIgnore <= 7)) {
      return `arp_ignore is ${arpIgnore} (${where}), so ${iface} would answer ARP for it`;
    }
    if (arpIgnore === 3 && scope !== 'host') {
      return `arp_ignore is 3 (${where}), which hides only scope-host addresses, and this one has scope ${scope}`;
    }
  }
  return undefined;
}

function weakAnnounce(state: HostFacts): string | undefined {
  for (const iface of state.lanIfaces) {
    const { arpAnnounce } = effectiveArp(state, iface);
    if (arpAnnounce < 2) return `arp_announce is ${arpAnnounce} on ${iface}; with less than 2 the host may use the VIP as the source of its own ARP requests`;
  }
  return undefined;
}

function matches(a: LiveAddress, args: AddressArgs, ip: string): boolean {
  return a.dev === args.dev && a.family === args.family && sameIp(a.local, ip);
}

function wantedLabel(args: AddressArgs): string | undefined {
  return args.family === 4 ? (args.label ?? args.dev) : undefined;
}

export const addressModule: Module<AddressArgs> = {
  needs() {
    return {};
  },

  plan(args, state): TaskPlan {
    const { ip, prefix } = splitCidr(args.address);
    const changes: Change[] = [];
    const warnings: string[] = [];
    const existing = state.addresses.filter((a) => matches(a, args, ip));
    const isSession = state.sessionAddress !== undefined && sameIp(state.sessionAddress, ip);
    const del = (a: LiveAddress): Change => ({ kind: 'address', op: 'del', family: a.family, cidr: `${a.local}/${a.prefixlen}`, dev: a.dev, scope: a.scope, label: a.label });

    if (args.state === 'absent') {
      if (existing.length > 0 && isSession) {
        throw new PlanRefusal(`refusing to remove ${ip}: this SSH session uses it, and removing it would cut vipush off`);
      }
      for (const a of existing) changes.push(del(a));
      changes.push(...persistChanges(args, state, warnings));
      return { changes, warnings, unfixable: [] };
    }

    const elsewhere = state.addresses.filter((a) => a.dev !== args.dev && a.family === args.family && sameIp(a.local, ip));
    if (isSession && elsewhere.length > 0) {
      throw new PlanRefusal(`refusing to move ${ip} to ${args.dev}: this SSH session uses it on ${elsewhere[0].dev}`);
    }
    for (const a of elsewhere) warnings.push(`${ip} is also on ${a.dev} (scope ${a.scope}); vipush leaves it there`);

    const label = wantedLabel(args);
    const exact = existing.find((a) => a.prefixlen === prefix && a.scope === args.scope && (label === undefined || (a.label ?? a.dev) === label));
    const persisted = persistChanges(args, state, warnings);
    if (exact && existing.length === 1) return { changes: persisted, warnings, unfixable: [] };

    if (args.dev === 'lo' && args.family === 4 && !args.allowArp) {
      const why = arpExposure(state, args.scope);
      if (why) {
        throw new PlanRefusal(
          `refusing to add ${args.address} to lo: ${why}. Set the ARP sysctls in an earlier task (arp_ignore 1, or 3 with scope host), or set allow_arp: true`,
        );
      }
      const weak = weakAnnounce(state);
      if (weak) warnings.push(weak);
    }

    if (isSession && existing.some((a) => a !== exact)) {
      throw new PlanRefusal(`refusing to re-add ${ip}: this SSH session uses it`);
    }
    for (const a of existing) if (a !== exact) changes.push(del(a));
    if (!exact) changes.push({ kind: 'address', op: 'add', family: args.family, cidr: args.address, dev: args.dev, scope: args.scope, label });
    changes.push(...persisted);
    return { changes, warnings, unfixable: [] };
  },
};

/** The host's persistence facts, with file contents taken from the (simulated) state. */
function stackFacts(state: HostFacts, backend?: keyof typeof PERSIST_FORMATS): StackFacts {
  const f = parsePersistProbe(state.persistProbe);
  const fmt = backend ? PERSIST_FORMATS[backend] : undefined;
  f.presentFiles = [];
  f.existing = {};
  for (const [path, file] of state.files) {
    if (!file || (fmt && !fmt.mayBeOurs(path))) continue;
    f.presentFiles.push(path);
    f.existing[path] = file.content.toString('utf8');
  }
  return f;
}

/**
 * The persistent configuration for this VIP, as file changes. Refuses when
 * the backend can't express it, and when it would bring the VIP back at boot
 * without scope host while arp_ignore is 3 (the VIP would then answer ARP).
 */
function persistChanges(args: AddressArgs, state: HostFacts, warnings: string[]): Change[] {
  if (args.persist === 'none') return [];
  const chosen = chooseBackend(args.persist, parsePersistProbe(state.persistProbe));
  if (!chosen.backend) throw new PlanRefusal(`cannot persist ${args.address}: ${chosen.reason}. Name the stack with persist: ifupdown|netplan|networkd|networkmanager|ifcfg, or use persist: none`);
  const backend = chosen.backend;
  if (args.state === 'present' && args.family === 4 && args.dev === 'lo' && !keepsScopeHost(backend)) {
    const hidesOnlyScopeHost = (state.lanIfaces.length ? state.lanIfaces : ['all']).some((i) => effectiveArp(state, i).arpIgnore === 3);
    if (hidesOnlyScopeHost) throw new PlanRefusal(scopeHostRefusal(backend, args.address));
  }
  const plan = renderPersistAll(backend, [args], stackFacts(state, backend));
  if (plan.problems.length) throw new PlanRefusal(`cannot persist ${args.address} with ${backend}: ${plan.problems.join('; ')}`);
  const out: Change[] = [];
  for (const f of plan.files) {
    const before = state.files.get(f.path) ?? null;
    if (before && before.content.toString('utf8') === f.content && (before.mode & 0o7777) === f.mode) continue;
    out.push({ kind: 'file', path: f.path, before, after: { content: Buffer.from(f.content, 'utf8'), mode: f.mode } });
  }
  for (const path of plan.remove) {
    const before = state.files.get(path) ?? null;
    if (before) out.push({ kind: 'file', path, before, after: null });
  }
  if (out.length > 0) for (const argv of plan.applyNow ?? []) out.push({ kind: 'exec', argv, why: `make ${backend} read its files now` });
  if (args.persist === 'auto' && out.length > 0) warnings.push(`persisting with ${backend}: ${chosen.reason}`);
  return out;
}
