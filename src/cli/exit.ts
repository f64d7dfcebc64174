import { ExitCode, UserInputError } from '../errors.js';
import type { JsonReport } from '../report/json.js';
import { RunLockedError } from './lock.js';

/** The one place errors map to exit codes. */
export function exitCodeFor(e: unknown): number {
  if (e instanceof UserInputError) return ExitCode.invalidInput;
  if (e instanceof RunLockedError) return ExitCode.locked;
  return 70; // EX_SOFTWARE: a bug
}

export function exitCodeForRun(report: JsonReport, mode: 'run' | 'drift' | 'fix', interrupted: boolean): number {
  if (interrupted) return ExitCode.interrupted;
  const s = report.summary;
  if (s.failed > 0 || s.unreachable > 0 || report.stoppedReason) return ExitCode.hostsFailed;
  if (mode === 'drift' && Object.values(report.hosts).some((h) => h.drift.length > 0)) return ExitCode.drift;
  if (mode === 'fix') {
    // What --fix could not repair (e.g. a later sysctl.d file that overrides ours) is still drift.
    const left = Object.values(report.hosts).some((h) => h.status === 'ok' && h.drift.length > 0 && h.tasks.every((t) => t.status === 'ok'));
    if (left) return ExitCode.drift;
  }
  return ExitCode.ok;
}
