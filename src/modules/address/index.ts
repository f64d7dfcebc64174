import ipaddr from 'ipaddr.js';
import type { Change, DriftItem } from '../../changes/index.js';
import type { HostFacts, LiveAddress } from '../../facts/types.js';
import { PlanRefusal, type ModuleDefinition, type SetSupport, type TaskPlan } from '../types.js';
import { arpExposure, weakAnnounce } from './arp.js';
import { bootArpExposure } from './boot-arp.js';
import { scopeLostReason } from './persist/index.js';
import { persistChanges, persistNeeds, type PersistOutcome } from './persist-plan.js';
import { resolveAddress, type AddressArgs, type PersistBackend } from './resolve.js';
import { addressArgsSchema, PERSIST_BACKENDS } from './schema.js';
import { interfaceNameProblem } from '../../net/values.js';

export type { AddressArgs, PersistBackend } from './resolve.js';
export { arpExposure, effectiveArp } from './arp.js';

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

function matches(a: LiveAddress, args: AddressArgs, ip: string): boolean {
  return a.dev === args.dev && a.family === args.family && sameIp(a.local, ip);
}

function wantedLabel(args: AddressArgs): string | undefined {
  return args.family === 4 ? (args.label ?? args.dev) : undefined;
}

/**
 * After a reboot the VIP comes back from its persistence files, and only the
 * boot sysctl files decide whether it answers ARP: the live values may be
 * gone. So vipush writes no persistence file unless the boot files (with what
 * earlier tasks of the play write to them) hide the VIP. When the files hold
 * the VIP already, it is drift that --fix cannot repair: only a sysctl task
 * can, and with one in the play the simulated state already counts it.
 */
function bootGuard(args: AddressArgs, state: HostFacts, persisted: PersistOutcome, warnings: string[]): DriftItem[] {
  if (args.family !== 4 || args.dev !== 'lo' || args.allowArp || !persisted.backend) return [];
  const lost = scopeLostReason(persisted.backend);
  const why = bootArpExposure(state, lost === null ? { scope: args.scope } : { scope: 'global', lostBecause: lost }, persisted.systemd);
  if (!why) return [];
  const values = lost === null ? 'arp_ignore 1, or 3 with scope host' : `arp_ignore 1: ${persisted.backend} can't keep scope host`;
  if (persisted.changes.some((c) => c.kind === 'file' && c.after !== null)) {
    throw new PlanRefusal(
      `refusing to persist ${args.address} on lo: ${why}. Persist the ARP sysctls in a sysctl task before this one (${values}), or use persist: none`,
    );
  }
  warnings.push(`${args.address} is persisted for boot, but ${why}; persist the ARP sysctls in a sysctl task before this one (${values})`);
  return [
    {
      item: `boot ARP for ${args.address}`,
      expected: 'hidden after a reboot',
      actual: `${why}; drift --fix can't repair this without a sysctl task before this one that persists the ARP sysctls`,
    },
  ];
}

/**
 * `exclusive: true`: the task's items are every VIP vipush manages on `dev`; after them, the
 * internal address_retire task (retire.ts) takes off the ones no longer declared.
 */
const exclusiveSet: SetSupport<AddressArgs> = {
  keys: ['exclusive', 'dev', 'persist'],
  declaredBy: (raw) => raw.exclusive !== undefined && raw.exclusive !== false,
  close(setArgs, items) {
    const problems: { key: string; message: string }[] = [];
    if (typeof setArgs.exclusive !== 'boolean')
      problems.push({ key: 'exclusive', message: `\`exclusive\` must be true or false, got ${JSON.stringify(setArgs.exclusive)}` });
    const devProblem = typeof setArgs.dev === 'string' ? interfaceNameProblem(setArgs.dev, 'device name') : '`dev` must be a device name such as lo';
    if (devProblem) problems.push({ key: 'dev', message: devProblem });
    if (setArgs.persist !== undefined && !(PERSIST_BACKENDS as readonly unknown[]).includes(setArgs.persist)) {
      problems.push({ key: 'persist', message: `\`persist\` must be one of ${PERSIST_BACKENDS.join(', ')}, got ${JSON.stringify(setArgs.persist)}` });
    }
    if (problems.length > 0) return { problems };
    if (setArgs.exclusive !== true) return undefined;
    const dev = String(setArgs.dev);
    return {
      module: 'address_retire',
      args: { dev, declared: items.map((a) => ({ cidr: a.address, family: a.family })), persist: (setArgs.persist as PersistBackend | undefined) ?? 'none' },
      what: `retire undeclared VIPs on ${dev}`,
      key: `address ${dev}`,
      describe: `exclusive address task for ${dev}`,
    };
  },
  conflicts(setArgs, other) {
    if (setArgs.exclusive !== true || other.dev !== setArgs.dev || other.state !== 'present') return undefined;
    return `${other.address} on ${other.dev} is declared outside the exclusive set`;
  },
};

/** `address`: an IP address on an interface (a VIP on lo, hidden from ARP), live and persisted for boot. */
export const addressModule: ModuleDefinition<AddressArgs> = {
  schema: addressArgsSchema,
  resolve: resolveAddress,
  needs: persistNeeds,
  set: exclusiveSet,

  plan(args, state): TaskPlan {
    const { ip, prefix } = splitCidr(args.address);
    const changes: Change[] = [];
    const warnings: string[] = [];
    const existing = state.addresses.filter((a) => matches(a, args, ip));
    const isSession = state.sessionAddress !== undefined && sameIp(state.sessionAddress, ip);
    const del = (a: LiveAddress): Change => ({
      kind: 'address',
      op: 'del',
      family: a.family,
      cidr: `${a.local}/${a.prefixlen}`,
      dev: a.dev,
      scope: a.scope,
      label: a.label,
    });

    if (args.state === 'absent') {
      if (existing.length > 0 && isSession) {
        throw new PlanRefusal(`refusing to remove ${ip}: this SSH session uses it, and removing it would cut vipush off`);
      }
      for (const a of existing) changes.push(del(a));
      changes.push(...persistChanges(args, state, warnings).changes);
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
    const unfixable = bootGuard(args, state, persisted, warnings);
    if (exact && existing.length === 1) return { changes: persisted.changes, warnings, unfixable };

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
    if (!exact)
      changes.push({
        kind: 'address',
        op: 'add',
        family: args.family,
        cidr: args.address,
        dev: args.dev,
        scope: args.scope,
        label,
        ...(args.allowArp ? { allowArp: true } : {}),
      });
    changes.push(...persisted.changes);
    return { changes, warnings, unfixable };
  },
};
