import { randomBytes } from 'node:crypto';
import type { Change } from '../modules/types.js';
import { changeShell, HOST_RUN_DIR, SHELL_PRELUDE } from '../modules/changes.js';

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
export const LOCK_FILE = `${HOST_RUN_DIR}/lock`;
export const LOCK_BUSY_EXIT = 75;
/** sysexits' EX_NOPERM: the script does not run as root. */
export const NOT_ROOT_EXIT = 77;

function prelude(lockWaitSeconds: number): string {
  // A nonce in every marker: a step's own output can't be mistaken for one (it is printed as it is).
  const nonce = randomBytes(6).toString('hex');
  return [
    // It may run in the shell that read the facts: start from a known state, whatever ran before.
    'set -u +e +f',
    "IFS=' \t\n'",
    'umask 022',
    `printf '${MARK}nonce %s\\n' ${nonce}`,
    `m='${MARK}${nonce}:'`,
    // names vp_write's temp files: not guessable, so nothing can be planted in their place in advance
    `vp_r=${nonce}`,
    SHELL_PRELUDE,
    // Before anything else: without root (no become, or become_user not root) every step would fail.
    // A test builtin, no program: root may write /etc whatever its mode.
    `[ -w /etc ] || { echo "vipush needs root on this host, and /etc is not writable for \${USER:-this user}: set ansible_become: true (sudo) or connect as root" >&2; exit ${NOT_ROOT_EXIT}; }`,
    // Two vipush runs on one host must not interleave their changes.
    `[ -d ${HOST_RUN_DIR} ] || mkdir -p -m 700 ${HOST_RUN_DIR} </dev/null || exit 1; exec 9>>${LOCK_FILE} || exit 1`,
    // -E: a wait that timed out exits LOCK_BUSY_EXIT, anything else (no flock, BusyBox's without -w) does not
    `flock -E ${LOCK_BUSY_EXIT} -w ${lockWaitSeconds} 9 </dev/null || { vp_l=$?; [ $vp_l -eq ${LOCK_BUSY_EXIT} ] && echo "another vipush run holds ${LOCK_FILE} on this host" >&2 || echo "vipush needs util-linux's flock (2.26 or later) on this host for its run lock; flock exited $vp_l" >&2; exit $vp_l; }`,
  ].join('\n');
}

/**
 * One step, in the script's own shell: no subshell, temp file or pipe per
 * step (every process costs the host CPU, fleet-wide). Its output goes out
 * as it is, between a begin marker and its outcome.
 */
function stepLine(s: Step, onFailure: string): string {
  return `printf '%sbegin ${s.index}\\n' "$m"; if { ${changeShell(s.change)}; } </dev/null 2>&1; then printf '\\n%sdone ${s.index}\\n' "$m"; else printf '\\n%sfailed ${s.index}\\n' "$m"; ${onFailure}; fi`;
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

/**
 * Whether the apply script needs a deadline of its own on the host
 * (`timeout`, which costs every host two more programs). vipush's own steps
 * end by themselves: file writes, /proc writes and `ip` are local, and the
 * lock wait has its own limit (flock -w). A user's command, a backend's
 * reload (`exec`) or a dead-man switch can hang, so those scripts get one.
 */
export function needsHostDeadline(steps: Step[], deadman?: Deadman): boolean {
  return deadman !== undefined || steps.some((s) => s.change.kind === 'command' || s.change.kind === 'exec');
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
  const lines = stdout.split('\n');
  const first = lines.findIndex((l) => l.startsWith(`${MARK}nonce `));
  if (first < 0) return { outcomes, ended, armed };
  const mark = `${MARK}${lines[first].slice(MARK.length + 6).trim()}:`;
  let open: { index: number; output: string[] } | undefined;
  for (const line of lines.slice(first + 1)) {
    if (!line.startsWith(mark)) {
      open?.output.push(line);
      continue;
    }
    const [kind, idx] = line.slice(mark.length).split(' ', 2);
    const index = Number(idx);
    if (kind === 'end') ended = true;
    else if (kind === 'armed') armed = true;
    else if (kind === 'begin') open = { index, output: [] };
    else if ((kind === 'done' || kind === 'failed') && open?.index === index) {
      // the newline printed before the outcome marker is ours, not the step's
      if (open.output.length > 0 && open.output[open.output.length - 1] === '') open.output.pop();
      outcomes.set(index, { index, ok: kind === 'done', output: open.output.join('\n').trimEnd() });
      open = undefined;
    }
  }
  return { outcomes, ended, armed };
}
