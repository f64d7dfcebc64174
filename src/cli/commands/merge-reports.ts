import { readFile } from 'node:fs/promises';
import { ExitCode, UserInputError } from '../../errors.js';
import type { JsonReport } from '../../report/json.js';
import { writePrivateFile } from '../../state/private-file.js';
import { mergeReports } from '../../report/merge.js';
import { safeJson } from '../../report/escape.js';
import type { Command } from '../command.js';
import { MERGE_HELP } from '../help.js';
import { connectionOptions } from '../options.js';

export const mergeReportsCommand: Command = {
  name: 'merge-reports',
  help: MERGE_HELP,
  options: { out: { type: 'string', short: 'o' }, help: connectionOptions.help },
  async handler({ values, positionals }) {
    const reports: Array<{ file: string; report: JsonReport }> = [];
    for (const file of positionals) {
      let report: JsonReport;
      try {
        report = JSON.parse(await readFile(file, 'utf8')) as JsonReport;
      } catch (e) {
        throw new UserInputError(`${file}: cannot read a JSON report: ${(e as Error).message.split('\n')[0]}`);
      }
      reports.push({ file, report });
    }
    const merged = mergeReports(reports);
    const text = safeJson(merged, 2) + '\n';
    if (typeof values.out === 'string') await writePrivateFile(values.out, text);
    else process.stdout.write(text);
    const s = merged.summary;
    const counts = `ok=${s.ok} changed=${s.changed} failed=${s.failed} unreachable=${s.unreachable} skipped=${s.skipped}`;
    process.stderr.write(`merged ${reports.length} report(s): ${Object.keys(merged.hosts).length} hosts, ${counts}\n`);
    return s.failed || s.unreachable ? ExitCode.hostsFailed : ExitCode.ok;
  },
};
