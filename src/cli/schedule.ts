import { createHash } from 'node:crypto';
import { basename, resolve } from 'node:path';
import { shJoin } from '../remote/quote.js';
import { UserInputError } from '../errors.js';

/** `15m`, `1h`, `30s`, `2d` → systemd's OnUnitActiveSec and a cron schedule. */
export function parseEvery(every: string): { seconds: number; systemd: string; cron: string } {
  const m = /^(\d+)(s|m|h|d)$/.exec(every);
  if (!m) throw new UserInputError(`--every must look like 30s, 15m, 1h or 1d, not "${every}"`);
  const n = Number(m[1]);
  const seconds = n * { s: 1, m: 60, h: 3600, d: 86400 }[m[2] as 's' | 'm' | 'h' | 'd'];
  if (seconds < 60) throw new UserInputError('--every must be at least 1m: a drift check more often than that only adds load');
  let cron: string;
  if (seconds % 86400 === 0 && seconds / 86400 === 1) cron = '0 3 * * *';
  else if (seconds % 3600 === 0 && 24 % (seconds / 3600) === 0) cron = `0 */${seconds / 3600} * * *`;
  else if (seconds < 3600 && 60 % (seconds / 60) === 0) cron = `*/${seconds / 60} * * * *`;
  else throw new UserInputError(`--every ${every} has no exact cron form; use a divisor of an hour (e.g. 15m) or of a day (e.g. 6h)`);
  return { seconds, systemd: `${n}${m[2] === 'm' ? 'min' : m[2]}`, cron };
}

/**
 * One word of an ExecStart= line: double-quoted (C escapes) when it holds a blank, a quote or a
 * backslash, and `$` and `%` doubled, which systemd would otherwise expand.
 */
export function systemdWord(word: string): string {
  const quoted = word === '' || /[\s"'\\]/.test(word) ? JSON.stringify(word) : word;
  return quoted.replace(/[$%]/g, '$&$&');
}

/** Where a scheduled run writes (its history; as root, also its saved runs): the only path the service may write. */
export const SCHEDULE_STATE_DIR = '/var/lib/vipush';

export interface ScheduleUnits {
  name: string;
  service: string;
  timer: string;
  cron: string;
}

/**
 * A systemd service + timer pair that runs `vipush drift` (with --fix if asked)
 * unattended: JSON log lines to the journal, a history of reports, and
 * hardening that a root network tool can still live with.
 */
export function scheduleUnits(opts: {
  playbook: string;
  inventory: string;
  every: string;
  fix: boolean;
  vipush: string;
  node: string;
  extra: string[];
}): ScheduleUnits {
  const every = parseEvery(opts.every);
  const playbook = resolve(opts.playbook);
  const inventory = resolve(opts.inventory);
  const id = createHash('sha256').update(`${playbook}\0${inventory}`).digest('hex').slice(0, 8);
  const name = `vipush-drift-${basename(playbook)
    .replace(/\.ya?ml$/, '')
    .replace(/[^A-Za-z0-9_-]/g, '_')}-${id}`;
  const history = `${SCHEDULE_STATE_DIR}/history/${name}`;
  const drift = ['drift', playbook, '-i', inventory, ...(opts.fix ? ['--fix'] : []), '--log-format', 'json', '--history', history];
  const argv = [opts.node, opts.vipush, ...drift, ...opts.extra];
  const service = `[Unit]
Description=vipush drift ${opts.fix ? 'check and fix' : 'check'} for ${playbook}
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
ExecStart=${argv.map(systemdWord).join(' ')}
# exit 2 means drift was found (without --fix): the unit still ran as designed
SuccessExitStatus=2
TimeoutStartSec=${Math.max(120, Math.min(every.seconds - 30, 3600))}
Nice=10
IOSchedulingClass=best-effort
IOSchedulingPriority=7
NoNewPrivileges=yes
PrivateTmp=yes
ProtectSystem=strict
ProtectHome=read-only
# systemd creates ${SCHEDULE_STATE_DIR}, the one writable path, before it sets up the namespace (a writable path
# that does not exist would fail the service with 226/NAMESPACE)
StateDirectory=${SCHEDULE_STATE_DIR.slice('/var/lib/'.length)}
StateDirectoryMode=0700
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectControlGroups=yes
RestrictSUIDSGID=yes
LockPersonality=yes
MemoryMax=1G
`;
  const timer = `[Unit]
Description=Run ${name} every ${opts.every}

[Timer]
OnBootSec=5min
OnUnitActiveSec=${every.systemd}
RandomizedDelaySec=${Math.min(300, Math.floor(every.seconds / 10))}
Persistent=true

[Install]
WantedBy=timers.target
`;
  const cron = `${every.cron} root ${shJoin(argv)} >> /var/log/${name}.log 2>&1`;
  return { name, service, timer, cron };
}
