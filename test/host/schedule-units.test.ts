/**
 * The units `vipush schedule` writes, read by systemd 252's own checker (`systemd-analyze verify`):
 * accepted without a warning, including the state directory systemd creates for the service.
 * The timer firing on a systemd host is the nspawn tier's test.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { scheduleUnits } from '../../src/cli/schedule.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'vipush-schedule-units-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function verify(unitPath: string): { status: number | null; ours: string[] } {
  const r = spawnSync('systemd-analyze', ['verify', unitPath], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, SYSTEMD_UNIT_PATH: `${dir}:` } });
  if (r.error) throw r.error;
  return { status: r.status, ours: r.stderr.split('\n').filter((l) => l.includes(dir)) };
}

describe('vipush schedule units, read by systemd-analyze verify', () => {
  it('the service and the timer are accepted without a warning, with a playbook path that needs quoting', () => {
    const u = scheduleUnits({
      playbook: "/srv/p b/it's $HOME 100%.yml",
      inventory: '/srv/inv.yml',
      every: '15m',
      fix: true,
      vipush: join(repoRoot, 'bin', 'vipush.js'),
      node: process.execPath,
      extra: ['-e', 'vip=10.0.0.80'],
    });
    writeFileSync(join(dir, `${u.name}.service`), u.service);
    writeFileSync(join(dir, `${u.name}.timer`), u.timer);
    for (const unit of [`${u.name}.service`, `${u.name}.timer`]) {
      const r = verify(join(dir, unit));
      expect(r.ours, unit).toEqual([]);
      expect(r.status, unit).toBe(0);
    }
  });

  it('notices a setting it does not know (the check can fail)', () => {
    writeFileSync(join(dir, 'vipush-bad.service'), '[Service]\nType=oneshot\nExecStart=/bin/true\nReadWritePathz=/var/lib/vipush\n');
    expect(verify(join(dir, 'vipush-bad.service')).ours).not.toEqual([]);
  });
});
