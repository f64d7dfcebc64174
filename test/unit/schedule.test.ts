import { describe, expect, it } from 'vitest';
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
    const u = scheduleUnits({ playbook: '/srv/p b/hidden-arp.yml', inventory: '/srv/inv.yml', every: '15m', fix: true, vipush: '/opt/vipush/bin/vipush.js', node: '/usr/bin/node', extra: ['--known-hosts', '/srv/kh'] });
    expect(u.name).toMatch(/^vipush-drift-hidden-arp-[0-9a-f]{8}$/);
    expect(u.service).toContain('ExecStart=/usr/bin/node /opt/vipush/bin/vipush.js drift "/srv/p b/hidden-arp.yml" -i /srv/inv.yml --fix --log-format json');
    for (const k of ['Type=oneshot', 'SuccessExitStatus=2', 'TimeoutStartSec=', 'Nice=10', 'NoNewPrivileges=yes', 'ProtectSystem=strict', 'ReadWritePaths=/var/lib/vipush']) expect(u.service).toContain(k);
    expect(u.timer).toContain('OnUnitActiveSec=15min');
    expect(u.timer).toContain('Persistent=true');
    expect(u.cron).toMatch(/^\*\/15 \* \* \* \* root \/usr\/bin\/node \/opt\/vipush\/bin\/vipush\.js drift '\/srv\/p b\/hidden-arp\.yml' /);
  });
});
