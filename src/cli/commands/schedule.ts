import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { preparePlays } from '../../engine/run.js';
import { ExitCode, UserInputError } from '../../errors.js';
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
          `# or, without systemd, one line in /etc/cron.d/${units.name}:\n${units.cron}\n\n# install with: vipush schedule ${argv.join(' ')} --install\n`,
      );
      return ExitCode.ok;
    }
    await installUnits(units);
    process.stdout.write(`installed and started ${units.name}.timer; see: systemctl list-timers ${units.name}.timer, journalctl -u ${units.name}\n`);
    return ExitCode.ok;
  },
};

/** The machine installUnits changes; a test passes a temporary root and a systemctl that only records. */
export interface InstallTarget {
  root: string;
  systemctl(args: string[]): void;
}

const thisMachine: InstallTarget = { root: '/', systemctl: (args) => void execFileSync('systemctl', args) };

/** Writes the service and timer to /etc/systemd/system and starts the timer. */
export async function installUnits(units: ScheduleUnits, target: InstallTarget = thisMachine): Promise<void> {
  const at = (path: string) => join(target.root, path);
  if (!existsSync(at('/run/systemd/system'))) {
    throw new UserInputError(`vipush schedule --install needs systemd as init; without it, put this line in /etc/cron.d/${units.name}:\n${units.cron}`);
  }
  // systemd cannot set up ReadWritePaths= for a path that does not exist: the service would fail with 226/NAMESPACE.
  await mkdir(at(SCHEDULE_STATE_DIR), { recursive: true, mode: 0o700 });
  await writeFile(at(`/etc/systemd/system/${units.name}.service`), units.service, { mode: 0o644 });
  await writeFile(at(`/etc/systemd/system/${units.name}.timer`), units.timer, { mode: 0o644 });
  target.systemctl(['daemon-reload']);
  target.systemctl(['enable', '--now', `${units.name}.timer`]);
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
