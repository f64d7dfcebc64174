import { SHELL_TEXT } from './shell-text.generated.js';
import { MARK, parseMarked } from './markers.js';
import { shJoin, shQuote } from './quote.js';

/** vipush's directory on a host for the run lock and scratch output: root's only (/run/lock is world-writable). */
export const HOST_RUN_DIR = '/run/vipush';

/** vipush's state on a host, kept across boots (the journal, the dead-man switch): root's only. */
export const HOST_STATE_DIR = '/var/lib/vipush';

/** Exit statuses of vipush's host scripts (sh/*.sh), in one place. */
export const HostExit = {
  /** a step failed and the apply script stopped there */
  stepFailed: 70,
  /** the journal could not be opened: nothing ran */
  journalFailed: 73,
  /** the controller went away (a marker write failed): the script stopped at a step boundary and reverted from its journal */
  controllerLost: 74,
  /** a revert could not undo every step */
  revertIncomplete: 71,
  /** the dead-man switch could not be armed */
  deadmanNotArmed: 72,
  /** another vipush run holds the host's lock (sysexits' EX_TEMPFAIL) */
  lockBusy: 75,
  /** the script does not run as root (sysexits' EX_NOPERM) */
  notRoot: 77,
  /** the dead-man switch fired before vipush confirmed */
  deadmanFired: 3,
} as const;

export interface ScriptContext {
  nonce: string;
  /** default HOST_RUN_DIR; tests run the scripts on their own machine with a directory of their own */
  runDir?: string;
  /** default HOST_STATE_DIR; likewise */
  stateDir?: string;
}

/** The head of every host script: inputs, a known shell state, the marker writer and the step functions. */
export function scriptHead(ctx: ScriptContext): string {
  if (!/^[0-9a-f]+$/.test(ctx.nonce)) throw new Error(`bad nonce ${ctx.nonce}`);
  return `vp_nonce=${ctx.nonce} vp_run=${shQuote(ctx.runDir ?? HOST_RUN_DIR)} vp_state=${shQuote(ctx.stateDir ?? HOST_STATE_DIR)}\n${SHELL_TEXT.prelude}${SHELL_TEXT.steps}${SHELL_TEXT['arp-guard']}${SHELL_TEXT.journal}`;
}

/** Root, then the host's run lock (held until the shell ends), waiting at most `waitSeconds`. */
export function lockLines(waitSeconds: number): string {
  return `vp_lock_wait=${Math.max(0, Math.floor(waitSeconds))}\n${SHELL_TEXT.lock}`;
}

/** One step: `argv` runs as vp_step's command (a function of sh/steps.sh, or a program). */
export interface StepLine {
  index: number;
  argv: string[];
  /** its undo's argv, for the journal (none: it has no undo) */
  undo?: string[];
  /** a failure may have half-applied it (a user's command): its undo runs even after it failed */
  undoAfterFailure?: boolean;
}

/**
 * Runs the steps in order, each one journalled (sh/journal.sh), and stops at the first that fails
 * (exit HostExit.stepFailed). In braces: the shell reads the whole script before it runs any of it,
 * so a script cut short by a lost connection runs nothing. A marker that can't be written (the
 * controller is gone) stops it at the step boundary, where it reverts from its journal by itself
 * (exit HostExit.controllerLost).
 */
export function applyLines(steps: readonly StepLine[]): string {
  const undo = (s: StepLine) => (s.undo ? Buffer.from(shJoin(s.undo)).toString('base64') : '-');
  return [
    '{',
    `trap 'vp_lost=1' PIPE HUP`,
    `vp_jopen || exit ${HostExit.journalFailed}`,
    ...steps.map((s) => `${shJoin(['vp_jstep', String(s.index), s.undoAfterFailure ? '1' : '0', undo(s), ...s.argv])} || vp_jstop ${HostExit.stepFailed}`),
    'vp_jclose',
    'vp_mark end',
    '}',
    '',
  ].join('\n');
}

/**
 * Runs every step even if one fails: an undo restores as much as it can. `run`: the nonce of the run
 * it reverts, whose journal it marks reverted when every undo succeeded.
 */
export function revertLines(steps: readonly StepLine[], run?: string): string {
  if (run !== undefined && !/^[0-9a-f]+$/.test(run)) throw new Error(`bad run nonce ${run}`);
  return [
    '{',
    'rc=0',
    ...steps.map((s) => `${shJoin(['vp_step', String(s.index), ...s.argv])} || rc=${HostExit.revertIncomplete}`),
    'vp_dflush',
    ...(run ? [`[ $rc -ne 0 ] || vp_jmark reverted ${run}`] : []),
    'vp_mark end',
    'exit $rc',
    '}',
    '',
  ].join('\n');
}

/** The lines that read the journal first (after the lock): a run left unfinished is undone, unless `peek`. */
export function journalLines(peek = false): string {
  return peek ? 'vp_jrecover peek\n' : 'vp_jrecover\n';
}

/** What the journal said when it was read: the marker `journal STATE RUN UNDONE FAILED` and each undo's outcome. */
export interface JournalRead {
  state: 'none' | 'end' | 'reverted' | 'recovered' | 'undone' | 'unfinished';
  run: string;
  undone: number;
  failed: number;
  /** each undo that failed: its output */
  failures: string[];
}

const JOURNAL_STATES: readonly JournalRead['state'][] = ['none', 'end', 'reverted', 'recovered', 'undone', 'unfinished'];
/** What the controller keeps of failed undos' output from a host's journal read: a host may send much more. */
const MAX_JOURNAL_FAILURES = 20;
const MAX_FAILURE_CHARS = 2000;

/**
 * What a journal read (vp_jrecover) said, or undefined when the host said nothing valid: a state that is not
 * one of the journal's own is no answer; the failed undos' outputs are kept bounded (count and length).
 */
export function parseJournal(out: Buffer, nonce: string): JournalRead | undefined {
  let read: JournalRead | undefined;
  const failures: string[] = [];
  let open = '';
  const fail = (text: string) => {
    if (failures.length < MAX_JOURNAL_FAILURES) failures.push(text.length > MAX_FAILURE_CHARS ? `${text.slice(0, MAX_FAILURE_CHARS)}…` : text);
  };
  for (const s of parseMarked(out, nonce)) {
    if (s.kind === 'jstep') open = s.arg;
    else if (s.kind === 'begin' && open) open = s.body.toString('utf8');
    else if (s.kind === 'failed' && open) {
      fail(open.trim() || 'failed');
      open = '';
    } else if (s.kind === 'done') open = '';
    else if (s.kind === 'journal') {
      const [state, run, undone, failed] = s.arg.split(' ');
      if (!(JOURNAL_STATES as readonly string[]).includes(state)) continue;
      read = { state: state as JournalRead['state'], run: run ?? '-', undone: Number(undone ?? 0) || 0, failed: Number(failed ?? 0) || 0, failures };
    }
  }
  return read;
}

export interface StepOutcome {
  index: number;
  ok: boolean;
  output: string;
  /** the step found its effect already there and changed nothing (vp_same): not a change, and not undone */
  same?: boolean;
}

/** What an apply or revert script said: each step's outcome and output, whether it reached its end, whether it armed a dead-man switch. */
export function parseOutcomes(out: Buffer | string, nonce: string): { outcomes: Map<number, StepOutcome>; ended: boolean; armed: boolean } {
  const outcomes = new Map<number, StepOutcome>();
  let ended = false;
  let armed = false;
  let open: { index: number; output: string } | undefined;
  for (const s of parseMarked(typeof out === 'string' ? Buffer.from(out) : out, nonce)) {
    const [arg, flag] = s.arg.split(' ');
    const index = Number(arg);
    if (s.kind === 'end') ended = true;
    else if (s.kind === 'armed') armed = true;
    else if (s.kind === 'begin') open = { index, output: s.body.toString('utf8') };
    else if ((s.kind === 'done' || s.kind === 'failed') && open?.index === index) {
      outcomes.set(index, { index, ok: s.kind === 'done', output: open.output.trimEnd(), ...(s.kind === 'done' && flag === 'same' ? { same: true } : {}) });
      open = undefined;
    }
  }
  return { outcomes, ended, armed };
}

/** A whole script over a new connection: head, lock, then `body`. */
export function lockedScript(ctx: ScriptContext, lockWaitSeconds: number, body: string): string {
  return `${scriptHead(ctx)}${lockLines(lockWaitSeconds)}${body}`;
}

// ---- the dead-man switch (sh/deadman.sh) ------------------------------------------------------

export interface Deadman {
  id: string; // [a-z0-9-] only
  timeoutSeconds: number;
  /** a whole script (lockedScript) that undoes the change */
  revertScript: string;
}

export const DEADMAN_DIR = '/var/lib/vipush/deadman';

export function deadmanArmLines(d: Deadman): string {
  if (!/^[a-z0-9-]+$/.test(d.id)) throw new Error(`bad dead-man id ${d.id}`);
  return `${SHELL_TEXT.deadman}${shJoin(['vp_deadman_arm', d.id, String(d.timeoutSeconds), Buffer.from(d.revertScript).toString('base64')])}\n`;
}

/** Run over a new connection: disarms the timer, or exits HostExit.deadmanFired if it already fired. */
export function deadmanConfirmScript(id: string, ctx: ScriptContext): string {
  if (!/^[a-z0-9-]+$/.test(id)) throw new Error(`bad dead-man id ${id}`);
  return `${scriptHead(ctx)}${SHELL_TEXT.deadman}${shJoin(['vp_deadman_confirm', id])}\n`;
}

// ---- health gates on a vantage host (sh/vantage.sh) ----------------------------------------------

/** A script that runs one function of sh/vantage.sh with `args`. */
export function vantageScript(fn: 'vp_arping' | 'vp_mac_towards' | 'vp_source_towards', ...args: string[]): string {
  return `${SHELL_TEXT.vantage}${shJoin([fn, ...args])}\n`;
}

export { MARK };
