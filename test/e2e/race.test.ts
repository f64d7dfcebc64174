import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseArpingMacs } from '../../src/engine/gates.js';
import { createLab, ensureLabPackages, type Lab } from '../lab/lab.js';
import { labArgs, vipush } from './vipush-cli.js';

/**
 * Two operators at once (issue 16): two runs started together on the same hosts, from pristine hosts
 * and from the state a killed run leaves (sysctl.conf holds 3/2, the live values are 0). The host's
 * lock is taken before its facts are read, so the second run plans from the first one's finished
 * state. After every round, from the client on the same L2: no real server answers ARP for either
 * VIP, and every VIP a host holds is hidden live and at boot.
 */

const ROUNDS = 10;
const ORIGINAL_CONF = readFileSync('/etc/sysctl.conf', 'utf8');
const HIDDEN_CONF = `${ORIGINAL_CONF}net.ipv4.conf.all.arp_ignore = 3\nnet.ipv4.conf.all.arp_announce = 2\n`;

describe('racing runs on the same hosts', () => {
  let lab: Lab;
  let vipA: string;
  let vipB: string;
  // two playbook files: the controller's own lock is per playbook and inventory, so only the hosts' lock stands between them
  let playbookA: string;
  let playbookB: string;

  beforeAll(async () => {
    await ensureLabPackages();
    lab = await createLab({ hosts: 3, httpServers: false });
    vipA = lab.vip;
    vipB = lab.vip.replace(/\.\d+$/, '.251');
    playbookA = join(lab.dir, 'a.yml');
    playbookB = join(lab.dir, 'b.yml');
    copyFileSync('playbooks/hidden-arp.yml', playbookA);
    copyFileSync('playbooks/hidden-arp.yml', playbookB);
  });
  afterAll(async () => {
    await lab?.teardown();
  });

  async function reset(start: 'pristine' | 'killed-run'): Promise<void> {
    await Promise.all(
      lab.hosts.map(async (h) => {
        await lab.hostExec(
          h,
          [
            'sh',
            '-c',
            `ip addr del ${vipA}/32 dev lo 2>/dev/null; ip addr del ${vipB}/32 dev lo 2>/dev/null; rm -f /etc/network/interfaces.d/vipush-lo-*; ` +
              'echo 0 > /proc/sys/net/ipv4/conf/all/arp_ignore; echo 0 > /proc/sys/net/ipv4/conf/all/arp_announce; cat > /etc/sysctl.conf',
          ],
          { input: start === 'pristine' ? ORIGINAL_CONF : HIDDEN_CONF },
        );
      }),
    );
  }

  /** Who answers ARP for a VIP from the client, with broadcasts only (one second of probing). */
  async function owners(vip: string): Promise<string[]> {
    await lab.nsExec(lab.client, ['ip', 'neigh', 'flush', 'dev', 'eth0']);
    const r = await lab.nsExec(lab.client, ['arping', '-b', '-c2', '-w2', '-I', 'eth0', vip], { timeoutMs: 10_000 });
    return parseArpingMacs(r.stdout);
  }

  async function checkRound(label: string): Promise<void> {
    const macs = new Map<string, string>();
    for (const h of lab.hosts) macs.set((await lab.hostExec(h, ['cat', '/sys/class/net/eth0/address'])).stdout.trim(), h.name);
    for (const vip of [vipA, vipB]) {
      const answered = (await owners(vip)).filter((m) => macs.has(m)).map((m) => macs.get(m));
      expect(answered, `${label}: real servers answering ARP for ${vip}`).toEqual([]);
    }
    for (const h of lab.hosts) {
      const lo = (await lab.hostExec(h, ['ip', '-o', '-4', 'addr', 'show', 'dev', 'lo'])).stdout;
      const held = [vipA, vipB].filter((v) => lo.includes(` ${v}/32 `));
      if (held.length === 0) continue;
      // a host that holds a VIP holds the playbook's whole state: hidden live and at boot, scope host
      expect(await lab.sysctl(h, 'net.ipv4.conf.all.arp_ignore'), `${label}: ${h.name} live arp_ignore`).toBe('3');
      expect(await lab.sysctl(h, 'net.ipv4.conf.all.arp_announce'), `${label}: ${h.name} live arp_announce`).toBe('2');
      const conf = (await lab.hostExec(h, ['cat', '/etc/sysctl.conf'])).stdout;
      expect(conf, `${label}: ${h.name} boot file`).toMatch(/^net\.ipv4\.conf\.all\.arp_ignore = 3$/m);
      for (const v of held) expect(lo, `${label}: ${h.name} ${v}`).toMatch(new RegExp(`${v.replace(/\./g, '\\.')}/32 scope host`));
    }
  }

  for (const start of ['pristine', 'killed-run'] as const) {
    it(`two playbooks with different VIPs, ${ROUNDS} rounds from ${start} hosts: both complete, nobody answers ARP`, async () => {
      for (let round = 1; round <= ROUNDS; round++) {
        await reset(start);
        const [a, b] = await Promise.all([
          vipush(['run', playbookA, ...labArgs(lab), '-e', `vip=${vipA}`]),
          vipush(['run', playbookB, ...labArgs(lab), '-e', `vip=${vipB}`]),
        ]);
        expect([a.code, b.code], `round ${round}: ${a.stderr}${b.stderr}`).toEqual([0, 0]);
        await checkRound(`${start} round ${round}`);
      }
    });

    it(`two playbooks with the same VIP, ${ROUNDS} rounds from ${start} hosts: the VIP stays, nobody answers ARP`, async () => {
      for (let round = 1; round <= ROUNDS; round++) {
        await reset(start);
        const [a, b] = await Promise.all([
          vipush(['run', playbookA, ...labArgs(lab), '-e', `vip=${vipA}`]),
          vipush(['run', playbookB, ...labArgs(lab), '-e', `vip=${vipA}`]),
        ]);
        expect([a.code, b.code], `round ${round}: ${a.stderr}${b.stderr}`).toEqual([0, 0]);
        for (const h of lab.hosts)
          expect(
            (await lab.addresses(h)).some((x) => x.local === vipA),
            `round ${round}: ${h.name} lost the VIP`,
          ).toBe(true);
        await checkRound(`${start} same VIP, round ${round}`);
      }
    });
  }
});
