import { randomBytes } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { loadPlaybook } from '../config/playbook.js';
import { suggest } from '../config/suggest.js';
import { preparePlays, runPlays, type Connector } from '../engine/run.js';
import { mergeReports } from '../report/merge.js';
import type { JsonReport } from '../report/json.js';
import { readFile } from 'node:fs/promises';
import { KnownHostsVerifier } from '../transport/known-hosts.js';
import { shJoin, shQuote } from '../transport/quote.js';
import { homedir } from 'node:os';
import { ExitCode, UserInputError, formatDiagnostic } from '../errors.js';
import { inventoryList } from '../inventory/list.js';
import { loadInventory } from '../inventory/load.js';
import { limitHosts, selectHosts } from '../inventory/pattern.js';
import { connectionVars, hostVars, parseExtraVars } from '../inventory/vars.js';
import type { Inventory } from '../inventory/types.js';
import { buildReport, writePrivateFile } from '../report/json.js';
import { renderRecap } from '../report/recap.js';
import { fanOut, JsonLines, TerminalProgress } from '../report/terminal.js';
import type { RunEvents } from '../engine/types.js';
import { connectHost } from '../transport/ssh.js';
import { loadSnapshot, saveSnapshot, listSnapshots, stateDir } from '../engine/snapshots.js';
import { rollbackRun } from '../engine/rollback.js';
import { acquireRunLock, RunLockedError } from './lock.js';
import { DRIFT_HELP, INVENTORY_HELP, MAIN_HELP, MERGE_HELP, ROLLBACK_HELP, RUN_HELP, SCHEDULE_HELP, VALIDATE_HELP } from './help.js';
import { scheduleUnits } from './schedule.js';
import { writeHistory } from '../report/history.js';
import { exitCodeFor, exitCodeForRun } from './exit.js';
import { connectionOptions, connectionTimeouts, extraVarsOption, intOption, parseShard, requireInventory, requirePlaybook, type Values } from './options.js';
import { installSignalHandlers, interruptibleRun } from './signals.js';

const commands = {
  run: { help: RUN_HELP, options: { ...connectionOptions, check: { type: 'boolean', short: 'C' }, diff: { type: 'boolean', short: 'D' } } },
  drift: { help: DRIFT_HELP, options: { ...connectionOptions, fix: { type: 'boolean' }, diff: { type: 'boolean', short: 'D' } } },
  validate: {
    help: VALIDATE_HELP,
    options: { inventory: connectionOptions.inventory, limit: connectionOptions.limit, 'extra-vars': connectionOptions['extra-vars'], help: connectionOptions.help },
  },
  schedule: {
    help: SCHEDULE_HELP,
    options: {
      inventory: connectionOptions.inventory,
      every: { type: 'string' },
      fix: { type: 'boolean' },
      install: { type: 'boolean' },
      'known-hosts': connectionOptions['known-hosts'],
      'private-key': connectionOptions['private-key'],
      user: connectionOptions.user,
      limit: connectionOptions.limit,
      'extra-vars': connectionOptions['extra-vars'],
      help: connectionOptions.help,
    },
  },
  'merge-reports': { help: MERGE_HELP, options: { out: { type: 'string', short: 'o' }, help: connectionOptions.help } },
  rollback: { help: ROLLBACK_HELP, options: { ...connectionOptions, run: { type: 'string' }, list: { type: 'boolean' } } },
  inventory: { help: INVENTORY_HELP, options: { inventory: connectionOptions.inventory, limit: connectionOptions.limit, list: { type: 'boolean' }, help: connectionOptions.help } },
} as const;

type CommandName = keyof typeof commands;

function parse(name: CommandName, argv: string[]): { values: Values; positionals: string[] } {
  const options = commands[name].options as ParseArgsConfig['options'];
  try {
    const r = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    return { values: r.values as Values, positionals: r.positionals };
  } catch (e) {
    const msg = (e as Error).message;
    const m = /Unknown option '(-{1,2}[^']+)'/.exec(msg);
    if (m) {
      const near = suggest(m[1].replace(/^-+/, ''), Object.keys(options ?? {}));
      throw new UserInputError(`vipush ${name}: unknown option ${m[1]}${near ? ` (did you mean --${near}?)` : ''}; see vipush ${name} --help`);
    }
    throw new UserInputError(`vipush ${name}: ${msg.split('\n')[0]}; see vipush ${name} --help`);
  }
}

/** Loads both files; errors from both are reported together. */
async function loadInputs(playbookPath: string, inventoryPath: string) {
  const [pb, inv] = await Promise.allSettled([loadPlaybook(playbookPath), loadInventory(inventoryPath)]);
  const errors = [pb, inv].filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as unknown);
  if (errors.length > 0) {
    const diags = errors.flatMap((e) => (e instanceof UserInputError ? e.diagnostics : []));
    if (diags.length !== errors.length || errors.some((e) => !(e instanceof UserInputError))) {
      const bug = errors.find((e) => !(e instanceof UserInputError));
      if (bug) throw bug;
    }
    throw new UserInputError(diags);
  }
  return { playbook: (pb as PromiseFulfilledResult<Awaited<ReturnType<typeof loadPlaybook>>>).value, inventory: (inv as PromiseFulfilledResult<Inventory>).value };
}

/** One connector per run: known_hosts is parsed once and shared by every connection. */
async function makeConnector(values: Values, connectTimeoutMs: number, commandTimeoutMs: number): Promise<Connector> {
  const home = process.env.HOME || homedir();
  const knownHostsFiles = typeof values['known-hosts'] === 'string' ? [values['known-hosts']] : [join(home, '.ssh', 'known_hosts'), '/etc/ssh/ssh_known_hosts'];
  const knownHosts = await KnownHostsVerifier.load(knownHostsFiles);
  return (conn) =>
    connectHost(conn, {
      knownHostsFiles,
      knownHosts,
      acceptNewHostKeys: !!values['accept-new-host-keys'],
      privateKeyFile: values['private-key'] as string | undefined,
      user: values.user as string | undefined,
      connectTimeoutMs,
      commandTimeoutMs,
      logger: { debug: () => undefined, warn: (m) => process.stderr.write(`vipush: warning: ${m}\n`) },
    });
}

function vantageResolver(inv: Inventory) {
  return (name: string) => {
    const hosts = inv.hosts.has(name) ? [name] : selectHosts(inv, name);
    return connectionVars(hosts[0], hostVars(inv, hosts[0]));
  };
}

async function cmdValidate(argv: string[]): Promise<number> {
  const { values, positionals } = parse('validate', argv);
  if (values.help) return help(VALIDATE_HELP);
  const { playbook, inventory } = await loadInputs(requirePlaybook(positionals, 'validate'), requireInventory(values, 'validate'));
  const plays = preparePlays(playbook, inventory, { limit: values.limit as string | undefined, extraVars: parseExtraVars(extraVarsOption(values)) });
  const hosts = new Set(plays.flatMap((p) => p.hosts.map((h) => h.name)));
  const tasks = plays.reduce((n, p) => n + p.play.tasks.length, 0);
  process.stdout.write(`${playbook.file}: ${plays.length} play(s), ${tasks} task(s), ${hosts.size} host(s): valid\n`);
  return ExitCode.ok;
}

async function cmdInventory(argv: string[]): Promise<number> {
  const { values, positionals } = parse('inventory', argv);
  if (values.help) return help(INVENTORY_HELP);
  if (positionals.length) throw new UserInputError(`vipush inventory: unexpected argument "${positionals[0]}"; see vipush inventory --help`);
  const inv = await loadInventory(requireInventory(values, 'inventory'));
  if (values.list) {
    process.stdout.write(JSON.stringify(inventoryList(inv, values.limit as string | undefined), null, 4) + '\n');
    return ExitCode.ok;
  }
  let hosts = selectHosts(inv, 'all');
  if (typeof values.limit === 'string') hosts = limitHosts(inv, hosts, values.limit);
  process.stdout.write(hosts.map((h) => `${h}\n`).join(''));
  return ExitCode.ok;
}

async function cmdRun(name: 'run' | 'drift', argv: string[]): Promise<number> {
  const { values, positionals } = parse(name, argv);
  if (values.help) return help(commands[name].help);
  const playbookPath = requirePlaybook(positionals, name);
  const inventoryPath = requireInventory(values, name);
  const mode = name === 'run' ? 'run' : values.fix ? 'fix' : 'drift';
  const check = name === 'run' && !!values.check;
  const forks = intOption(values, 'forks', 50, 1, 10_000);
  const { connectTimeoutMs, commandTimeoutMs } = connectionTimeouts(values);
  const logFormat = (values['log-format'] as string | undefined) ?? 'text';
  if (logFormat !== 'text' && logFormat !== 'json') throw new UserInputError(`--log-format must be text or json, not "${logFormat}"`);

  const { playbook, inventory } = await loadInputs(playbookPath, inventoryPath);
  const extraVars = parseExtraVars(extraVarsOption(values));
  const shard = parseShard(values.shard);
  const plays = preparePlays(playbook, inventory, { limit: values.limit as string | undefined, extraVars, shard });

  const lock = await acquireRunLock({ playbook: resolve(playbookPath), inventory: resolve(inventoryPath), shard: shard && `${shard.index}/${shard.count}` });
  const run = interruptibleRun();

  const started = new Date();
  const runId = `${started.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${randomBytes(3).toString('hex')}`;
  const quiet = !!values.quiet || logFormat === 'json';
  const progress = logFormat === 'text' ? new TerminalProgress(plays.map((p) => p.play.name), quiet) : undefined;
  const sinks: RunEvents[] = [];
  if (progress) sinks.push(progress);
  if (logFormat === 'json') sinks.push(new JsonLines());
  progress?.start();
  try {
    const result = await runPlays(plays, {
      runId,
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
    if (typeof values.report === 'string') await writePrivateFile(values.report, JSON.stringify(report, null, 2) + '\n');
    if (typeof values.history === 'string') await writeHistory(values.history, report, intOption(values, 'history-keep', 50, 1, 100_000));
    if (result.applied.size > 0) {
      const hosts = Object.fromEntries([...result.applied].map(([h, a]) => [h, a]));
      const path = await saveSnapshot({ version: 1, runId, playbook: resolve(playbookPath), inventory: resolve(inventoryPath), createdAt: started.toISOString(), hosts });
      if (logFormat === 'text' && !values.quiet) process.stdout.write(`run ${runId}: what it changed is saved in ${path}; \`${rollbackCommand(runId, inventoryPath)}\` undoes it\n`);
    }
    if (logFormat === 'json') process.stdout.write(JSON.stringify({ time: new Date().toISOString(), event: 'run_done', runId, summary: report.summary, exit: exitCodeForRun(report, mode, run.signal.aborted) }) + '\n');
    else process.stdout.write(renderRecap(report, { diff: !!values.diff, check, mode, verbose: !!values.verbose }));
    return exitCodeForRun(report, mode, run.signal.aborted);
  } finally {
    run.end();
    await lock.release();
  }
}

async function cmdMergeReports(argv: string[]): Promise<number> {
  const { values, positionals } = parse('merge-reports', argv);
  if (values.help) return help(MERGE_HELP);
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
  const text = JSON.stringify(merged, null, 2) + '\n';
  if (typeof values.out === 'string') await writePrivateFile(values.out, text);
  else process.stdout.write(text);
  const s = merged.summary;
  process.stderr.write(`merged ${reports.length} report(s): ${Object.keys(merged.hosts).length} hosts, ok=${s.ok} changed=${s.changed} failed=${s.failed} unreachable=${s.unreachable} skipped=${s.skipped}\n`);
  return s.failed || s.unreachable ? ExitCode.hostsFailed : ExitCode.ok;
}

async function cmdSchedule(argv: string[]): Promise<number> {
  const { values, positionals } = parse('schedule', argv);
  if (values.help) return help(SCHEDULE_HELP);
  const playbookPath = requirePlaybook(positionals, 'schedule');
  const inventoryPath = requireInventory(values, 'schedule');
  if (typeof values.every !== 'string') throw new UserInputError('vipush schedule: --every INTERVAL is required (e.g. --every 15m)');
  // Refuse to schedule something that would fail on its first run.
  const { playbook, inventory } = await loadInputs(playbookPath, inventoryPath);
  preparePlays(playbook, inventory, { limit: values.limit as string | undefined, extraVars: parseExtraVars(extraVarsOption(values)) });
  const extra: string[] = [];
  for (const k of ['known-hosts', 'private-key', 'user', 'limit'] as const) if (typeof values[k] === 'string') extra.push(`--${k}`, resolveIfPath(k, values[k] as string));
  for (const e of extraVarsOption(values)) extra.push('-e', e);
  const units = scheduleUnits({
    playbook: playbookPath,
    inventory: inventoryPath,
    every: values.every,
    fix: !!values.fix,
    vipush: ownBinPath(),
    node: process.execPath,
    extra,
  });
  if (!values.install) {
    process.stdout.write(
      `# /etc/systemd/system/${units.name}.service\n${units.service}\n# /etc/systemd/system/${units.name}.timer\n${units.timer}\n` +
        `# or, without systemd, one line in /etc/cron.d/${units.name}:\n${units.cron}\n\n# install with: vipush schedule ${argv.join(' ')} --install\n`,
    );
    return ExitCode.ok;
  }
  if (!existsSync('/run/systemd/system')) {
    throw new UserInputError(`vipush schedule --install needs systemd as init; without it, put this line in /etc/cron.d/${units.name}:\n${units.cron}`);
  }
  await writeFile(`/etc/systemd/system/${units.name}.service`, units.service, { mode: 0o644 });
  await writeFile(`/etc/systemd/system/${units.name}.timer`, units.timer, { mode: 0o644 });
  execFileSync('systemctl', ['daemon-reload']);
  execFileSync('systemctl', ['enable', '--now', `${units.name}.timer`]);
  process.stdout.write(`installed and started ${units.name}.timer; see: systemctl list-timers ${units.name}.timer, journalctl -u ${units.name}\n`);
  return ExitCode.ok;
}

function resolveIfPath(key: string, value: string): string {
  return key === 'known-hosts' || key === 'private-key' ? resolve(value) : value;
}

async function cmdRollback(argv: string[]): Promise<number> {
  const { values, positionals } = parse('rollback', argv);
  if (values.help) return help(ROLLBACK_HELP);
  if (positionals.length) throw new UserInputError(`vipush rollback: unexpected argument "${positionals[0]}"; see vipush rollback --help`);
  if (values.list) {
    const runs = await listSnapshots();
    process.stdout.write(runs.length ? runs.map((r) => `${r}\n`).join('') : `no saved runs in ${stateDir()}\n`);
    return ExitCode.ok;
  }
  const runId = values.run;
  if (typeof runId !== 'string' || !/^[A-Za-z0-9-]+$/.test(runId)) throw new UserInputError('vipush rollback: --run RUN_ID is required (see vipush rollback --list)');
  const inventoryPath = requireInventory(values, 'rollback');
  const inventory = await loadInventory(inventoryPath);
  const snap = await loadSnapshot(runId);
  if (!snap) throw new UserInputError(`vipush rollback: no saved run ${runId} in ${stateDir()} (see vipush rollback --list)`);
  let hosts = Object.keys(snap.hosts);
  if (typeof values.limit === 'string') {
    const allowed = new Set(limitHosts(inventory, selectHosts(inventory, 'all'), values.limit));
    hosts = hosts.filter((h) => allowed.has(h));
  }
  const { connectTimeoutMs, commandTimeoutMs } = connectionTimeouts(values);
  const connect = await makeConnector(values, connectTimeoutMs, commandTimeoutMs);
  const results = await rollbackRun(snap, hosts, {
    forks: intOption(values, 'forks', 50, 1, 10_000),
    commandTimeoutMs,
    connect: (host) => connect(inventory.hosts.has(host) ? connectionVars(host, hostVars(inventory, host)) : snap.hosts[host].conn),
  });
  let failed = 0;
  for (const r of results) {
    if (r.error) failed++;
    process.stdout.write(`${r.host}: ${r.error ? `FAILED: ${r.error}` : `restored ${r.restored.length ? r.restored.join('; ') : 'nothing (already as before)'}`}\n`);
  }
  process.stdout.write(`rollback of ${runId}: ${results.length - failed} host(s) restored, ${failed} failed\n`);
  return failed ? ExitCode.hostsFailed : ExitCode.ok;
}

function help(text: string): number {
  process.stdout.write(text);
  return ExitCode.ok;
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') return help(MAIN_HELP);
  if (cmd === '--version') {
    process.stdout.write('vipush 0.1.0\n');
    return ExitCode.ok;
  }
  switch (cmd) {
    case 'run':
    case 'drift':
      return cmdRun(cmd, rest);
    case 'validate':
      return cmdValidate(rest);
    case 'inventory':
      return cmdInventory(rest);
    case 'rollback':
      return cmdRollback(rest);
    case 'schedule':
      return cmdSchedule(rest);
    case 'merge-reports':
      return cmdMergeReports(rest);
    default: {
      const near = suggest(cmd, Object.keys(commands));
      throw new UserInputError(`unknown command "${cmd}"${near ? ` (did you mean "${near}"?)` : ''}; see vipush --help`);
    }
  }
}

/** The command that undoes a run, ready to paste: quoted, and with the state directory when it is not the default. */
function rollbackCommand(runId: string, inventoryPath: string): string {
  const command = shJoin(['vipush', 'rollback', '--run', runId, '-i', inventoryPath]);
  const dir = process.env.VIPUSH_STATE_DIR;
  return dir ? `VIPUSH_STATE_DIR=${shQuote(dir)} ${command}` : command;
}

/** bin/vipush.js of this checkout, from wherever this module was loaded (src, dist/src or the dist bundle). */
function ownBinPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'bin', 'vipush.js');
    if (existsSync(candidate)) return candidate;
    const up = dirname(dir);
    if (up === dir) throw new Error(`bin/vipush.js not found above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

/** The one top-level catch: user errors become one line each and an exit code; bugs keep their stack. */
export async function cli(argv: string[]): Promise<void> {
  installSignalHandlers();
  let code: number;
  try {
    code = await main(argv);
  } catch (e) {
    code = exitCodeFor(e);
    if (e instanceof UserInputError) process.stderr.write(e.diagnostics.map((d) => `vipush: ${formatDiagnostic(d)}`).join('\n') + '\n');
    else if (e instanceof RunLockedError) process.stderr.write(`vipush: ${e.message}\n`);
    else process.stderr.write(`vipush: internal error (a bug; please report it):\n${(e as Error)?.stack ?? String(e)}\n`);
  }
  process.exitCode = code;
}
