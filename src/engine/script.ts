import { randomBytes } from 'node:crypto';
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
    // names vp_write's temp files: not guessable, so nothing can be planted in their place in advance
    `vp_r=${randomBytes(6).toString('hex')}`,
    SHELL_PRELUDE,
    // Two vipush runs on one host must not interleave their changes.
    `[ -d /run/lock ] || mkdir -p /run/lock; exec 9>>${LOCK_FILE} || exit 1`,
    `flock -w ${lockWaitSeconds} 9 || { echo "another vipush run holds ${LOCK_FILE} on this host" >&2; exit ${LOCK_BUSY_EXIT}; }`,
    // Each step runs in a subshell that captures its output; it comes back as marked lines, printed by
    // builtins: no temp file, program or pipe per step (every program costs the host CPU, fleet-wide).
    "vp_mark() { printf '%s%s %s\\n' \"$m\" \"$1\" \"$2\"; [ -z \"$vp_o\" ] || while IFS= read -r l || [ -n \"$l\" ]; do printf '%sout %s %s\\n' \"$m\" \"$2\" \"$l\"; done <<VIPUSH_OUT\n$vp_o\nVIPUSH_OUT\n}",
  ].join('\n');
}

/** One step: the change in a subshell (so nothing it sets leaks into the next), its output kept in $vp_o. */
function stepLine(s: Step, onFailure: string): string {
  return `if vp_o=$( ${changeShell(s.change)} </dev/null 2>&1 ); then vp_mark done ${s.index}; else vp_mark failed ${s.index}; ${onFailure}; fi`;
}

/**
 * The dead-man switch (commit-confirm, like Junos `commit confirmed` or
 * `netplan try`): before a change that can cut vipush off, the host arms a
 * timer that runs the revert script unless vipush confirms over a NEW SSH
 * connection in time. The timer and the confirmation each try to claim the
 * armed script with an atomic rename, so exactly one of them wins.
 */
export interface Deadman {
  id: string; // [a-z0-9-] only
  timeoutSeconds: number;
  revertScript: string;
}

export const DEADMAN_DIR = '/var/lib/vipush/deadman';
export const DEADMAN_FIRED_EXIT = 3;

function deadmanArm(d: Deadman): string {
  if (!/^[a-z0-9-]+$/.test(d.id)) throw new Error(`bad dead-man id ${d.id}`);
  const dm = `${DEADMAN_DIR}/${d.id}`;
  const fire = `sleep ${d.timeoutSeconds}; mv -f ${dm}.sh ${dm}.run 2>/dev/null && exec /bin/sh ${dm}.run > ${dm}.log 2>&1`;
  return [
    `mkdir -p ${DEADMAN_DIR} && chmod 700 /var/lib/vipush ${DEADMAN_DIR} || exit 72`,
    `printf '%s' '${Buffer.from(d.revertScript).toString('base64')}' | base64 -d > ${dm}.sh || exit 72`,
    `if [ -d /run/systemd/system ] && command -v systemd-run >/dev/null 2>&1; then`,
    `  systemd-run --quiet --collect --unit=vipush-deadman-${d.id} /bin/sh -c '${fire}' 9>&- || exit 72; echo systemd > ${dm}.how`,
    `else`,
    `  setsid /bin/sh -c '${fire}' </dev/null >/dev/null 2>&1 9>&- & echo "pid $!" > ${dm}.how`,
    `fi`,
    `printf '%sarmed\n' "$m"`,
  ].join('\n');
}

/** Run over a new connection: disarms the timer, or exits DEADMAN_FIRED_EXIT if it already fired. */
export function deadmanConfirmScript(id: string): string {
  const dm = `${DEADMAN_DIR}/${id}`;
  return [
    `mv -f ${dm}.sh ${dm}.confirmed 2>/dev/null || { echo "the dead-man switch already fired: the host reverted by itself" >&2; exit ${DEADMAN_FIRED_EXIT}; }`,
    `how=$(cat ${dm}.how 2>/dev/null)`,
    `case "$how" in systemd) systemctl stop vipush-deadman-${id}.service 2>/dev/null;; pid*) kill "\${how#pid }" 2>/dev/null;; esac`,
    `rm -f ${dm}.confirmed ${dm}.how`,
  ].join('\n');
}

/** Stops at the first failing step. */
export function applyScript(steps: Step[], lockWaitSeconds = 30, deadman?: Deadman): string {
  const lines = [prelude(lockWaitSeconds)];
  if (deadman) lines.push(deadmanArm(deadman));
  for (const s of steps) {
    lines.push(stepLine(s, 'exit 70'));
  }
  lines.push(`printf '%send\\n' "$m"`);
  return lines.join('\n') + '\n';
}

/** Runs every step even if one fails: a revert restores as much as it can. */
export function revertScript(steps: Step[], lockWaitSeconds = 30): string {
  const lines = [prelude(lockWaitSeconds), 'rc=0'];
  for (const s of steps) {
    lines.push(stepLine(s, 'rc=71'));
  }
  lines.push(`printf '%send\\n' "$m"`, 'exit $rc');
  return lines.join('\n') + '\n';
}

export function parseOutcomes(stdout: string): { outcomes: Map<number, StepOutcome>; ended: boolean; armed: boolean } {
  const outcomes = new Map<number, StepOutcome>();
  let ended = false;
  let armed = false;
  const output = new Map<number, string[]>();
  for (const line of stdout.split('\n')) {
    if (!line.startsWith(MARK)) continue;
    const rest = line.slice(MARK.length);
    const [kind, idx] = rest.split(' ', 2);
    if (kind === 'end') ended = true;
    if (kind === 'armed') armed = true;
    const index = Number(idx);
    if (kind === 'out') {
      const text = rest.slice(kind.length + 1 + idx.length + 1);
      output.set(index, [...(output.get(index) ?? []), text]);
    }
    if (kind === 'done' || kind === 'failed') outcomes.set(index, { index, ok: kind === 'done', output: '' });
  }
  for (const [index, lines] of output) {
    const o = outcomes.get(index);
    if (o) o.output = lines.join('\n');
  }
  return { outcomes, ended, armed };
}
