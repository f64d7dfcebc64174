/**
 * The systemd tier of the lab (issue 19): real Debian 12 hosts with systemd as PID 1 in
 * systemd-nspawn containers, each test ending in a real reboot (`systemctl reboot`, nspawn exits
 * 133, the host boots again from its overlay). A machine that cannot build or boot them fails these
 * tests; they never skip.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { JsonReport } from '../../src/report/json.js';
import { createBootLab, type BootLab, type NetworkStack } from '../lab/nspawn/boot-lab.js';
import { readReport, repoRoot, vipush } from './vipush-cli.js';

const STACKS: [string, NetworkStack][] = [
  ['h1', 'ifupdown'],
  ['h2', 'networkd'],
  ['h3', 'netplan'],
  ['h4', 'networkmanager'],
];
/** the dead-man switch's host */
const DM = 'h5';
/** a systemd host acting as the controller of `vipush schedule --install`; it drives h1 */
const CTL = 'h6';
/** fresh hosts for playbooks/hidden-arp-rolling.yml (arp_ignore 1, no scope), where NetworkManager used to drift forever */
const ROLLING: [string, NetworkStack][] = [
  ['h7', 'networkmanager'],
  ['h8', 'netplan'],
];
/**
 * Where the controller host sees this checkout: a fixed path outside /tmp, since the scheduled service runs with
 * PrivateTmp=yes (a checkout under /tmp, as CI's may be, would be invisible to it; vipush refuses that at --install).
 */
const CTL_REPO = '/opt/vipush';
/** The machine's node binary (linked against libc and libstdc++ only) and the built CLI, as the controller host sees them. */
function controllerBinds(): { src: string; dst: string }[] {
  const binds = [
    { src: realpathSync(process.execPath), dst: '/usr/bin/node' },
    { src: repoRoot, dst: CTL_REPO },
  ];
  const modules = realpathSync(join(repoRoot, 'node_modules'));
  if (!modules.startsWith(`${repoRoot}/`)) binds.push({ src: modules, dst: modules });
  return binds;
}
const IGNORE = 'net.ipv4.conf.all.arp_ignore';
/** an address added by hand before a reboot (TEST-NET-1) */
const LIVE_ONLY = '192.0.2.99';
const ANNOUNCE = 'net.ipv4.conf.all.arp_announce';

let lab: BootLab;
const args = () => ['-i', lab.inventoryFile, '--known-hosts', lab.knownHostsFile, '-e', `vip=${lab.vip}`];

beforeAll(async () => {
  lab = await createBootLab({
    hosts: [
      ...STACKS.map(([name, stack]) => ({ name, stack })),
      { name: DM, stack: 'ifupdown' as const },
      { name: CTL, stack: 'networkd' as const, bindRo: controllerBinds() },
      ...ROLLING.map(([name, stack]) => ({ name, stack })),
      { name: 'director', stack: 'ifupdown' as const },
      { name: 'client', stack: 'networkd' as const },
    ],
    // the rootfs build and the boot times, in CI's log
    log: (m) => process.stderr.write(`${m}\n`),
  });
  await lab.setupDirector();
}, 900_000);
afterAll(async () => {
  await lab?.teardown();
}, 120_000);

describe('hidden ARP with persist: auto survives a real reboot on ifupdown, networkd, netplan and NetworkManager', () => {
  let report: JsonReport;
  let runOutput = '';
  const bootIds = new Map<string, string>();

  beforeAll(async () => {
    const file = join(lab.dir, 'hidden-arp.json');
    const limit = STACKS.map(([h]) => h).join(':');
    const r = await vipush(['run', join(repoRoot, 'playbooks', 'hidden-arp.yml'), ...args(), '--limit', limit, '--report', file], { timeoutMs: 300_000 });
    runOutput = r.stdout + r.stderr;
    report = await readReport(file);
    await Promise.all(
      STACKS.map(async ([h]) => {
        // live only, so gone after a real reboot
        await lab.sshOk(h, `ip addr add ${LIVE_ONLY}/32 dev lo`);
        const before = lab.bootId(h);
        bootIds.set(h, await lab.reboot(h));
        expect(bootIds.get(h)).not.toBe(before);
      }),
    );
  }, 600_000);

  it.each(STACKS)(
    '%s (%s): applied, and after the boot the VIP (scope host, label lo:1) and the sysctls are as declared, drift 0, only the director answers ARP',
    async (h) => {
      expect(report.hosts[h]?.status, runOutput).toMatch(/^(changed|ok)$/);
      const lo = await lab.addresses(h);
      expect(lo.map((a) => a.local)).not.toContain(LIVE_ONLY);
      const vip = lo.filter((a) => a.local === lab.vip);
      expect(vip, `${h} after the boot`).toEqual([expect.objectContaining({ family: 'inet', prefixlen: 32, scope: 'host', label: 'lo:1' })]);
      expect(await lab.sysctl(h, IGNORE)).toBe('3');
      expect(await lab.sysctl(h, ANNOUNCE)).toBe('2');
      const drift = await vipush(['drift', join(repoRoot, 'playbooks', 'hidden-arp.yml'), ...args(), '--limit', h], { timeoutMs: 120_000 });
      expect(drift.code, drift.stdout + drift.stderr).toBe(0);
      const host = lab.host(h);
      // the probe works: the host answers for its own eth0 address
      expect(await lab.arpOwners(host.ip)).toEqual([host.mac]);
      expect(await lab.arpOwners()).toEqual([lab.host('director').mac]);
    },
  );
});

describe("the dead-man switch's systemd-run branch reverts by itself when confirmation never comes", () => {
  it('a change that cuts SSH off is reverted by the transient unit, and the host boots clean', async () => {
    const cut = `nft add table inet vpcut && nft add chain inet vpcut input '{ type filter hook input priority 0; }' && nft add rule inet vpcut input tcp dport 22 drop`;
    const pb = join(lab.dir, 'deadman.yml');
    writeFileSync(
      pb,
      `- name: cut
  hosts: ${DM}
  confirm_timeout: 8
  tasks:
    - name: drop ssh
      command: { shell: "${cut}", undo: "nft delete table inet vpcut", confirm: true }
`,
    );
    const file = join(lab.dir, 'deadman.json');
    const r = await vipush(['run', pb, ...args(), '--report', file, '--connect-timeout', '3'], { timeoutMs: 120_000 });
    expect(r.code, r.stdout + r.stderr).toBe(1);
    const rep = await readReport(file);
    expect(rep.hosts[DM].status).toBe('failed');
    expect(rep.hosts[DM].deadman).toBe('left-to-revert');

    // SSH comes back once the host's own timer has run the revert
    let back = false;
    for (const deadline = Date.now() + 60_000; Date.now() < deadline; ) {
      const probe = await lab.ssh(DM, ['true'], { timeoutMs: 8_000 });
      if (probe.code === 0) {
        back = true;
        break;
      }
      await new Promise((res) => setTimeout(res, 1_000));
    }
    expect(back).toBe(true);
    expect(await lab.sshOk(DM, 'nft list tables')).not.toContain('vpcut');
    // it was the systemd-run branch: the timer was a transient unit, and that unit ran the revert
    const how = await lab.sshOk(DM, 'cat /var/lib/vipush/deadman/*.how 2>/dev/null; ls /var/lib/vipush/deadman');
    expect(how).toMatch(/^systemd$/m);
    expect(how).toMatch(/\.run$/m);
    expect(how).toMatch(/\.log$/m);
    const journal = await lab.sshOk(DM, "journalctl --no-pager -o cat -u 'vipush-deadman-*'");
    expect(journal).toMatch(/Started vipush-deadman-[a-z0-9-]+\.service|vipush-deadman-[a-z0-9-]+\.service: Deactivated successfully/);

    const before = lab.bootId(DM);
    expect(await lab.reboot(DM)).not.toBe(before);
    expect(await lab.sshOk(DM, 'nft list tables')).not.toContain('vpcut');
  });
});

describe('vipush schedule --install on a systemd host acting as controller', () => {
  /** polls `check` every second until it holds or `ms` pass */
  const eventually = async (ms: number, check: () => Promise<boolean>): Promise<boolean> => {
    for (const deadline = Date.now() + ms; Date.now() < deadline; ) {
      if (await check()) return true;
      await new Promise((res) => setTimeout(res, 1_000));
    }
    return check();
  };
  const vipAsDeclared = async () =>
    (await lab.addresses('h1')).some((a) => a.local === lab.vip && a.prefixlen === 32 && a.scope === 'host' && a.label === 'lo:1');
  const breakByHand = async () => {
    await lab.sshOk('h1', `ip addr del ${lab.vip}/32 dev lo`);
    expect(await vipAsDeclared()).toBe(false);
  };

  it('the timer fires, drift --fix repairs a host broken by hand (also after the controller reboots), and the journal has the JSON lines', async () => {
    const playbook = join(repoRoot, 'playbooks', 'hidden-arp.yml');
    const first = await vipush(['run', playbook, ...args(), '--limit', 'h1'], { timeoutMs: 120_000 });
    expect(first.code, first.stdout + first.stderr).toBe(0);
    expect(await vipAsDeclared()).toBe(true);

    // the controller host gets the lab's key, h1's host key and an inventory of h1 alone
    const h1 = lab.host('h1');
    const known = readFileSync(lab.knownHostsFile, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith(`${h1.ip} `))
      .join('\n');
    const files: Record<string, string> = {
      id_ed25519: readFileSync(lab.privateKeyFile, 'utf8'),
      known_hosts: `${known}\n`,
      'inventory.yml': `all:\n  vars:\n    ansible_user: root\n    ansible_ssh_private_key_file: /root/sched/id_ed25519\n  children:\n    realservers:\n      hosts:\n        h1: { ansible_host: ${h1.ip} }\n`,
    };
    for (const [name, content] of Object.entries(files)) {
      await lab.sshOk(CTL, `mkdir -p -m 700 /root/sched && umask 077 && cat > /root/sched/${name}`, { input: content });
    }
    // issue 19: the unit failed 226/NAMESPACE where /var/lib/vipush did not exist yet
    expect((await lab.ssh(CTL, ['test -e /var/lib/vipush'])).code).toBe(1);
    const install = await lab.ssh(CTL, [
      `/usr/bin/node ${CTL_REPO}/bin/vipush.js schedule ${CTL_REPO}/playbooks/hidden-arp.yml -i /root/sched/inventory.yml --every 1m --fix --install --known-hosts /root/sched/known_hosts -e vip=${lab.vip}`,
    ]);
    expect(install.code, install.stdout + install.stderr).toBe(0);
    const unit = /installed and started (vipush-drift-[A-Za-z0-9_-]+)\.timer/.exec(install.stdout)?.[1];
    expect(unit, install.stdout).toBeDefined();
    // The timer's first run is OnBootSec=5min, which in a container counts from the container's start.
    // The lab adds an earlier trigger (OnActiveSec, 5 s after the timer starts: at install and at each
    // boot) in a drop-in of its own and leaves vipush's units as installed.
    await lab.sshOk(
      CTL,
      `mkdir -p /etc/systemd/system/${unit}.timer.d && printf '[Timer]\\nOnActiveSec=5s\\n' > /etc/systemd/system/${unit}.timer.d/lab-sooner.conf && systemctl daemon-reload && systemctl restart ${unit}.timer`,
    );

    await breakByHand();
    const fixed = await eventually(150_000, vipAsDeclared);
    const journal = await lab.sshOk(CTL, `journalctl --no-pager -o cat -u ${unit}.service -u ${unit}.timer`);
    expect(fixed, journal).toBe(true);
    const events = journal
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { event: string; host?: string; status?: string });
    expect(events.map((e) => e.event)).toContain('host_done');
    expect(events).toContainEqual(expect.objectContaining({ event: 'host_done', host: 'h1', status: 'changed' }));

    // after a real reboot of the controller the timer is still there and fires again
    const before = lab.bootId(CTL);
    expect(await lab.reboot(CTL)).not.toBe(before);
    expect((await lab.sshOk(CTL, `systemctl is-enabled ${unit}.timer`)).trim()).toBe('enabled');
    await breakByHand();
    const fixedAgain = await eventually(150_000, vipAsDeclared);
    expect(fixedAgain, await lab.sshOk(CTL, `journalctl --no-pager -o cat -b -u ${unit}.service -u ${unit}.timer`)).toBe(true);
  }, 600_000);
});

describe('playbooks/hidden-arp-rolling.yml (arp_ignore 1, persist: auto) keeps the VIP as declared across a real reboot', () => {
  let runOutput = '';
  let code: number | null = null;
  const rolling = () => {
    // the shipped playbook, aimed at this describe's hosts only (its gates still run from the client against the director)
    const text = readFileSync(join(repoRoot, 'playbooks', 'hidden-arp-rolling.yml'), 'utf8');
    expect(text).toMatch(/^ {2}hosts: realservers$/m);
    const path = join(lab.dir, 'hidden-arp-rolling.yml');
    writeFileSync(path, text.replace(/^ {2}hosts: realservers$/m, `  hosts: ${ROLLING.map(([h]) => h).join(':')}`));
    return path;
  };

  beforeAll(async () => {
    const r = await vipush(['run', rolling(), ...args()], { timeoutMs: 300_000 });
    code = r.code;
    runOutput = r.stdout + r.stderr;
    await Promise.all(ROLLING.map(([h]) => lab.reboot(h)));
  }, 600_000);

  it.each(ROLLING)(
    '%s (%s): after the boot the VIP has its scope (host, the default on lo) and label, arp_ignore is 1, drift 0, only the director answers ARP',
    async (h) => {
      expect(code, runOutput).toBe(0);
      const vip = (await lab.addresses(h)).filter((a) => a.local === lab.vip);
      expect(vip, `${h} after the boot`).toEqual([expect.objectContaining({ family: 'inet', prefixlen: 32, scope: 'host', label: 'lo:1' })]);
      expect(await lab.sysctl(h, IGNORE)).toBe('1');
      expect(await lab.sysctl(h, ANNOUNCE)).toBe('2');
      const drift = await vipush(['drift', join(lab.dir, 'hidden-arp-rolling.yml'), ...args(), '--limit', h], { timeoutMs: 120_000 });
      expect(drift.code, drift.stdout + drift.stderr).toBe(0);
      expect(await lab.arpOwners()).toEqual([lab.host('director').mac]);
    },
  );
});
