import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writePrivateFile } from '../state/private-file.js';
import { safeJson } from './escape.js';
import type { JsonReport } from './json.js';

/** Keeps the newest `keep` reports in `dir`, named by run id (which starts with a UTC timestamp). */
export async function writeHistory(dir: string, report: JsonReport, keep: number): Promise<string> {
  const path = join(dir, `${report.runId}.json`);
  await writePrivateFile(path, safeJson(report, 2) + '\n');
  const names = (await readdir(dir)).filter((n) => /^\d{8}T\d{6}Z-[0-9a-f]+\.json$/.test(n)).sort();
  for (const old of names.slice(0, Math.max(0, names.length - keep))) await rm(join(dir, old), { force: true });
  return path;
}
