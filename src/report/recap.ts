import type { JsonReport } from './json.js';

/**
 * Text that came from a target (command output, errors) is shown with control
 * characters escaped: a compromised host must not drive the operator's terminal.
 */
export function terminalSafe(text: string): string {
  return text.replace(/[\x00-\x08\x0b-\x1f\x7f\x9b]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

export interface RecapOptions {
  diff: boolean;
  check: boolean;
  mode: 'run' | 'drift' | 'fix';
  verbose: boolean;
}

/** The closing text: what changed (or would), what failed, then Ansible-style PLAY RECAP. */
export function renderRecap(report: JsonReport, o: RecapOptions): string {
  const out: string[] = [];
  const names = Object.keys(report.hosts);
  // The same warning on many hosts is one line, not one per host.
  const warnings = new Map<string, string[]>();
  for (const name of names)
    for (const t of report.hosts[name].tasks)
      for (const w of t.warnings) {
        const key = `${t.name}: ${w}`;
        warnings.set(key, [...(warnings.get(key) ?? []), name]);
      }
  for (const [w, hosts] of warnings)
    out.push(`[WARN] ${hosts.length > 5 ? `${hosts.slice(0, 5).join(', ')} and ${hosts.length - 5} more` : hosts.join(', ')}: ${w}`);
  for (const name of names) {
    const h = report.hosts[name];
    for (const t of h.tasks) {
      if ((o.check || o.verbose) && t.status === 'changed' && o.mode === 'run') {
        for (const c of t.changes) out.push(`${o.check ? 'would change' : 'changed'} ${name}: ${t.name}: ${c}`);
      }
      if (o.diff && t.diff && t.status !== 'ok') out.push(`--- ${name}: ${t.name}`, t.diff.trimEnd());
    }
    if (o.mode !== 'run') {
      for (const d of h.drift) out.push(`drift ${name}: ${d.task}: ${d.item}: expected ${d.expected}, actual ${d.actual}`);
    }
    if (h.error && h.status !== 'skipped') out.push(`[${h.status.toUpperCase()}] ${name}: ${h.error}`);
    if (h.rolledBack) out.push(`[ROLLED BACK] ${name}: restored ${h.restored.length ? h.restored.join('; ') : 'nothing to restore'}`);
    if (h.rollbackError) out.push(`[ROLLBACK FAILED] ${h.rollbackError}`);
  }
  if (report.stoppedReason) out.push(`[STOPPED] ${report.stoppedReason}`);
  if (report.untouched.length) out.push(`[NOT TOUCHED] ${report.untouched.join(', ')}`);

  out.push('', `PLAY RECAP ${'*'.repeat(60)}`);
  const width = Math.max(8, ...names.map((n) => n.length));
  for (const name of names) {
    const h = report.hosts[name];
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
  return terminalSafe(out.join('\n')) + '\n';
}
