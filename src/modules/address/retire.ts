import ipaddr from 'ipaddr.js';
import { simulate, type Change, type DriftItem } from '../../changes/index.js';
import type { HostFacts } from '../../facts/types.js';
import type { ModuleDefinition, PlanContext, TaskPlan } from '../types.js';
import { addressModule } from './index.js';
import { persistNeeds } from './persist-plan.js';
import { isManaged, readMarkers } from './persist/managed.js';
import { readVipRecord, recordChanges, sameAddress, VIP_RECORD, VIP_RECORD_DIR, type RecordedVip } from './record.js';
import type { PersistBackend } from './resolve.js';

/**
 * The second half of an exclusive address task (`exclusive: true`): after its items have put the
 * declared VIPs on `dev`, this takes off every other VIP vipush manages there, live and from the
 * persistence files, and records the declared set as what vipush manages now. Internal: a playbook
 * never names it; resolving an exclusive task adds it after the task's last item.
 */
export interface AddressRetireArgs {
  dev: string;
  /** the VIPs the task's items declared on this host (normalised CIDRs) */
  declared: { cidr: string; family: 4 | 6 }[];
  persist: PersistBackend;
}

function isLoopbackNet(cidr: string): boolean {
  try {
    return ipaddr.parse(cidr.split('/')[0]).range() === 'loopback';
  } catch {
    return true;
  }
}

/** The VIPs on `dev` that vipush manages on this host: the record's, and those its persistence files carry. */
export function managedVips(state: HostFacts, dev: string): RecordedVip[] {
  const out = readVipRecord(state).filter((v) => v.dev === dev);
  for (const [path, file] of state.files) {
    if (!file || path === VIP_RECORD) continue;
    const text = file.content.toString('utf8');
    if (!isManaged(text)) continue;
    for (const v of readMarkers(text)) if (v.dev === dev) out.push({ dev, cidr: v.address, family: v.family });
  }
  return out.filter((v, i) => out.findIndex((w) => sameAddress(w.cidr, v.cidr)) === i);
}

export const addressRetireModule: ModuleDefinition<AddressRetireArgs> = {
  schema: {},
  internal: true,
  resolve: (value) => value as AddressRetireArgs,
  needs: (args) => {
    const persisted = persistNeeds({ persist: args.persist } as Parameters<typeof persistNeeds>[0]);
    return { ...persisted, files: [...(persisted.files ?? []), VIP_RECORD], paths: [VIP_RECORD_DIR] };
  },

  plan(args, state, ctx: PlanContext): TaskPlan {
    // Each retirement plans against the ones before it (two VIPs may share a persistence file).
    const local: HostFacts = { ...state, addresses: state.addresses.map((a) => ({ ...a })), files: new Map(state.files) };
    const changes: Change[] = [];
    const warnings: string[] = [];
    const drift: DriftItem[] = [];
    const retired = managedVips(state, args.dev).filter((m) => !args.declared.some((d) => sameAddress(d.cidr, m.cidr)));
    for (const vip of retired) {
      if (isLoopbackNet(vip.cidr)) continue;
      if (state.sessionAddress !== undefined && sameAddress(state.sessionAddress, vip.cidr)) {
        warnings.push(`${vip.cidr} is no longer declared, but this SSH session uses it: vipush leaves it on ${args.dev}`);
        continue;
      }
      const live = state.addresses.some((a) => a.dev === args.dev && sameAddress(a.local, vip.cidr));
      const plan = addressModule.plan(
        { address: vip.cidr, family: vip.family, dev: args.dev, scope: 'host', state: 'absent', persist: args.persist, allowArp: false },
        local,
        ctx,
      );
      for (const c of plan.changes) simulate(local, c);
      changes.push(...plan.changes);
      warnings.push(...plan.warnings);
      const persisted = plan.changes.some((c) => c.kind === 'file');
      if (live || persisted) {
        const where = [live ? `on ${args.dev}` : '', persisted ? 'in the persisted config' : ''].filter(Boolean).join(' and ');
        drift.push({ item: `VIP ${vip.cidr} on ${args.dev}`, expected: 'absent (managed by vipush, no longer declared)', actual: `still ${where}` });
      }
    }
    const others = readVipRecord(state).filter((v) => v.dev !== args.dev);
    changes.push(...recordChanges(local, [...others, ...args.declared.map((d) => ({ dev: args.dev, ...d }))]));
    return { changes, drift, warnings, unfixable: [] };
  },
};
