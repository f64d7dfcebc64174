import type { Change } from '../modules/types.js';
import { changeShell, SHELL_PRELUDE } from '../modules/changes.js';

/**
 * A host's whole plan runs as ONE remote script (one SSH round trip). Each
 * step prints a marker with its combined output, so the engine knows exactly
 * which steps took effect and can undo just those.
 */
export interface Step {
  index: number;
  taskIndex: number;
  change: Change;
}

export interface StepOutcome {
  index: number;
  ok: boolean;
  output: string;
}

const MARK = '@@vipush:';
export const LOCK_FILE = '/run/lock/vipush.lock';
export const LOCK_BUSY_EXIT = 75;

function prelude(lockWaitSeconds: number): string {
  return [
    'set -u',
    `m='${MARK}'`,
    SHELL_PRELUDE,
    // Two vipush runs on one host must not interleave their changes.
    `mkdir -p /run/lock 2>/dev/null; exec 9>>${LOCK_FILE} || exit 1`,
    `flock -w ${lockWaitSeconds} 9 || { echo "another vipush run holds ${LOCK_FILE} on this host" >&2; exit ${LOCK_BUSY_EXIT}; }`,
    'vp_out() { printf %s "$1" | base64 -w0; }',
  ].join('\n');
}

/** Stops at the first failing step. */
export function applyScript(steps: Step[], lockWaitSeconds = 30): string {
  const lines = [prelude(lockWaitSeconds)];
  for (const s of steps) {
    lines.push(
      `if o=$( ${changeShell(s.change)} 2>&1 ); then printf '%sdone ${s.index} %s\\n' "$m" "$(vp_out "$o")"; else printf '%sfailed ${s.index} %s\\n' "$m" "$(vp_out "$o")"; exit 70; fi`,
    );
  }
  lines.push(`printf '%send\\n' "$m"`);
  return lines.join('\n') + '\n';
}

/** Runs every step even if one fails: a revert restores as much as it can. */
export function revertScript(steps: Step[], lockWaitSeconds = 30): string {
  const lines = [prelude(lockWaitSeconds), 'rc=0'];
  for (const s of steps) {
    lines.push(
      `if o=$( ${changeShell(s.change)} 2>&1 ); then printf '%sdone ${s.index} %s\\n' "$m" "$(vp_out "$o")"; else printf '%sfailed ${s.index} %s\\n' "$m" "$(vp_out "$o")"; rc=71; fi`,
    );
  }
  lines.push(`printf '%send\\n' "$m"`, 'exit $rc');
  return lines.join('\n') + '\n';
}

export function parseOutcomes(stdout: string): { outcomes: Map<number, StepOutcome>; ended: boolean } {
  const outcomes = new Map<number, StepOutcome>();
  let ended = false;
  for (const line of stdout.split('\n')) {
    if (!line.startsWith(MARK)) continue;
    const [kind, idx, b64] = line.slice(MARK.length).split(' ');
    if (kind === 'end') ended = true;
    if (kind !== 'done' && kind !== 'failed') continue;
    const index = Number(idx);
    outcomes.set(index, { index, ok: kind === 'done', output: Buffer.from(b64 ?? '', 'base64').toString('utf8') });
  }
  return { outcomes, ended };
}
