import { describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { installUnits } from '../../src/cli/commands/schedule.js';
import { parseEvery, scheduleUnits } from '../../src/cli/schedule.js';

describe('vipush schedule', () => {
  it('turns intervals into systemd and cron schedules, and refuses ones cron cannot express', () => {
    expect(parseEvery('15m')).toEqual({ seconds: 900, systemd: '15min', cron: '*/15 * * * *' });
    expect(parseEvery('6h')).toMatchObject({ systemd: '6h', cron: '0 */6 * * *' });
    expect(parseEvery('1d')).toMatchObject({ cron: '0 3 * * *' });
    expect(() => parseEvery('7m')).toThrow(/no exact cron form/);
    expect(() => parseEvery('30s')).toThrow(/at least 1m/);
    expect(() => parseEvery('soon')).toThrow(/--every must look like/);
  });

  it('writes a hardened oneshot service, a timer, and a cron line that run vipush drift', () => {
    const u = scheduleUnits({
      playbook: '/srv/p b/hidden-arp.yml',
      inventory: '/srv/inv.yml',
      every: '15m',
      fix: true,
      vipush: '/opt/vipush/bin/vipush.js',
      node: '/usr/bin/node',
      extra: ['--known-hosts', '/srv/kh'],
    });
    expect(u.name).toMatch(/^vipush-drift-hidden-arp-[0-9a-f]{8}$/);
    expect(u.service).toContain('ExecStart=/usr/bin/node /opt/vipush/bin/vipush.js drift "/srv/p b/hidden-arp.yml" -i /srv/inv.yml --fix --log-format json');
    for (const k of ['Type=oneshot', 'SuccessExitStatus=2', 'TimeoutStartSec=', 'Nice=10', 'NoNewPrivileges=yes', 'ProtectSystem=strict']) {
      expect(u.service).toContain(k);
    }
    expect(u.service).toContain('ReadWritePaths=/var/lib/vipush');
    expect(u.timer).toContain('OnUnitActiveSec=15min');
    expect(u.timer).toContain('Persistent=true');
    expect(u.cron).toMatch(/^\*\/15 \* \* \* \* root \/usr\/bin\/node \/opt\/vipush\/bin\/vipush\.js drift '\/srv\/p b\/hidden-arp\.yml' /);
  });

  describe('--install', () => {
    const units = () =>
      scheduleUnits({
        playbook: '/srv/hidden-arp.yml',
        inventory: '/srv/inv.yml',
        every: '15m',
        fix: false,
        vipush: '/opt/vipush/bin/vipush.js',
        node: '/usr/bin/node',
        extra: [],
      });
    const machine = (withSystemd: boolean) => {
      const root = mkdtempSync(join(tmpdir(), 'vipush-install-'));
      mkdirSync(join(root, 'etc/systemd/system'), { recursive: true });
      if (withSystemd) mkdirSync(join(root, 'run/systemd/system'), { recursive: true });
      return root;
    };

    it('creates /var/lib/vipush (mode 0700), which ReadWritePaths= needs, before it starts the timer', async () => {
      const root = machine(true);
      const u = units();
      const calls: string[][] = [];
      await installUnits(u, {
        root,
        systemctl: (args) => {
          expect(statSync(join(root, 'var/lib/vipush')).isDirectory()).toBe(true);
          calls.push(args);
        },
      });
      expect(u.service).toContain('ReadWritePaths=/var/lib/vipush\n');
      expect(statSync(join(root, 'var/lib/vipush')).mode & 0o777).toBe(0o700);
      expect(readFileSync(join(root, `etc/systemd/system/${u.name}.service`), 'utf8')).toBe(u.service);
      expect(readFileSync(join(root, `etc/systemd/system/${u.name}.timer`), 'utf8')).toBe(u.timer);
      expect(calls).toEqual([['daemon-reload'], ['enable', '--now', `${u.name}.timer`]]);
    });

    it('keeps an existing /var/lib/vipush and what is in it', async () => {
      const root = machine(true);
      mkdirSync(join(root, 'var/lib/vipush/runs'), { recursive: true });
      writeFileSync(join(root, 'var/lib/vipush/runs/r.json'), '{}');
      await installUnits(units(), { root, systemctl: () => undefined });
      expect(readFileSync(join(root, 'var/lib/vipush/runs/r.json'), 'utf8')).toBe('{}');
    });

    it('without systemd, refuses with the cron line and changes nothing', async () => {
      const root = machine(false);
      const u = units();
      await expect(installUnits(u, { root, systemctl: () => expect.unreachable() })).rejects.toThrow(u.cron);
      expect(existsSync(join(root, 'var/lib/vipush'))).toBe(false);
      expect(readdirSync(join(root, 'etc/systemd/system'))).toEqual([]);
    });
  });
});
