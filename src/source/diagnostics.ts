import { formatLocation, type Location } from './location.js';
import { escapeField } from '../text/escape.js';

/** One problem in the user's input, reported as one line: `file:line:col: message`. */
export interface Diagnostic {
  loc?: Location;
  message: string;
}

export function formatDiagnostic(d: Diagnostic): string {
  const where = formatLocation(d.loc);
  return where ? `${where}: ${d.message}` : d.message;
}

/**
 * Bad input or usage. Nothing on any host has been touched. Exit 3, no stack trace.
 * It lives beside Diagnostic, not in errors.ts, so that the readers of input files
 * can throw it without importing anything above them.
 */
export class UserInputError extends Error {
  readonly diagnostics: Diagnostic[];
  constructor(diagnostics: Diagnostic[] | string) {
    const list = typeof diagnostics === 'string' ? [{ message: diagnostics }] : diagnostics;
    super(list.map(formatDiagnostic).join('\n'));
    this.name = 'UserInputError';
    this.diagnostics = list;
  }
}

/**
 * A message as one line of plain text: control characters that came in with
 * a value or a key (a newline, a terminal escape sequence) are shown escaped,
 * never obeyed by the terminal that prints the message.
 */
export function oneLine(message: string): string {
  return escapeField(message);
}

/** The same diagnostics, each message made oneLine(). */
export function oneLineEach(diagnostics: readonly Diagnostic[]): Diagnostic[] {
  return diagnostics.map((d) => ({ ...d, message: oneLine(d.message) }));
}

/**
 * Diagnostics in reading order (file, line, column), each distinct line once:
 * the same problem found for several hosts, or through several tasks using
 * one broken variable, is reported once.
 */
export function sortDiagnostics(diagnostics: readonly Diagnostic[]): Diagnostic[] {
  const seen = new Set<string>();
  const unique = oneLineEach(diagnostics).filter((d) => {
    const line = formatDiagnostic(d);
    if (seen.has(line)) return false;
    seen.add(line);
    return true;
  });
  return unique
    .map((d, i) => ({ d, i }))
    .sort((a, b) => {
      const la = a.d.loc;
      const lb = b.d.loc;
      if (!la || !lb) return la ? 1 : lb ? -1 : a.i - b.i;
      if (la.file !== lb.file) return la.file < lb.file ? -1 : 1;
      return la.line - lb.line || la.col - lb.col || a.i - b.i;
    })
    .map(({ d }) => d);
}
