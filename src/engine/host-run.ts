import { describeDiff, driftOf, safeOrder, simulate, summarise } from '../changes/index.js';
import { HostError } from '../errors.js';
import { factsLines, parseFacts } from '../facts/gather.js';
import type { FactsRequest, HostFacts } from '../facts/types.js';
import { factsNeeded, isSkipped, planTask, type HostTask } from '../modules/registry.js';
import { PlanRefusal, type TaskPlan } from '../modules/types.js';
import { newNonce } from '../remote/markers.js';
import {
  applyLines,
  deadmanArmLines,
  deadmanConfirmScript,
  HostExit,
  journalLines,
  lockedScript,
  lockLines,
  parseJournal,
  parseOutcomes,
  revertLines,
  scriptHead,
  type Deadman,
  type JournalRead,
  type ScriptContext,
} from '../remote/script.js';
import type { ShellSession, Transport } from '../transport/types.js';
import { needsHostDeadline, stepLines, undoSteps, type Step } from './steps.js';
import type { HostResult, RunMode } from './types.js';

/** A read of nothing but what every read has (the journal first): after a lost connection. */
const NO_FACTS: FactsRequest = { sysctlKeys: [], files: [], paths: [], globs: [], probes: [] };

/** How long a host whose connection was lost is tried again, at most (a partition may outlast the command timeout). */
const RECONNECT_WINDOW_MS = 30_000;

/** Seconds a host script waits for another vipush run's lock on that host. */
const LOCK_WAIT_SECONDS = 30;

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
  /** vipush's directory on the host (default /run/vipush): tests point it elsewhere */
  hostRunDir?: string;
  /** after a lost connection, how long a new one is tried (default 30 s) */
  reconnectWindowMs?: number;
}

/** Connects (or reuses the run's connection), and reconnects once after a drop. */
export interface HostConnection {
  get(): Promise<Transport>;
  reconnect(): Promise<Transport>;
}

function cloneFacts(f: HostFacts): HostFacts {
  return {
    ...f,
    addresses: f.addresses.map((a) => ({ ...a })),
    sysctls: new Map(f.sysctls),
    files: new Map(f.files),
    paths: new Map(f.paths),
    sysctlDropIns: [...f.sysctlDropIns],
  };
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Takes the host's lock, reads the journal (undoing what a run that did not finish left: a dead
 * controller, a crash), then reads its facts, in one exchange of a shell session that holds the lock
 * until it ends: a run's apply, or a rollback's restore, then runs in the same shell. A run that
 * cannot change the host (--check, drift) reads without the lock: it waits for no one, saves every
 * host the `flock` program, and only looks at the journal.
 */
export async function lockAndReadFacts(
  host: string,
  session: ShellSession,
  ctx: ScriptContext,
  req: FactsRequest,
  commandTimeoutMs: number,
  lock = true,
): Promise<{ facts: HostFacts; journal?: JournalRead }> {
  let out: Buffer;
  try {
    out = await session.exchange(`${scriptHead(ctx)}${lock ? lockLines(LOCK_WAIT_SECONDS) : ''}${journalLines(!lock)}${factsLines(req)}`, {
      timeoutMs: commandTimeoutMs + (lock ? LOCK_WAIT_SECONDS * 1000 : 0),
      what: 'reading facts',
    });
  } catch (e) {
    // the lock's and root's refusals are one line each on stderr, and say what to do
    const code = e instanceof HostError ? e.ended?.code : undefined;
    if (e instanceof HostError && e.ended && (code === HostExit.lockBusy || code === HostExit.notRoot))
      throw new HostError(host, 'command', e.ended.lastStderrLine);
    throw e;
  }
  try {
    return { facts: parseFacts(out, ctx.nonce, req), journal: parseJournal(out, ctx.nonce) };
  } catch (e) {
    throw new HostError(host, 'command', `could not read facts: ${(e as Error).message}`);
  }
}

/** One line on what the journal showed, for the host's report; undefined when there was nothing to say. */
export function journalNote(j: JournalRead | undefined): string | undefined {
  if (!j) return undefined;
  if (j.state === 'unfinished') return `a vipush run (${j.run}) did not finish on this host; the next run undoes what it left first`;
  if (j.state !== 'undone') return undefined;
  const failed = j.failed > 0 ? `; ${j.failed} could not be undone: ${j.failures.join('; ')}` : '';
  return `a vipush run (${j.run}) had not finished on this host (a lost controller or a crash): ${j.undone} of its steps undone from its journal before reading${failed}`;
}

/** One host's run: read facts, plan every task, then apply the whole plan as one transaction. */
export class HostRun {
  readonly result: HostResult;
  /** steps that took effect, in the order they ran; what a rollback undoes */
  applied: Step[] = [];
  /** the plan, in the order the host runs it (empty in check and drift mode) */
  planned: Step[] = [];
  /** the undo steps of the last revert, in the order they ran */
  undone: Step[] = [];
  private readonly started = Date.now();
  /** the nonce of the apply's session: names the run in the host's journal */
  private runNonce?: string;

  constructor(
    readonly host: string,
    private readonly tasks: HostTask[],
    private readonly conn: HostConnection,
    private readonly opts: HostRunOptions,
  ) {
    this.result = {
      host,
      status: 'ok',
      rolledBack: false,
      restored: [],
      tasks: tasks.map((t) => ({
        name: t.name,
        module: t.module,
        status: 'skipped',
        changes: [],
        diff: '',
        warnings: [],
        output: '',
        error: null,
        ...(isSkipped(t) ? { skipReason: t.skipped } : {}),
      })),
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

  private scriptContext(): ScriptContext {
    return { nonce: newNonce(), runDir: this.opts.hostRunDir };
  }

  private async runInner(): Promise<void> {
    const t = await this.conn.get();
    // facts and the apply script share one shell on the host (one exec channel, one shell started), which
    // holds the host's run lock from before the facts are read until the apply ends
    const session = await t.session({ become: this.opts.become });
    try {
      await this.planAndApply(session);
    } finally {
      session.close();
    }
  }

  private async lockAndRead(session: ShellSession, ctx: ScriptContext): Promise<HostFacts> {
    const mayChange = !this.opts.check && this.opts.mode !== 'drift';
    const { facts, journal } = await lockAndReadFacts(this.host, session, ctx, factsNeeded(this.tasks), this.opts.commandTimeoutMs, mayChange);
    const note = journalNote(journal);
    if (note) {
      this.result.journal = note;
      if (journal?.state === 'unfinished')
        this.result.drift.push({ task: '(journal)', item: `vipush run ${journal.run}`, expected: 'finished or undone', actual: 'unfinished' });
    }
    return facts;
  }

  private async planAndApply(session: ShellSession): Promise<void> {
    const ctx = this.scriptContext();
    const facts = await this.lockAndRead(session, ctx);
    this.runNonce = ctx.nonce;

    // Plan every task before touching anything: a refusal leaves the host untouched.
    const state = cloneFacts(facts);
    const steps: Step[] = [];
    for (let i = 0; i < this.tasks.length; i++) {
      const task = this.tasks[i];
      const tr = this.result.tasks[i];
      if (isSkipped(task)) continue;
      let plan: TaskPlan;
      try {
        plan = planTask(task, state, { host: this.host });
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
    this.planned = safeOrder(steps);
    await this.apply(this.planned, this.deadmanFor(steps, facts), session, ctx);
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
    const revertScript = lockedScript(this.scriptContext(), LOCK_WAIT_SECONDS, revertLines(stepLines(undoSteps(steps)), this.runNonce));
    return { id, timeoutSeconds: this.opts.confirmTimeoutSeconds ?? 60, revertScript };
  }

  /**
   * Confirms a converged change to the dead-man switch; when that fails, the host fails with the reason and its
   * switch is left to revert it. Says whether it was confirmed.
   */
  private async confirmOrLeave(d: Deadman, armedAt: number): Promise<boolean> {
    try {
      await this.confirm(d, armedAt);
      this.result.deadman = 'confirmed';
      return true;
    } catch (e) {
      this.result.status = 'failed';
      this.result.deadman = 'left-to-revert';
      this.result.error = errorText(e);
      return false;
    }
  }

  /** Confirms over a NEW connection, retrying until the host's timer would fire. */
  private async confirm(d: Deadman, armedAt: number): Promise<void> {
    const deadline = armedAt + d.timeoutSeconds * 1000 - 1500;
    let last: unknown;
    while (Date.now() < deadline) {
      try {
        const t = await this.conn.reconnect();
        const script = deadmanConfirmScript(d.id, this.scriptContext());
        const r = await t.exec({ script }, { become: this.opts.become, timeoutMs: Math.max(1000, deadline - Date.now()) });
        if (r.code === 0) return;
        if (r.code === HostExit.deadmanFired) throw new Error(r.stderr.trim());
        last = new Error(r.stderr.trim() || `exit ${r.code}`);
      } catch (e) {
        last = e;
        if (e instanceof Error && /already fired/.test(e.message)) throw e;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    throw new Error(
      `could not confirm over a new SSH connection within ${d.timeoutSeconds} s (${errorText(last)}); the host's dead-man switch reverts it by itself`,
    );
  }

  private async apply(steps: Step[], deadman: Deadman | undefined, session: ShellSession, ctx: ScriptContext): Promise<void> {
    for (const s of steps) this.result.tasks[s.taskIndex].status = 'skipped';
    let stdout: Buffer = Buffer.alloc(0);
    let stderr = '';
    let code: number | null = null;
    let lost: unknown;
    const armedAt = Date.now();
    // With a dead-man switch armed, waiting past its timeout is pointless: the host decides then.
    const timeoutMs = deadman ? Math.min(this.opts.commandTimeoutMs, deadman.timeoutSeconds * 1000 - 2000) : this.opts.commandTimeoutMs;
    try {
      const hostDeadline = needsHostDeadline(steps, deadman !== undefined);
      // With a deadline, the script runs in a new shell on the host (timeout sh), which needs the
      // functions again; it inherits the lock's descriptor, so the lock stays held.
      const body = `${deadman ? deadmanArmLines(deadman) : ''}${applyLines(stepLines(steps))}`;
      const script = hostDeadline ? `${scriptHead(ctx)}${body}` : body;
      const r = await session.finish(script, { timeoutMs, what: 'the apply script', hostDeadline });
      stdout = r.stdoutBytes ?? Buffer.from(r.stdout);
      ({ stderr, code } = r);
      if (code === null && r.signal) lost = new Error(`the apply script was killed (${r.signal})`);
    } catch (e) {
      lost = e;
    }
    const { outcomes, ended, armed } = parseOutcomes(stdout, ctx.nonce);
    if (deadman && armed) this.result.deadman = 'armed';
    for (const s of steps) {
      const o = outcomes.get(s.index);
      const tr = this.result.tasks[s.taskIndex];
      if (!o) continue;
      tr.output += o.output;
      if (o.same) {
        // its effect was already there: nothing changed, nothing to undo
        if (tr.status === 'skipped') tr.status = 'ok';
      } else if (o.ok) {
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
      if (deadman && !(await this.confirmOrLeave(deadman, armedAt))) return;
      this.result.status = this.result.tasks.some((x) => x.status === 'changed') ? 'changed' : 'ok';
      return;
    }
    const failedStep = steps.find((s) => outcomes.get(s.index)?.ok === false);
    this.result.status = 'failed';
    if (code === HostExit.lockBusy || code === HostExit.notRoot) this.result.error = stderr.trim();
    else if (lost) this.result.error = errorText(lost);
    else if (failedStep) this.result.error = `task "${this.result.tasks[failedStep.taskIndex].name}" failed: ${this.result.tasks[failedStep.taskIndex].error}`;
    else this.result.error = `the apply script stopped early (exit ${code}): ${stderr.trim().split('\n').slice(-1)[0] ?? ''}`;

    // Undo what took effect, plus a failed command (it may have half-applied), or every step when we
    // can't know how far the script got. vipush's own steps change nothing when they fail (a file
    // write is atomic; a sysctl, address or ARP check that finds the host changed since it was read
    // refuses), and one that found its effect already there changed nothing.
    if (lost) {
      await this.afterLost(steps, lost, deadman && armed ? { deadman, armedAt } : undefined);
      return;
    }
    const unknown = !failedStep && !ended;
    const toUndo = unknown
      ? steps.filter((s) => !outcomes.get(s.index)?.same)
      : steps.filter((s) => {
          const o = outcomes.get(s.index);
          return o !== undefined && !o.same && (o.ok || s.change.kind === 'command');
        });
    await this.revert(toUndo);
    if (deadman && armed) {
      if (this.result.rolledBack) {
        // We reverted ourselves: disarm the timer so it does not run the revert again.
        await this.confirm(deadman, armedAt).then(
          () => (this.result.deadman = 'disarmed'),
          () => (this.result.deadman = 'left-to-revert'),
        );
      } else {
        this.result.deadman = 'left-to-revert';
        this.result.rollbackError =
          `${this.result.rollbackError ?? ''} The host's dead-man switch reverts it within ${deadman.timeoutSeconds} s of the change.`.trim();
      }
    }
  }

  /**
   * The connection was lost during the apply (or the script was killed). The host script either ran
   * to its end by itself, or stopped at a step boundary and reverted from its journal, or died; one
   * new connection takes the lock (so that script has ended), reads the journal (undoing a run that
   * died first) and says which: converged, rolled back, or, when the host can't be reached or its
   * journal names another run, outcome unknown. Never a rollback of a host that converged.
   */
  private async afterLost(steps: Step[], lost: unknown, armed?: { deadman: Deadman; armedAt: number }): Promise<void> {
    let journal: JournalRead | undefined;
    try {
      // one new connection, tried until it connects or the window is over (a partition may last a while)
      const until = Date.now() + (this.opts.reconnectWindowMs ?? RECONNECT_WINDOW_MS);
      let t: Transport | undefined;
      for (;;) {
        try {
          t = await this.conn.reconnect();
          break;
        } catch (e) {
          if (Date.now() >= until) throw e;
          await new Promise((r) => setTimeout(r, 1000));
        }
      }
      const session = await t.session({ become: this.opts.become });
      try {
        ({ journal } = await lockAndReadFacts(this.host, session, this.scriptContext(), NO_FACTS, this.opts.commandTimeoutMs));
      } finally {
        session.close();
      }
    } catch (e) {
      this.result.outcome = 'outcome unknown';
      this.result.error = `${errorText(lost)}; could not read the host's journal over a new connection (${errorText(e)}): outcome unknown`;
      this.applied = steps;
      this.leftToDeadman(armed);
      return;
    }
    const ours = journal !== undefined && journal.run === this.runNonce;
    if (ours && journal?.state === 'end') {
      this.result.outcome = 'converged';
      this.applied = steps;
      for (const s of steps) {
        const tr = this.result.tasks[s.taskIndex];
        tr.status = s.change.kind === 'command' && !s.change.reportChanged ? 'ok' : 'changed';
      }
      this.result.status = 'changed';
      this.result.error = null;
      this.result.journal = `the connection was lost during the apply (${errorText(lost)}); the host's journal says the run reached its end: converged`;
      if (armed) await this.confirmOrLeave(armed.deadman, armed.armedAt);
      return;
    }
    if (ours && journal && ['undone', 'recovered', 'reverted'].includes(journal.state)) {
      this.result.outcome = 'rolled back';
      this.result.rolledBack = journal.failed === 0;
      this.result.error = `${errorText(lost)}; the host stopped at a step boundary and reverted from its journal: rolled back`;
      if (journal.failed > 0) this.result.rollbackError = `ROLLBACK INCOMPLETE on ${this.host}: ${journal.failures.join('; ')}`;
      this.applied = journal.failed === 0 ? [] : steps;
      if (armed) this.result.deadman = 'left-to-revert';
      return;
    }
    this.result.outcome = 'outcome unknown';
    this.applied = steps;
    this.result.error = `${errorText(lost)}; the host's journal ${journal ? `names another run (${journal.state} ${journal.run})` : 'could not be read'}: outcome unknown`;
    this.leftToDeadman(armed);
  }

  /** An armed dead-man switch that vipush could not confirm nor disarm: the host reverts by itself. */
  private leftToDeadman(armed?: { deadman: Deadman }): void {
    if (!armed) return;
    this.result.deadman = 'left-to-revert';
    this.result.journal = `${this.result.journal ?? ''} The host's dead-man switch reverts it within ${armed.deadman.timeoutSeconds} s of the change.`.trim();
  }

  /** Reverts steps in reverse order (so the VIP comes down before the sysctls are restored) and records what was restored. */
  async revert(steps: Step[]): Promise<void> {
    const undo = undoSteps(steps);
    this.undone = undo;
    if (undo.length === 0) {
      this.result.rolledBack = true;
      return;
    }
    try {
      const t = await this.conn.get();
      const ctx = this.scriptContext();
      const script = lockedScript(ctx, LOCK_WAIT_SECONDS, revertLines(stepLines(undo), this.runNonce));
      const r = await t.exec({ argv: ['sh', '-s'] }, { stdin: script, become: this.opts.become, timeoutMs: this.opts.commandTimeoutMs });
      const { outcomes } = parseOutcomes(r.stdoutBytes ?? r.stdout, ctx.nonce);
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
