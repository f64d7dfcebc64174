import ipaddr from 'ipaddr.js';
import pLimit from 'p-limit';
import type { Change, UndoOptions } from '../changes/index.js';
import type { FactsRequest, FileFact, HostFacts } from '../facts/types.js';
import { newNonce } from '../remote/markers.js';
import { parseOutcomes, revertLines, scriptHead } from '../remote/script.js';
import type { RunSnapshot } from '../state/snapshots.js';
import type { Transport } from '../transport/types.js';
import { lockAndReadFacts } from './host-run.js';
import { needsHostDeadline, stepLines, undoSteps, type Step } from './steps.js';

/**
 * What an undo finds on the host now: `restore` it still holds what the run wrote; `done` it holds
 * what the undo restores already; `changed` neither, someone changed it since the run (the host
 * refuses that undo unless it is forced).
 */
export type UndoVerdict = 'restore' | 'done' | 'changed';

export interface PlannedUndo {
  /** the undo step, as the host runs it */
  step: Step;
  verdict: UndoVerdict;
  /** from what the host holds now to what the undo restores: its diff is what the rollback does there */
  shown: Change;
}

/** The facts an undo needs: the live sysctls and files it restores (addresses always come along). */
export function undoFactsRequest(undo: readonly Step[]): FactsRequest {
  const keys = new Set<string>();
  const files = new Set<string>();
  for (const { change: c } of undo) {
    if (c.kind === 'sysctl-live') keys.add(c.key);
    else if (c.kind === 'file') files.add(c.path);
  }
  return { sysctlKeys: [...keys], files: [...files], paths: [], globs: [], probes: [] };
}

const fold = (v: string | null | undefined) => (v == null ? null : v.trim().split(/\s+/).join(' '));

function sameContent(now: FileFact | null, want: { content: Buffer } | null): boolean {
  if (now === null || want === null) return now === want;
  return now.content.equals(want.content);
}

function sameIp(a: string, b: string): boolean {
  try {
    return ipaddr.parse(a).toNormalizedString() === ipaddr.parse(b).toNormalizedString();
  } catch {
    return false;
  }
}

/**
 * The controller's view of each undo's compare-and-swap, from the host's facts, for showing before
 * anything is written. The host decides again when it runs the undo (sh/steps.sh): this only says
 * what it will find.
 */
export function planUndo(undo: readonly Step[], facts: HostFacts): PlannedUndo[] {
  return undo.map((step): PlannedUndo => {
    const c = step.change;
    switch (c.kind) {
      case 'file': {
        const now = facts.files.get(c.path) ?? null;
        const verdict = sameContent(now, c.after) ? 'done' : sameContent(now, c.before) ? 'restore' : 'changed';
        return { step, verdict, shown: { ...c, before: now } };
      }
      case 'sysctl-live': {
        const now = facts.sysctls.get(c.key) ?? null;
        const verdict = fold(now) === fold(c.to) ? 'done' : fold(now) === fold(c.from) ? 'restore' : 'changed';
        return { step, verdict, shown: { ...c, from: now } };
      }
      case 'address': {
        const ip = c.cidr.split('/')[0];
        const found = facts.addresses.filter((a) => a.dev === c.dev && sameIp(a.local, ip));
        // the undo of an add removes the address (while it has the run's scope); the undo of a removal puts it back
        const there = found.length > 0;
        let verdict: UndoVerdict;
        if (there && !found.some((a) => a.scope === c.scope)) verdict = 'changed';
        else if (c.op === 'del') verdict = there ? 'restore' : 'done';
        else verdict = there ? 'done' : 'restore';
        return { step, verdict, shown: c };
      }
      default:
        return { step, verdict: 'restore', shown: c };
    }
  });
}

export interface RollbackOptions extends UndoOptions {
  forks: number;
  commandTimeoutMs: number;
  /** read and plan only: nothing is written */
  check?: boolean;
  connect(host: string): Promise<Transport>;
  /** each host's plan, once its state is read and before anything is written there */
  planned?(host: string, plan: PlannedUndo[]): void;
}

export interface RollbackResult {
  host: string;
  /** empty when the host could not be read */
  plan: PlannedUndo[];
  /** the undos the host carried out */
  restored: PlannedUndo[];
  /** the undos it did not, each with the host's reason */
  failed: Array<{ undo: PlannedUndo; why: string }>;
  /** the host could not be reached, locked or read */
  error?: string;
}

/**
 * Undoes a saved run: per host, in one shell that holds the host's lock from the read to the last
 * write, reads what the undos touch, plans them (`planned`), then runs the inverse of each change in
 * reverse order as one script, each a compare-and-swap unless `force`.
 */
export async function rollbackRun(snap: RunSnapshot, hosts: string[], opts: RollbackOptions): Promise<RollbackResult[]> {
  const limit = pLimit(opts.forks);
  return Promise.all(
    hosts.map((host) =>
      limit(async (): Promise<RollbackResult> => {
        const undo = undoSteps(
          snap.hosts[host].changes.map((change, index) => ({ index, taskIndex: 0, change })),
          { force: opts.force },
        );
        const result: RollbackResult = { host, plan: [], restored: [], failed: [] };
        if (undo.length === 0) {
          opts.planned?.(host, []);
          return result;
        }
        let t: Transport | undefined;
        try {
          t = await opts.connect(host);
          const session = await t.session({ become: snap.hosts[host].conn.become });
          try {
            const ctx = { nonce: newNonce() };
            const { facts } = await lockAndReadFacts(host, session, ctx, undoFactsRequest(undo), opts.commandTimeoutMs);
            result.plan = planUndo(undo, facts);
            opts.planned?.(host, result.plan);
            if (opts.check) return result;
            // a user's command as an undo may hang: then the script gets a deadline, in a new shell that needs the functions again
            const hostDeadline = needsHostDeadline(undo, false);
            const body = revertLines(stepLines(undo));
            const r = await session.finish(hostDeadline ? `${scriptHead(ctx)}${body}` : body, {
              timeoutMs: opts.commandTimeoutMs,
              what: 'the rollback script',
              hostDeadline,
            });
            const { outcomes } = parseOutcomes(r.stdoutBytes ?? r.stdout, ctx.nonce);
            for (const p of result.plan) {
              const o = outcomes.get(p.step.index);
              if (o?.ok) result.restored.push(p);
              else result.failed.push({ undo: p, why: o?.output.trim() || 'did not run' });
            }
          } finally {
            session.close();
          }
        } catch (e) {
          result.error = (e as Error).message;
        } finally {
          await t?.close().catch(() => undefined);
        }
        return result;
      }),
    ),
  );
}
