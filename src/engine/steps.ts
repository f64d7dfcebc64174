import { inverse, mayHang, stepArgv, type Change, type UndoOptions } from '../changes/index.js';
import type { StepLine } from '../remote/script.js';

/** One change of a host's plan, numbered: what the host script runs as step `index`. */
export interface Step {
  index: number;
  taskIndex: number;
  change: Change;
}

/** The host's lines for `steps`, each with its undo for the journal (a compare-and-swap like any undo). */
export function stepLines(steps: readonly Step[]): StepLine[] {
  return steps.map((s) => {
    const inv = inverse(s.change);
    return {
      index: s.index,
      argv: stepArgv(s.change),
      ...(inv ? { undo: stepArgv(inv) } : {}),
      ...(s.change.kind === 'command' ? { undoAfterFailure: true } : {}),
    };
  });
}

/**
 * The undo of steps that took effect: each one's inverse, last first (so the VIP comes down before
 * the sysctls are restored), numbered anew, each keeping its task. The one place an undo is planned:
 * for a failed run, a failed gate, the dead-man switch and `vipush rollback`. Each undo restores only
 * what the run wrote and still finds there, unless `force`.
 */
export function undoSteps(steps: readonly Step[], opts: UndoOptions = {}): Step[] {
  const undo: Step[] = [];
  for (const s of [...steps].reverse()) {
    const inv = inverse(s.change, opts);
    if (inv) undo.push({ index: undo.length, taskIndex: s.taskIndex, change: inv });
  }
  return undo;
}

/**
 * Whether the apply script needs a deadline of its own on the host
 * (`timeout`, which costs every host two more programs). vipush's own steps
 * end by themselves: file writes, /proc writes and `ip` are local, and the
 * lock wait has its own limit (flock -w). A user's command, a backend's
 * reload or a dead-man switch can hang, so those scripts get one.
 */
export function needsHostDeadline(steps: readonly Step[], deadman: boolean): boolean {
  return deadman || steps.some((s) => mayHang(s.change));
}
