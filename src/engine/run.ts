import { createHash } from 'node:crypto';
import pLimit from 'p-limit';
import type { GateSpec, Play, Playbook } from '../config/types.js';
import type { HostTask } from '../modules/registry.js';
import type { Change } from '../changes/index.js';
import { stepArgv } from '../changes/index.js';
import { MAC_ADDRESS } from '../net/values.js';
import { newNonce } from '../remote/markers.js';
import { applyLines, parseOutcomes, scriptHead } from '../remote/script.js';
import { resolvePlayForHost, setProblems } from '../config/resolve.js';
import { UserInputError, type Diagnostic } from '../errors.js';
import type { ConnectionVars, Inventory, Vars } from '../inventory/types.js';
import { connectionVars, hostVars, mergeVars } from '../inventory/vars.js';
import { limitHosts, selectHosts } from '../inventory/pattern.js';
import type { Transport } from '../transport/types.js';
import { formatLocation } from '../source/location.js';
import { HOST_SNAPSHOT_DIR, serializeHostSnapshot, type HostSnapshot } from '../state/snapshots.js';
import { batches, batchFailed } from './batches.js';
import { HostRun, type HostConnection } from './host-run.js';
import { runGates, type GateContext } from './gates.js';
import type { GateOutcome, HostResult, RunEvents, RunMode } from './types.js';

export interface PreparedHost {
  name: string;
  conn: ConnectionVars;
  tasks: HostTask[];
}

export interface PreparedPlay {
  play: Play;
  hosts: PreparedHost[];
  gates: GateSpec[];
}

/**
 * Resolves every play for every host it targets and validates the result
 * (templates substituted, CIDRs parsed...). All problems are collected and
 * thrown together before any host is contacted.
 */
export function preparePlays(
  playbook: Playbook,
  inv: Inventory,
  opts: { limit?: string; extraVars: Vars; shard?: Shard; warn?: (message: string) => void },
): PreparedPlay[] {
  const diagnostics: Diagnostic[] = [];
  const seen = new Set<string>();
  const out: PreparedPlay[] = [];
  // As ansible-playbook: a limit that leaves no host of the inventory at all is an error; one that leaves a play none skips it.
  if (opts.limit && limitHosts(inv, [...inv.hosts.keys()], opts.limit, opts.warn).length === 0) {
    throw new UserInputError(`--limit ${JSON.stringify(opts.limit)} leaves no host of the inventory to target`);
  }
  const earlierTasks = new Map<string, HostTask[]>();
  for (const play of playbook.plays) {
    let names: string[];
    try {
      names = selectHosts(inv, play.hosts);
      if (opts.limit) names = limitHosts(inv, names, opts.limit, opts.warn);
      if (opts.shard) names = names.filter((n) => inShard(n, opts.shard!));
    } catch (e) {
      if (e instanceof UserInputError) {
        diagnostics.push(...e.diagnostics.map((d) => ({ loc: d.loc ?? play.source, message: d.message })));
        continue;
      }
      throw e;
    }
    const hosts: PreparedHost[] = [];
    let gates: GateSpec[] = play.verify;
    for (const name of names) {
      const vars = mergeVars(hostVars(inv, name), play.vars, opts.extraVars);
      const r = resolvePlayForHost(play, vars);
      // sets fight across plays too: a host's tasks of every play so far (within one play, resolvePlayForHost checks)
      const all = [...(earlierTasks.get(name) ?? []), ...r.tasks];
      if (earlierTasks.has(name)) {
        const within = new Set(setProblems(r.tasks).map((d) => `${formatLocation(d.loc!)} ${d.message}`));
        for (const d of setProblems(all)) if (!within.has(`${formatLocation(d.loc!)} ${d.message}`)) r.diagnostics.push(d);
      }
      earlierTasks.set(name, all);
      for (const d of r.diagnostics) {
        const key = `${d.loc?.file}:${d.loc?.line}:${d.loc?.col}:${d.message}`;
        if (!seen.has(key)) {
          seen.add(key);
          diagnostics.push(d);
        }
      }
      hosts.push({ name, conn: connectionVars(name, vars), tasks: r.tasks });
      gates = r.gates;
    }
    // A vantage host that is not in the inventory would fail only after the first batch changed hosts.
    for (const g of gates) {
      const names = [g.from, ...(g.kind === 'arp_owner' && !MAC_ADDRESS.test(g.expect) ? [g.expect] : [])];
      for (const n of names) {
        if (!inv.hosts.has(n) && !(inv.groups.get(n)?.hosts.length || inv.groups.get(n)?.children.length)) {
          const key = `${g.source.file}:${g.source.line}:${n}`;
          if (!seen.has(key)) {
            seen.add(key);
            diagnostics.push({ loc: g.source, message: `${g.kind} gate names "${n}", which is neither a host nor a group of ${inv.file}` });
          }
        }
      }
    }
    out.push({ play, hosts, gates });
  }
  if (diagnostics.length > 0) throw new UserInputError(diagnostics);
  return out;
}

export type Connector = (host: ConnectionVars) => Promise<Transport>;

/** `--shard K/N`: this controller takes shard K (1-based) of N. */
export interface Shard {
  index: number;
  count: number;
}

/**
 * A stable partition: a host's shard depends only on its name and N, not on
 * the inventory's order or size, so the same host always lands in the same
 * shard and every host lands in exactly one.
 */
export function inShard(host: string, shard: Shard): boolean {
  const h = createHash('sha256').update(host).digest().readUInt32BE(0);
  return h % shard.count === shard.index - 1;
}

export interface RunOptions {
  mode: RunMode;
  check: boolean;
  diff: boolean;
  forks: number;
  commandTimeoutMs: number;
  connect: Connector;
  /** resolves connection vars for vantage hosts named in health gates */
  vantage: (name: string) => ConnectionVars;
  events?: RunEvents;
  signal?: AbortSignal;
  runId?: string;
  /**
   * Keeps a host's part of the undo record as soon as it changes: when the host has applied, when a
   * failed gate rolled it back, when its rollback failed. undefined: nothing of the run is left on
   * that host. Awaited before the host counts as done; it should not throw (a throw is reported).
   */
  keep?(host: string, part: HostSnapshot | undefined): Promise<void>;
}

export interface RunResult {
  hosts: Map<string, HostResult>;
  /** per host, the changes still in effect at the end (for `vipush rollback --run`) */
  applied: Map<string, HostSnapshot>;
  /** hosts the run never touched because a batch failed or the run was interrupted */
  untouched: string[];
  stoppedReason?: string;
  /** every health gate that ran, in order */
  gates: GateOutcome[];
}

/** Keeps one connection per host for the whole run. */
class ConnectionPool {
  private readonly open = new Map<string, Promise<Transport>>();
  /**
   * Handshakes in flight at once. Each costs the host (and us) a burst of
   * CPU; hundreds at once on a busy machine push some past the connect
   * timeout and report healthy hosts unreachable. Commands are not limited
   * by this, only connection set-up, and the timeout starts when a
   * handshake does.
   */
  private readonly handshakes = pLimit(64);
  constructor(private readonly connect: Connector) {}

  forHost(conn: ConnectionVars): HostConnection {
    return {
      get: () => this.get(conn),
      reconnect: async () => {
        const old = this.open.get(conn.host);
        this.open.delete(conn.host);
        old?.then((t) => t.close()).catch(() => undefined);
        return this.get(conn);
      },
    };
  }

  get(conn: ConnectionVars): Promise<Transport> {
    let p = this.open.get(conn.host);
    if (!p) {
      p = this.handshakes(() => this.connect(conn));
      this.open.set(conn.host, p);
      p.catch(() => this.open.delete(conn.host));
    }
    return p;
  }

  async closeAll(): Promise<void> {
    const all = [...this.open.values()];
    this.open.clear();
    await Promise.all(all.map((p) => p.then((t) => t.close()).catch(() => undefined)));
  }
}

function skippedResult(host: string, reason: string): HostResult {
  return { host, status: 'skipped', rolledBack: false, restored: [], tasks: [], drift: [], error: reason, durationMs: 0 };
}

export async function runPlays(plays: PreparedPlay[], opts: RunOptions): Promise<RunResult> {
  const pool = new ConnectionPool(opts.connect);
  const results = new Map<string, HostResult>();
  const applied: RunResult['applied'] = new Map();
  // per host, what earlier plays left applied: a play's run (or its rollback) adds to it
  const earlier = new Map<string, Change[]>();
  const keepApplied = async (h: PreparedHost, run: HostRun) => {
    const changes = [...(earlier.get(h.name) ?? []), ...run.applied.map((s) => s.change)];
    const revertFailed = run.result.rollbackError ?? applied.get(h.name)?.revertFailed;
    if (changes.length > 0) applied.set(h.name, { conn: h.conn, changes, ...(revertFailed ? { revertFailed } : {}) });
    else applied.delete(h.name);
    await keep(h.name);
  };
  const keep = async (host: string) => {
    try {
      await opts.keep?.(host, applied.get(host));
    } catch (e) {
      opts.events?.message?.(`the undo record of ${host} could not be saved: ${(e as Error).message}`);
    }
  };
  const untouched: string[] = [];
  const gates: GateOutcome[] = [];
  let stoppedReason: string | undefined;
  const limit = pLimit(Math.max(1, opts.forks));
  const gateCtx: GateContext = { connect: (name) => pool.get(opts.vantage(name)), commandTimeoutMs: opts.commandTimeoutMs };

  try {
    for (const pp of plays) {
      if (stoppedReason) {
        untouched.push(...pp.hosts.map((h) => h.name).filter((h) => !results.has(h)));
        continue;
      }
      opts.events?.playStart?.({ name: pp.play.name, hosts: pp.hosts.map((h) => h.name) });
      const groups = batches(pp.hosts, pp.play.serial);
      for (let b = 0; b < groups.length; b++) {
        const batch = groups[b];
        if (stoppedReason || opts.signal?.aborted) {
          stoppedReason ??= 'interrupted';
          untouched.push(...batch.map((h) => h.name));
          continue;
        }
        opts.events?.batchStart?.({ play: pp.play.name, index: b, count: groups.length, hosts: batch.map((h) => h.name) });
        const runs = await Promise.all(
          batch.map((h) =>
            limit(async () => {
              if (opts.signal?.aborted) {
                const r = skippedResult(h.name, 'not started: the run was interrupted');
                untouched.push(h.name);
                results.set(h.name, r);
                return undefined;
              }
              opts.events?.hostStart?.(h.name);
              earlier.set(h.name, applied.get(h.name)?.changes ?? []);
              const run = new HostRun(h.name, h.tasks, pool.forHost(h.conn), {
                mode: opts.mode,
                check: opts.check,
                diff: opts.diff,
                become: h.conn.become,
                commandTimeoutMs: opts.commandTimeoutMs,
                runId: opts.runId,
                confirmTimeoutSeconds: pp.play.confirmTimeout,
              });
              const r = await run.run();
              await keepApplied(h, run);
              mergeHostResult(results, r);
              opts.events?.hostDone?.(r);
              return run;
            }),
          ),
        );
        const done = runs.filter((r): r is HostRun => r !== undefined);
        let failed = done.filter((r) => r.result.status === 'failed' || r.result.status === 'unreachable').map((r) => r.host);
        let reason: string | undefined;
        const dry = opts.check || opts.mode === 'drift';
        if (batchFailed(failed.length, batch.length, pp.play.maxFailPercentage, pp.play.anyErrorsFatal)) {
          reason = `${failed.length} of ${batch.length} hosts failed in batch ${b + 1} (max_fail_percentage ${pp.play.maxFailPercentage}${pp.play.anyErrorsFatal ? ', any_errors_fatal' : ''})`;
        } else if (!dry && pp.gates.length > 0) {
          const gateFailure = await runGates(pp.gates, gateCtx, (g) => {
            const outcome = { play: pp.play.name, batch: b, ...g };
            gates.push(outcome);
            opts.events?.gate?.(outcome);
          });
          if (gateFailure) {
            reason = `health gate failed after batch ${b + 1}: ${gateFailure}`;
            // A failed gate fails the whole batch: undo every host in it.
            await Promise.all(
              done.map((r) =>
                limit(async () => {
                  await r.rollbackApplied(reason!);
                  mergeHostResult(results, r.result, true);
                  await keepApplied(batch.find((x) => x.name === r.host)!, r);
                }),
              ),
            );
            failed = done.map((r) => r.host);
          }
        }
        if (reason) {
          stoppedReason = reason;
          if (b < groups.length - 1)
            untouched.push(
              ...groups
                .slice(b + 1)
                .flat()
                .map((h) => h.name),
            );
        }
        opts.events?.batchDone?.({ play: pp.play.name, index: b, failed, stopped: !!reason, reason });
        if (reason) break;
      }
    }
    // A host whose rollback failed keeps its snapshot too, so whoever logs in finds what to restore.
    await Promise.all(
      [...applied]
        .filter(([, a]) => a.revertFailed && opts.runId)
        .map(([host, a]) =>
          limit(async () => {
            const path = `${HOST_SNAPSHOT_DIR}/${opts.runId}.json`;
            try {
              const t = await pool.forHost(a.conn).reconnect();
              await writeHostFile(t, a.conn.become, opts.commandTimeoutMs, HOST_SNAPSHOT_DIR, {
                kind: 'file',
                path,
                before: null,
                after: { content: Buffer.from(serializeHostSnapshot(opts.runId!, host, a)), mode: 0o600 },
              });
              a.revertFailed += ` The snapshot is kept on the host in ${path}.`;
            } catch (e) {
              a.revertFailed += ` It could not be copied to the host (${(e as Error).message}); it is kept on the controller.`;
            }
            const r = results.get(host);
            if (r) r.rollbackError = a.revertFailed;
            await keep(host);
          }),
        ),
    );
  } finally {
    await pool.closeAll();
  }
  return { hosts: results, applied, untouched: [...new Set(untouched)], stoppedReason, gates };
}

/** Writes one file on a host with the steps' own writer (vp_write: temp file, fsync, rename), in a directory it makes first. */
async function writeHostFile(t: Transport, become: boolean, timeoutMs: number, dir: string, file: Change & { kind: 'file' }): Promise<void> {
  const nonce = newNonce();
  const script = `${scriptHead({ nonce })}${applyLines([
    { index: 0, argv: ['mkdir', '-p', '-m', '700', dir] },
    { index: 1, argv: stepArgv(file) },
  ])}`;
  const r = await t.exec({ argv: ['sh', '-s'] }, { stdin: script, become, timeoutMs });
  const { outcomes } = parseOutcomes(r.stdoutBytes ?? r.stdout, nonce);
  const failed = [...outcomes.values()].find((o) => !o.ok);
  if (r.code !== 0 || !outcomes.get(1)?.ok) throw new Error(failed?.output.trim() || r.stderr.trim() || `exit ${r.code ?? r.signal}`);
}

/** A host in several plays gets one entry: tasks appended, the worst status kept. */
function mergeHostResult(results: Map<string, HostResult>, r: HostResult, replace = false): void {
  const prev = results.get(r.host);
  if (!prev || prev === r || replace) {
    results.set(r.host, r);
    return;
  }
  const rank = { skipped: 0, ok: 1, changed: 2, failed: 3, unreachable: 4 } as const;
  results.set(r.host, {
    ...r,
    status: rank[r.status] >= rank[prev.status] ? r.status : prev.status,
    rolledBack: prev.rolledBack || r.rolledBack,
    restored: [...prev.restored, ...r.restored],
    tasks: [...prev.tasks, ...r.tasks],
    drift: [...prev.drift, ...r.drift],
    error: r.error ?? prev.error,
    durationMs: prev.durationMs + r.durationMs,
  });
}
