import type { ResolvedTask } from '../config/types.js';
import { HostError } from '../errors.js';
import { gatherFacts } from '../facts/gather.js';
import type { FactsRequest, HostFacts } from '../facts/types.js';
import { addressModule } from '../modules/address.js';
import { describeDiff, driftOf, inverse, safeOrder, simulate, summarise } from '../modules/changes.js';
import { commandModule } from '../modules/command.js';
import { sysctlModule } from '../modules/sysctl.js';
import { PERSIST_PROBE_SCRIPT } from '../modules/persist/index.js';
import { PlanRefusal, type Module, type TaskPlan } from '../modules/types.js';
import type { ShellSession, Transport } from '../transport/types.js';
import { applyScript, deadmanConfirmScript, DEADMAN_FIRED_EXIT, LOCK_BUSY_EXIT, needsHostDeadline, NOT_ROOT_EXIT, parseOutcomes, revertScript, type Deadman, type Step } from './script.js';
import type { HostResult, RunMode, TaskResult } from './types.js';

export interface HostRunOptions {
  mode: RunMode;
  check: boolean;
  diff: boolean;
  become: boolean;
  commandTimeoutMs: number;
  /** names the dead-man switch on the host */
  runId?: string;
  /** seconds the host waits for a confirmation over a new connection before reverting by itself */
  confirmTimeoutSeconds?: number;
}

/** Connects (or reuses the run's connection), and reconnects once after a drop. */
export interface HostConnection {
  get(): Promise<Transport>;
  reconnect(): Promise<Transport>;
}

function moduleFor(task: ResolvedTask): { module: Module<unknown>; args: unknown } {
  switch (task.module) {
    case 'sysctl':
      return { module: sysctlModule as Module<unknown>, args: task.args };
    case 'address':
      return { module: addressModule as Module<unknown>, args: task.args };
    case 'command':
      return { module: commandModule as Module<unknown>, args: task.args };
  }
}

export function factsNeeded(tasks: ResolvedTask[]): FactsRequest {
  const req: FactsRequest = { sysctlKeys: [], files: [], paths: [] };
  for (const t of tasks) {
    const { module, args } = moduleFor(t);
    const n = module.needs(args);
    req.sysctlKeys.push(...(n.sysctlKeys ?? []));
    req.files.push(...(n.files ?? []));
    req.paths.push(...(n.paths ?? []));
  }
  return { sysctlKeys: [...new Set(req.sysctlKeys)], files: [...new Set(req.files)], paths: [...new Set(req.paths)] };
}

function cloneFacts(f: HostFacts): HostFacts {
  return {
    ...f,
    addresses: f.addresses.map((a) => ({ ...a })),
    arp: new Map([...f.arp].map(([k, v]) => [k, { ...v }])),
    sysctls: new Map(f.sysctls),
    files: new Map(f.files),
    paths: new Map(f.paths),
    sysctlDropIns: [...f.sysctlDropIns],
  };
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** One host's run: read facts, plan every task, then apply the whole plan as one transaction. */
export class HostRun {
  readonly result: HostResult;
  /** steps that took effect, in the order they ran; what a rollback undoes */
  applied: Step[] = [];
  private readonly started = Date.now();

  constructor(
    readonly host: string,
    private readonly tasks: ResolvedTask[],
    private readonly conn: HostConnection,
    private readonly opts: HostRunOptions,
  ) {
    this.result = {
      host,
      status: 'ok',
      rolledBack: false,
      restored: [],
      tasks: tasks.map((t) => ({ name: t.name, module: t.module, status: 'skipped', changes: [], diff: '', warnings: [], output: '', error: null })),
      drift: [],
      error: null,
      durationMs: 0,
    };
  }

  async run(): Promise<HostResult> {
    try {
      await this.runInner();
    } catch (e) {
      this.fail(e);
    }
    this.result.durationMs = Date.now() - this.started;
    return this.result;
  }

  private fail(e: unknown): void {
    const unreachable = e instanceof HostError && (e.kind === 'unreachable' || e.kind === 'hostkey' || e.kind === 'auth');
    this.result.status = unreachable ? 'unreachable' : 'failed';
    this.result.error = errorText(e);
  }

  private async runInner(): Promise<void> {
    const t = await this.conn.get();
    // facts and the apply script share one shell on the host (one exec channel, one shell started)
    const session = t.session ? await t.session({ become: this.opts.become }) : undefined;
    try {
      await this.planAndApply(t, session);
    } finally {
      session?.close();
    }
  }

  private async planAndApply(t: Transport, session: ShellSession | undefined): Promise<void> {
    const persists = this.tasks.some((x) => x.module === 'address' && x.args.persist !== 'none');
    const facts = await gatherFacts(t, factsNeeded(this.tasks), {
      become: this.opts.become,
      persistProbe: persists ? PERSIST_PROBE_SCRIPT : undefined,
      timeoutMs: this.opts.commandTimeoutMs,
      session,
    });

    // Plan every task before touching anything: a refusal leaves the host untouched.
    const state = cloneFacts(facts);
    const steps: Step[] = [];
    for (let i = 0; i < this.tasks.length; i++) {
      const task = this.tasks[i];
      const tr = this.result.tasks[i];
      const { module, args } = moduleFor(task);
      let plan: TaskPlan;
      try {
        plan = module.plan(args, state, { host: this.host });
      } catch (e) {
        if (!(e instanceof PlanRefusal)) throw e;
        tr.status = 'failed';
        tr.error = e.message;
        this.result.status = 'failed';
        this.result.error = `task "${task.name}": ${e.message}`;
        return;
      }
      tr.warnings = plan.warnings;
      tr.changes = plan.changes.map(summarise);
      if (this.opts.diff || this.opts.check) tr.diff = plan.changes.map(describeDiff).join('');
      tr.status = plan.changes.some((c) => c.kind !== 'command' || c.reportChanged) ? 'changed' : 'ok';
      const drift = plan.drift ?? plan.changes.map(driftOf).filter((d): d is NonNullable<typeof d> => d !== undefined);
      for (const d of drift) this.result.drift.push({ task: task.name, ...d });
      for (const u of plan.unfixable) this.result.drift.push({ task: task.name, ...u });
      for (const c of plan.changes) {
        steps.push({ index: steps.length, taskIndex: i, change: c });
        simulate(state, c);
      }
    }

    const dryRun = this.opts.check || this.opts.mode === 'drift';
    if (dryRun || steps.length === 0) {
      this.result.status = this.result.tasks.some((x) => x.status === 'changed') ? 'changed' : 'ok';
      return;
    }
    await this.apply(t, safeOrder(steps), this.deadmanFor(steps, facts), session);
  }

  /**
   * Changes that can cut vipush off get a dead-man switch: commands marked
   * `confirm`, and address changes on the interface this SSH session uses.
   */
  private deadmanFor(steps: Step[], facts: HostFacts): Deadman | undefined {
    const sessionDev = facts.addresses.find((a) => a.local === facts.sessionAddress)?.dev;
    const risky = steps.some(
      (s) => (s.change.kind === 'command' && s.change.confirm) || (s.change.kind === 'address' && sessionDev !== undefined && s.change.dev === sessionDev),
    );
    if (!risky) return undefined;
    const id = `${(this.opts.runId ?? 'run').toLowerCase().replace(/[^a-z0-9-]/g, '')}-${this.host.toLowerCase().replace(/[^a-z0-9-]/g, '')}`.slice(0, 100);
    return { id, timeoutSeconds: this.opts.confirmTimeoutSeconds ?? 60, revertScript: revertScript(this.undoSteps(steps), 30) };
  }

  private undoSteps(steps: Step[]): Step[] {
    const undo: Step[] = [];
    for (const s of [...steps].reverse()) {
      const inv = inverse(s.change);
      if (inv) undo.push({ index: undo.length, taskIndex: s.taskIndex, change: inv });
    }
    return undo;
  }

  /** Confirms over a NEW connection, retrying until the host's timer would fire. */
  private async confirm(d: Deadman, armedAt: number): Promise<void> {
    const deadline = armedAt + d.timeoutSeconds * 1000 - 1500;
    let last: unknown;
    while (Date.now() < deadline) {
      try {
        const t = await this.conn.reconnect();
        const r = await t.exec({ script: deadmanConfirmScript(d.id) }, { become: this.opts.become, timeoutMs: Math.max(1000, deadline - Date.now()) });
        if (r.code === 0) return;
        if (r.code === DEADMAN_FIRED_EXIT) throw new Error(r.stderr.trim());
        last = new Error(r.stderr.trim() || `exit ${r.code}`);
      } catch (e) {
        last = e;
        if (e instanceof Error && /already fired/.test(e.message)) throw e;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    throw new Error(`could not confirm over a new SSH connection within ${d.timeoutSeconds} s (${errorText(last)}); the host's dead-man switch reverts it by itself`);
  }

  private async apply(t: Transport, steps: Step[], deadman: Deadman | undefined, session: ShellSession | undefined): Promise<void> {
    for (const s of steps) this.result.tasks[s.taskIndex].status = 'skipped';
    let stdout = '';
    let stderr = '';
    let code: number | null = null;
    let lost: unknown;
    const armedAt = Date.now();
    // With a dead-man switch armed, waiting past its timeout is pointless: the host decides then.
    const timeoutMs = deadman ? Math.min(this.opts.commandTimeoutMs, deadman.timeoutSeconds * 1000 - 2000) : this.opts.commandTimeoutMs;
    try {
      const script = applyScript(steps, 30, deadman);
      const hostDeadline = needsHostDeadline(steps, deadman);
      const r = session
        ? await session.finish(script, { timeoutMs, what: 'the apply script', hostDeadline })
        : await t.exec({ argv: ['sh', '-s'] }, { stdin: script, become: this.opts.become, timeoutMs, hostDeadline });
      ({ stdout, stderr, code } = r);
      if (code === null && r.signal) lost = new Error(`the apply script was killed (${r.signal})`);
    } catch (e) {
      lost = e;
    }
    const { outcomes, ended, armed } = parseOutcomes(stdout);
    if (deadman && armed) this.result.deadman = 'armed';
    for (const s of steps) {
      const o = outcomes.get(s.index);
      const tr = this.result.tasks[s.taskIndex];
      if (!o) continue;
      tr.output += o.output;
      if (o.ok) {
        this.applied.push(s);
        if (tr.status !== 'failed') tr.status = 'changed';
      } else {
        tr.status = 'failed';
        tr.error = o.output.trim() || `step failed: ${summarise(s.change)}`;
      }
    }
    for (const tr of this.result.tasks) if (tr.status === 'changed' && tr.changes.length === 0) tr.status = 'ok';
    // command tasks with changed_when: false report ok
    for (const s of steps) {
      const tr = this.result.tasks[s.taskIndex];
      if (s.change.kind === 'command' && !s.change.reportChanged && tr.status === 'changed') tr.status = 'ok';
    }

    if (!lost && code === 0 && ended) {
      if (deadman) {
        try {
          await this.confirm(deadman, armedAt);
          this.result.deadman = 'confirmed';
        } catch (e) {
          this.result.status = 'failed';
          this.result.deadman = 'left-to-revert';
          this.result.error = errorText(e);
          return;
        }
      }
      this.result.status = this.result.tasks.some((x) => x.status === 'changed') ? 'changed' : 'ok';
      return;
    }
    const failedStep = steps.find((s) => outcomes.get(s.index)?.ok === false);
    this.result.status = 'failed';
    if (code === LOCK_BUSY_EXIT || code === NOT_ROOT_EXIT) this.result.error = stderr.trim();
    else if (lost) this.result.error = errorText(lost);
    else if (failedStep) this.result.error = `task "${this.result.tasks[failedStep.taskIndex].name}" failed: ${this.result.tasks[failedStep.taskIndex].error}`;
    else this.result.error = `the apply script stopped early (exit ${code}): ${stderr.trim().split('\n').slice(-1)[0] ?? ''}`;

    // Undo what took effect, plus the failed step (it may have half-applied),
    // or every step when we can't know how far the script got.
    const unknown = !!lost || (!failedStep && !ended);
    // A failed file write left the file as it was (the write is atomic), so it needs no undo.
    const toUndo = unknown ? steps : steps.filter((s) => outcomes.get(s.index)?.ok || (outcomes.has(s.index) && s.change.kind !== 'file'));
    await this.revert(toUndo, lost !== undefined);
    if (deadman && armed) {
      if (this.result.rolledBack) {
        // We reverted ourselves: disarm the timer so it does not run the revert again.
        await this.confirm(deadman, armedAt).then(
          () => (this.result.deadman = 'disarmed'),
          () => (this.result.deadman = 'left-to-revert'),
        );
      } else {
        this.result.deadman = 'left-to-revert';
        this.result.rollbackError = `${this.result.rollbackError ?? ''} The host's dead-man switch reverts it within ${deadman.timeoutSeconds} s of the change.`.trim();
      }
    }
  }

  /** Reverts steps in reverse order (so the VIP comes down before the sysctls are restored) and records what was restored. */
  async revert(steps: Step[], reconnect = false): Promise<void> {
    const undo = this.undoSteps(steps);
    if (undo.length === 0) {
      this.result.rolledBack = true;
      return;
    }
    try {
      const t = reconnect ? await this.conn.reconnect() : await this.conn.get();
      const r = await t.exec({ argv: ['sh', '-s'] }, { stdin: revertScript(undo), become: this.opts.become, timeoutMs: this.opts.commandTimeoutMs });
      const { outcomes } = parseOutcomes(r.stdout);
      const failed: string[] = [];
      for (const u of undo) {
        const o = outcomes.get(u.index);
        if (o?.ok) this.result.restored.push(summarise(u.change));
        else failed.push(`${summarise(u.change)}: ${o?.output.trim() || 'did not run'}`);
      }
      if (failed.length > 0) this.result.rollbackError = `ROLLBACK INCOMPLETE on ${this.host}: ${failed.join('; ')}`;
      else this.result.rolledBack = true;
    } catch (e) {
      this.result.rollbackError = `ROLLBACK FAILED on ${this.host}: ${errorText(e)}`;
    }
    // Keep what is still applied when the undo failed: it goes into the run's snapshot.
    if (this.result.rolledBack) this.applied = [];
    else this.applied = steps;
  }

  /** Used by the batch logic: undo a host that succeeded when its batch fails a gate. */
  async rollbackApplied(reason: string): Promise<void> {
    const steps = this.applied;
    if (steps.length === 0) return;
    this.result.status = 'failed';
    this.result.error = reason;
    await this.revert(steps);
  }
}

