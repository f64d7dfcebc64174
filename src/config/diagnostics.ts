import { formatDiagnostic, type Diagnostic } from '../errors.js';

/**
 * Diagnostics in reading order (file, line, column), each distinct line once:
 * the same problem found for several hosts, or through several tasks using
 * one broken variable, is reported once.
 */
export function sortDiagnostics(diagnostics: readonly Diagnostic[]): Diagnostic[] {
  const seen = new Set<string>();
  const unique = diagnostics.filter((d) => {
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
