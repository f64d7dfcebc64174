import { copyFileSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hiddenByPrivateTmp, installUnits, scheduleCommand } from '../../src/cli/commands/schedule.js';
import { parseEvery, scheduleUnits, systemdWord } from '../../src/cli/schedule.js';
import { exitCodeFor } from '../../src/cli/exit.js';
import { ExitCode, UserInputError } from '../../src/errors.js';

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
    // systemd creates the state directory itself: ReadWritePaths= on a missing one fails with 226/NAMESPACE
    expect(u.service).toContain('StateDirectory=vipush\nStateDirectoryMode=0700\n');
    expect(u.service).not.toContain('ReadWritePaths=');
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

    it('creates /var/lib/vipush (mode 0700) before it starts the timer', async () => {
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

    it('a systemctl that fails (not root, say) is one line of user error, exit 3, not an internal error', async () => {
      const root = machine(true);
      const failing = Object.assign(new Error('Command failed: systemctl daemon-reload'), {
        status: 1,
        stderr: Buffer.from('Failed to reload daemon: Access denied\n'),
      });
      const e = await installUnits(units(), {
        root,
        systemctl: () => {
          throw failing;
        },
      }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(UserInputError);
      expect((e as Error).message).toBe('vipush schedule --install: systemctl daemon-reload failed: Failed to reload daemon: Access denied; run it as root');
      expect(exitCodeFor(e)).toBe(ExitCode.invalidInput);
    });

    it('a unit file it cannot write is one line of user error too', async () => {
      const root = mkdtempSync(join(tmpdir(), 'vipush-install-'));
      mkdirSync(join(root, 'run/systemd/system'), { recursive: true });
      // no /etc/systemd/system
      const u = units();
      const e = await installUnits(u, { root, systemctl: () => expect.unreachable() }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(UserInputError);
      expect((e as Error).message).toBe(`vipush schedule --install: cannot write /etc/systemd/system/${u.name}.service: ENOENT (open)`);
    });
  });

  it('quotes ExecStart= words for systemd: blanks and quotes in C-style double quotes, $ and % doubled', () => {
    expect(systemdWord('/srv/inv.yml')).toBe('/srv/inv.yml');
    expect(systemdWord('/srv/p b.yml')).toBe('"/srv/p b.yml"');
    expect(systemdWord('vip=10.0.0.80')).toBe('vip=10.0.0.80');
    expect(systemdWord('pw=$HOME%h')).toBe('pw=$$HOME%%h');
    expect(systemdWord('it\'s \\ "x"')).toBe('"it\'s \\\\ \\"x\\""');
    expect(systemdWord('')).toBe('""');
  });

  it('prints the units and a shell-quoted command that installs them', async () => {
    const dir = mkdtempSync(join(tmpdir(), "vipush schedule's "));
    const playbook = join(dir, 'hidden arp.yml');
    copyFileSync('playbooks/hidden-arp.yml', playbook);
    const argv = [playbook, '-i', 'inventory/example.yml', '--every', '15m', '-e', 'vip=10.0.0.80'];
    let out = '';
    const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      out += String(chunk);
      return true;
    });
    try {
      const code = await scheduleCommand.handler({
        values: { inventory: 'inventory/example.yml', every: '15m', 'extra-vars': ['vip=10.0.0.80'] },
        positionals: [playbook],
        argv,
      });
      expect(code).toBe(0);
    } finally {
      write.mockRestore();
    }
    const quotedDir = dir.replace("'", "'\\''");
    expect(out.trimEnd().split('\n').pop()).toBe(
      `# install with: vipush schedule '${quotedDir}/hidden arp.yml' -i inventory/example.yml --every 15m -e vip=10.0.0.80 --install`,
    );
  });

  it('says when a file the service needs is under /tmp or /var/tmp, which PrivateTmp=yes hides from it', () => {
    expect(hiddenByPrivateTmp([['the playbook', '/etc/vipush/site.yml']])).toBeNull();
    expect(hiddenByPrivateTmp([['the playbook', '/tmpfoo/site.yml']])).toBeNull();
    expect(
      hiddenByPrivateTmp([
        ['the playbook', '/etc/x.yml'],
        ['the inventory', '/var/tmp/inv.yml'],
      ]),
    ).toBe(
      'the inventory is under /var/tmp (/var/tmp/inv.yml), which the scheduled service does not see (PrivateTmp=yes); keep it elsewhere, e.g. under /opt or /etc',
    );
    // a path that does not exist yet is judged as written
    expect(hiddenByPrivateTmp([['vipush itself', '/tmp/vipush-nowhere/bin/vipush.js']])).toMatch(/^vipush itself is under \/tmp /);
  });
});
