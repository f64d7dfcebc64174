import { execFileSync } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { preparePlays } from '../../engine/run.js';
import { ExitCode, UserInputError } from '../../errors.js';
import { shJoin } from '../../remote/quote.js';
import { escapeField } from '../../report/escape.js';
import { parseExtraVars } from '../../inventory/vars.js';
import type { Command } from '../command.js';
import { SCHEDULE_HELP } from '../help.js';
import { inventoryWarner, loadInputs } from '../inputs.js';
import { connectionOptions, extraVarsOption, requireInventory, requirePlaybook, resolveSource } from '../options.js';
import { SCHEDULE_STATE_DIR, scheduleUnits, type ScheduleUnits } from '../schedule.js';

export const scheduleCommand: Command = {
  name: 'schedule',
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
  async handler({ values, positionals, argv }) {
    const playbookPath = requirePlaybook(positionals, 'schedule');
    const inventorySources = requireInventory(values, 'schedule');
    if (typeof values.every !== 'string') throw new UserInputError('vipush schedule: --every INTERVAL is required (e.g. --every 15m)');
    // Refuse to schedule something that would fail on its first run.
    const { playbook, inventory } = await loadInputs(playbookPath, inventorySources);
    preparePlays(playbook, inventory, {
      limit: values.limit as string | undefined,
      extraVars: parseExtraVars(extraVarsOption(values)),
      warn: inventoryWarner(),
    });
    const extra: string[] = [];
    for (const k of ['known-hosts', 'private-key', 'user', 'limit'] as const) {
      if (typeof values[k] === 'string') extra.push(`--${k}`, resolveIfPath(k, values[k]));
    }
    for (const e of extraVarsOption(values)) extra.push('-e', e);
    for (const s of inventorySources.slice(1)) extra.push('-i', resolveSource(s));
    // The service runs with PrivateTmp=yes: what it reads must not be under /tmp or /var/tmp.
    const hidden = hiddenByPrivateTmp([
      ['vipush itself', ownBinPath()],
      ['node', process.execPath],
      ['the playbook', resolve(playbookPath)],
      ...inventorySources.filter((s) => !s.includes(',')).map((s) => ['the inventory', resolve(s)] as [string, string]),
      ...(['known-hosts', 'private-key'] as const).flatMap((k) => (typeof values[k] === 'string' ? [[`--${k}`, resolve(values[k])] as [string, string]] : [])),
    ]);
    if (hidden && values.install) throw new UserInputError(`vipush schedule --install: ${hidden}`);
    if (hidden) process.stderr.write(`vipush: warning: ${hidden}\n`);
    const units = scheduleUnits({
      playbook: playbookPath,
      inventory: resolveSource(inventorySources[0]),
      every: values.every,
      fix: !!values.fix,
      vipush: ownBinPath(),
      node: process.execPath,
      extra,
    });
    if (!values.install) {
      process.stdout.write(
        `# /etc/systemd/system/${units.name}.service\n${units.service}\n# /etc/systemd/system/${units.name}.timer\n${units.timer}\n` +
          `# or, without systemd, one line in /etc/cron.d/${units.name}:\n${units.cron}\n\n# install with: ${shJoin(['vipush', 'schedule', ...argv, '--install'])}\n`,
      );
      return ExitCode.ok;
    }
    await installUnits(units);
    process.stdout.write(`installed and started ${units.name}.timer; see: systemctl list-timers ${units.name}.timer, journalctl -u ${units.name}\n`);
    return ExitCode.ok;
  },
};

/**
 * A file the scheduled service could not see, said in one line, or null: the unit runs with PrivateTmp=yes, so
 * /tmp and /var/tmp are empty in it, and a vipush, playbook or inventory kept there would fail on every run.
 */
export function hiddenByPrivateTmp(paths: readonly (readonly [string, string])[]): string | null {
  for (const [what, path] of paths) {
    let real = path;
    try {
      real = realpathSync(path);
    } catch {
      // a missing file is reported where it is read
    }
    for (const dir of ['/tmp', '/var/tmp']) {
      if (real === dir || real.startsWith(`${dir}/`)) {
        return `${what} is under ${dir} (${escapeField(real)}), which the scheduled service does not see (PrivateTmp=yes); keep it elsewhere, e.g. under /opt or /etc`;
      }
    }
  }
  return null;
}

/** The machine installUnits changes; a test passes a temporary root and a systemctl that only records. */
export interface InstallTarget {
  root: string;
  systemctl(args: string[]): void;
}

const thisMachine: InstallTarget = {
  root: '/',
  systemctl: (args) => void execFileSync('systemctl', args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 120_000 }),
};

/** What went wrong with a file or a program, in one line, and what to do when that is plain. */
function installProblem(what: string, e: unknown): UserInputError {
  const err = e as NodeJS.ErrnoException & { stderr?: Buffer | string; status?: number | null };
  const said = String(err.stderr ?? '')
    .trim()
    .split('\n')
    .pop();
  const why =
    said || (err.code ? `${err.code}${err.syscall ? ` (${err.syscall})` : ''}` : err.status != null ? `exit ${err.status}` : String(err.message ?? e));
  const root =
    err.code === 'EACCES' || err.code === 'EPERM' || /access denied|permission|privilege|authentication required/i.test(why) ? '; run it as root' : '';
  return new UserInputError(`vipush schedule --install: ${what}: ${escapeField(why.slice(0, 300))}${root}`);
}

/** Writes the service and timer to /etc/systemd/system and starts the timer. */
export async function installUnits(units: ScheduleUnits, target: InstallTarget = thisMachine): Promise<void> {
  const at = (path: string) => join(target.root, path);
  if (!existsSync(at('/run/systemd/system'))) {
    throw new UserInputError(`vipush schedule --install needs systemd as init; without it, put this line in /etc/cron.d/${units.name}:\n${units.cron}`);
  }
  // The service's StateDirectory= has systemd create it too; made here, it exists with its mode from the start.
  await mkdir(at(SCHEDULE_STATE_DIR), { recursive: true, mode: 0o700 }).catch((e: unknown) => {
    throw installProblem(`cannot create ${SCHEDULE_STATE_DIR}`, e);
  });
  for (const [path, text] of [
    [`/etc/systemd/system/${units.name}.service`, units.service],
    [`/etc/systemd/system/${units.name}.timer`, units.timer],
  ] as const) {
    await writeFile(at(path), text, { mode: 0o644 }).catch((e: unknown) => {
      throw installProblem(`cannot write ${path}`, e);
    });
  }
  for (const args of [['daemon-reload'], ['enable', '--now', `${units.name}.timer`]]) {
    try {
      target.systemctl(args);
    } catch (e) {
      throw installProblem(`systemctl ${args.join(' ')} failed`, e);
    }
  }
}

function resolveIfPath(key: string, value: string): string {
  return key === 'known-hosts' || key === 'private-key' ? resolve(value) : value;
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
