import { escapeBlock, escapeField as f } from './escape.js';
import type { JsonReport } from './json.js';

export interface RecapOptions {
  diff: boolean;
  check: boolean;
  mode: 'run' | 'drift' | 'fix';
  verbose: boolean;
}

/**
 * The closing text: what changed (or would), what failed, then Ansible-style PLAY RECAP. Every field that
 * came from a host or a file (f) is escaped where its line is built, so that a newline in it cannot start
 * a line of its own; a diff keeps its lines (escapeBlock).
 */
export function renderRecap(report: JsonReport, o: RecapOptions): string {
  const out: string[] = [];
  const names = Object.keys(report.hosts);
  // The same warning on many hosts is one line, not one per host.
  const warnings = new Map<string, string[]>();
  for (const name of names)
    for (const t of report.hosts[name].tasks)
      for (const w of t.warnings) {
        const key = `${f(t.name)}: ${f(w)}`;
        warnings.set(key, [...(warnings.get(key) ?? []), name]);
      }
  for (const [w, hosts] of warnings) {
    const shown = hosts.length > 5 ? `${hosts.slice(0, 5).map(f).join(', ')} and ${hosts.length - 5} more` : hosts.map(f).join(', ');
    out.push(`[WARN] ${shown}: ${w}`);
  }
  for (const host of names) {
    const h = report.hosts[host];
    const name = f(host);
    for (const t of h.tasks) {
      if ((o.check || o.verbose) && t.status === 'changed' && o.mode === 'run') {
        for (const c of t.changes) out.push(`${o.check ? 'would change' : 'changed'} ${name}: ${f(t.name)}: ${f(c)}`);
      }
      if (o.verbose && t.status === 'skipped' && t.skipReason) out.push(`skipped ${name}: ${f(t.name)}: ${f(t.skipReason)}`);
      if (o.diff && t.diff && t.status !== 'ok') out.push(`--- ${name}: ${f(t.name)}`, escapeBlock(t.diff.trimEnd()));
    }
    if (o.mode !== 'run') {
      for (const d of h.drift) out.push(`drift ${name}: ${f(d.task)}: ${f(d.item)}: expected ${f(d.expected)}, actual ${f(d.actual)}`);
    }
    if (h.error && h.status !== 'skipped') out.push(`[${h.status.toUpperCase()}] ${name}: ${f(h.error)}`);
    if (h.rolledBack) out.push(`[ROLLED BACK] ${name}: restored ${h.restored.length ? h.restored.map(f).join('; ') : 'nothing to restore'}`);
    if (h.rollbackError) out.push(`[ROLLBACK FAILED] ${f(h.rollbackError)}`);
    // what the host's journal said: a run a dead controller or a crash left, or the outcome after a lost connection
    if (h.journal) out.push(`[JOURNAL] ${name}: ${f(h.journal)}`);
  }
  if (report.stoppedReason) out.push(`[STOPPED] ${f(report.stoppedReason)}`);
  if (report.untouched.length) out.push(`[NOT TOUCHED] ${report.untouched.map(f).join(', ')}`);

  out.push('', `PLAY RECAP ${'*'.repeat(60)}`);
  const width = Math.max(8, ...names.map((n) => f(n).length));
  for (const host of names) {
    const h = report.hosts[host];
    const name = f(host);
    const c = { ok: 0, changed: 0, failed: 0, skipped: 0 };
    for (const t of h.tasks) c[t.status]++;
    const unreachable = h.status === 'unreachable' ? 1 : 0;
    const extra = [h.rolledBack ? 'rolled_back=1' : '', o.mode !== 'run' ? `drift=${h.drift.length}` : ''].filter(Boolean).join(' ');
    out.push(
      `${name.padEnd(width)} : ${h.status.padEnd(11)} ok=${c.ok} changed=${c.changed} unreachable=${unreachable} failed=${c.failed} skipped=${c.skipped}${extra ? ' ' + extra : ''}`,
    );
  }
  const s = report.summary;
  out.push(
    `hosts: ${names.length}  ok=${s.ok} changed=${s.changed} failed=${s.failed} unreachable=${s.unreachable} skipped=${s.skipped}  in ${(report.durationMs / 1000).toFixed(2)} s`,
  );
  return out.join('\n') + '\n';
}
