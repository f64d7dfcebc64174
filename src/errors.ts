import { formatLocation, type Location } from './config/location.js';

/** One problem in the user's input, reported as one line: `file:line:col: message`. */
export interface Diagnostic {
  loc?: Location;
  message: string;
}

export function formatDiagnostic(d: Diagnostic): string {
  const where = formatLocation(d.loc);
  return where ? `${where}: ${d.message}` : d.message;
}

/** Exit codes are part of the CLI contract (issue 2). */
export const ExitCode = {
  ok: 0,
  hostsFailed: 1,
  drift: 2,
  invalidInput: 3,
  locked: 4,
  interrupted: 130,
} as const;

/** Bad input or usage. Nothing on any host has been touched. Exit 3, no stack trace. */
export class UserInputError extends Error {
  readonly diagnostics: Diagnostic[];
  constructor(diagnostics: Diagnostic[] | string) {
    const list = typeof diagnostics === 'string' ? [{ message: diagnostics }] : diagnostics;
    super(list.map(formatDiagnostic).join('\n'));
    this.name = 'UserInputError';
    this.diagnostics = list;
  }
}

/** A failure on one host that the user can act on (unreachable, host key, sudo needs a password...). */
export class HostError extends Error {
  readonly host: string;
  readonly kind: 'unreachable' | 'hostkey' | 'auth' | 'command' | 'timeout' | 'connection-lost' | 'refused';
  /** a host script that ended early: its exit status and the last line of its stderr */
  readonly ended?: { code: number | null; lastStderrLine: string };
  constructor(host: string, kind: HostError['kind'], message: string, ended?: HostError['ended']) {
    super(message);
    this.name = 'HostError';
    this.host = host;
    this.kind = kind;
    if (ended) this.ended = ended;
  }
}
