// The errors vipush throws on purpose, in one place for the CLI's exit-code mapping. The input errors are
// defined in src/source, below config and inventory, so that those folders need nothing from here.
export { formatDiagnostic, UserInputError, type Diagnostic } from './source/diagnostics.js';

/** Exit codes are part of the CLI contract (issue 2). */
export const ExitCode = {
  ok: 0,
  hostsFailed: 1,
  drift: 2,
  invalidInput: 3,
  locked: 4,
  interrupted: 130,
} as const;

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
