import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { preparePlays, runPlays } from '../../engine/run.js';
import { removeRun, saveHostSnapshot, saveRunHeader, type HostSnapshot } from '../../state/snapshots.js';
import type { RunEvents } from '../../engine/types.js';
import { UserInputError } from '../../errors.js';
import { selectHosts } from '../../inventory/pattern.js';
import type { Inventory } from '../../inventory/types.js';
import { connectionVars, hostVars, parseExtraVars } from '../../inventory/vars.js';
import { writeHistory } from '../../report/history.js';
import { buildReport } from '../../report/json.js';
import { writePrivateFile } from '../../state/private-file.js';
import { renderRecap } from '../../report/recap.js';
import { safeJson } from '../../report/escape.js';
import { fanOut, JsonLines, TerminalProgress } from '../../report/terminal.js';
import { shJoin, shQuote } from '../../remote/quote.js';
import type { Command, CommandArgs } from '../command.js';
import { exitCodeForRun } from '../exit.js';
import { DRIFT_HELP, RUN_HELP } from '../help.js';
import { inventoryWarner, loadInputs, makeConnector } from '../inputs.js';
import { acquireRunLock } from '../lock.js';
import {
  connectionOptions,
  connectionTimeouts,
  extraVarsOption,
  intOption,
  inventoryLabel,
  parseShard,
  requireInventory,
  requirePlaybook,
  resolveSource,
} from '../options.js';
import { interruptibleRun } from '../signals.js';

// run and drift are one pipeline stopped at different points (see the architecture notes); they differ only in mode.
export const runCommand: Command = {
  name: 'run',
  help: RUN_HELP,
  options: { ...connectionOptions, check: { type: 'boolean', short: 'C' }, diff: { type: 'boolean', short: 'D' } },
  handler: (args) => runPlaybook('run', args),
};

export const driftCommand: Command = {
  name: 'drift',
  help: DRIFT_HELP,
  options: { ...connectionOptions, fix: { type: 'boolean' }, diff: { type: 'boolean', short: 'D' } },
  handler: (args) => runPlaybook('drift', args),
};

async function runPlaybook(name: 'run' | 'drift', { values, positionals }: CommandArgs): Promise<number> {
  const playbookPath = requirePlaybook(positionals, name);
  const inventorySources = requireInventory(values, name);
  const inventoryPath = inventoryLabel(inventorySources.map((s) => resolveSource(s)));
  const mode = name === 'run' ? 'run' : values.fix ? 'fix' : 'drift';
  const check = name === 'run' && !!values.check;
  const forks = intOption(values, 'forks', 50, 1, 10_000);
  const { connectTimeoutMs, commandTimeoutMs } = connectionTimeouts(values);
  const logFormat = (values['log-format'] as string | undefined) ?? 'text';
  if (logFormat !== 'text' && logFormat !== 'json') throw new UserInputError(`--log-format must be text or json, not "${logFormat}"`);

  const { playbook, inventory } = await loadInputs(playbookPath, inventorySources);
  const extraVars = parseExtraVars(extraVarsOption(values));
  const shard = parseShard(values.shard);
  const plays = preparePlays(playbook, inventory, { limit: values.limit as string | undefined, extraVars, shard, warn: inventoryWarner() });

  const lock = await acquireRunLock({ playbook: resolve(playbookPath), inventory: inventoryPath, shard: shard && `${shard.index}/${shard.count}` });
  const run = interruptibleRun();

  const started = new Date();
  const runId = `${started
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')}-${randomBytes(3).toString('hex')}`;
  const quiet = !!values.quiet || logFormat === 'json';
  const progress =
    logFormat === 'text'
      ? new TerminalProgress(
          plays.map((p) => p.play.name),
          quiet,
        )
      : undefined;
  const sinks: RunEvents[] = [];
  if (progress) sinks.push(progress);
  if (logFormat === 'json') sinks.push(new JsonLines());
  const changes = !check && mode !== 'drift';
  const unsaved = new Map<string, string>();
  const keep = async (host: string, part: HostSnapshot | undefined) => {
    try {
      await saveHostSnapshot(runId, host, part);
      unsaved.delete(host);
    } catch (e) {
      unsaved.set(host, (e as Error).message);
    }
  };
  try {
    // the undo record: a header now, each host's part as soon as it has changed (a crash keeps what is written)
    const recordDir = changes
      ? await saveRunHeader({ version: 1, runId, playbook: resolve(playbookPath), inventory: inventoryPath, createdAt: started.toISOString() })
      : undefined;
    progress?.start();
    const result = await runPlays(plays, {
      runId,
      ...(changes ? { keep } : {}),
      mode,
      check,
      diff: !!values.diff,
      forks,
      commandTimeoutMs,
      events: fanOut(...sinks),
      signal: run.signal,
      vantage: vantageResolver(inventory),
      connect: await makeConnector(values, connectTimeoutMs, commandTimeoutMs),
    });
    await progress?.finish();
    const report = buildReport(
      { playbook: playbookPath, inventory: inventoryPath, startedAt: started, durationMs: Date.now() - started.getTime(), check, mode, runId },
      result,
    );
    if (typeof values.report === 'string') await writePrivateFile(values.report, safeJson(report, 2) + '\n');
    if (typeof values.history === 'string') await writeHistory(values.history, report, intOption(values, 'history-keep', 50, 1, 100_000));
    for (const [host, why] of unsaved) process.stderr.write(`vipush: the undo record of ${host} could not be saved: ${why}\n`);
    if (result.applied.size > 0) {
      const path = recordDir;
      if (logFormat === 'text' && !values.quiet) {
        process.stdout.write(`run ${runId}: what it changed is saved in ${path}; \`${rollbackCommandLine(runId, inventorySources)}\` undoes it\n`);
      }
    } else if (recordDir) await removeRun(runId);
    const exit = exitCodeForRun(report, mode, run.signal.aborted);
    if (logFormat === 'json') {
      process.stdout.write(safeJson({ time: new Date().toISOString(), event: 'run_done', runId, summary: report.summary, exit }) + '\n');
    } else {
      process.stdout.write(renderRecap(report, { diff: !!values.diff, check, mode, verbose: !!values.verbose }));
    }
    return exit;
  } finally {
    run.end();
    await lock.release();
  }
}

/** Health gates name their vantage host by host name or group; a group means its first host. */
function vantageResolver(inv: Inventory) {
  return (name: string) => {
    const hosts = inv.hosts.has(name) ? [name] : selectHosts(inv, name);
    return connectionVars(hosts[0], hostVars(inv, hosts[0]));
  };
}

/** The command that undoes a run, ready to paste: quoted, and with the state directory when it is not the default. */
function rollbackCommandLine(runId: string, inventorySources: string[]): string {
  const command = shJoin(['vipush', 'rollback', '--run', runId, ...inventorySources.flatMap((s) => ['-i', s])]);
  const dir = process.env.VIPUSH_STATE_DIR;
  return dir ? `VIPUSH_STATE_DIR=${shQuote(dir)} ${command}` : command;
}
