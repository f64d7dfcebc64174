import type { JsonReport } from './json.js';
import { summarise } from './json.js';
import { UserInputError } from '../errors.js';

/**
 * Merges the JSON reports of shards of one run (`--shard K/N` on N
 * controllers) into one report of the same shape. A host that appears in two
 * reports is an error: shards never overlap.
 */
export function mergeReports(reports: Array<{ file: string; report: JsonReport }>): JsonReport {
  if (reports.length === 0) throw new UserInputError('merge-reports: give at least one report file');
  const first = reports[0].report;
  const hosts: JsonReport['hosts'] = {};
  const seen = new Map<string, string>();
  const problems: string[] = [];
  for (const { file, report } of reports) {
    if (report.version !== 1) problems.push(`${file}: not a vipush report (version ${String(report.version)})`);
    if (report.playbook !== first.playbook || report.mode !== first.mode || report.check !== first.check) {
      problems.push(`${file}: a different run (${report.mode} of ${report.playbook}) than ${reports[0].file} (${first.mode} of ${first.playbook})`);
    }
    for (const [name, h] of Object.entries(report.hosts ?? {})) {
      if (seen.has(name)) problems.push(`${file}: host ${name} is also in ${seen.get(name)}; shards must not overlap`);
      seen.set(name, file);
      hosts[name] = h;
    }
  }
  if (problems.length) throw new UserInputError(problems.map((message) => ({ message })));
  const starts = reports.map((r) => Date.parse(r.report.startedAt));
  const ends = reports.map((r) => Date.parse(r.report.startedAt) + r.report.durationMs);
  const sorted = Object.fromEntries(Object.entries(hosts).sort(([a], [b]) => a.localeCompare(b)));
  return {
    ...first,
    runId: reports.map((r) => r.report.runId).join('+'),
    startedAt: new Date(Math.min(...starts)).toISOString(),
    durationMs: Math.max(...ends) - Math.min(...starts),
    hosts: sorted,
    untouched: [...new Set(reports.flatMap((r) => r.report.untouched ?? []))].sort(),
    stoppedReason:
      reports
        .map((r) => r.report.stoppedReason)
        .filter(Boolean)
        .join('; ') || null,
    // each shard ran its own gates after its own batches
    gates: reports.flatMap((r) => r.report.gates ?? []),
    summary: summarise(Object.values(sorted).map((h) => ({ host: '', ...h }))),
  };
}
