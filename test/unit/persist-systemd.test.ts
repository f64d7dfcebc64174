import { describe, expect, it } from 'vitest';
import { parseFacts } from '../../src/facts/gather.js';
import type { AddressArgs } from '../../src/modules/address/index.js';
import { factsNeeded, planTask, type ResolvedTask } from '../../src/modules/registry.js';
import { factsOutput } from './fake-transport.js';
import { chooseBackend, PERSIST_HEADER, renderPersistAll, withPlanApplied, type StackFacts } from '../../src/modules/address/persist/index.js';
import { BOOT_SCRIPT } from '../../src/modules/address/persist/systemd.js';
import { debianFacts, expectGolden, facts, vip } from '../fixtures/persist/helpers.js';
import { execStartArgv } from '../fixtures/persist/unit-file.js';

const UNIT = '/etc/systemd/system/vipush-addresses-lo.service';
const DROPIN = '/etc/systemd/system/multi-user.target.d/vipush-addresses-lo.conf';
const SYSTEMD: Partial<StackFacts> = { systemd: true };
const svc = (active: string, enabled: string) => ({ active, enabled });
const NM_142: Partial<StackFacts> = { systemd: true, nmVersion: '1.42.4', nmDir: true, services: { NetworkManager: svc('active', 'enabled') } };

describe('persist: systemd', () => {
  it('one unit for every VIP on lo, and a drop-in that makes multi-user.target want it', () => {
    const plan = renderPersistAll('systemd', [vip('2001:db8::10/128'), vip('198.18.1.251/32'), vip('198.18.1.250/32', { label: 'lo:1' })], facts(SYSTEMD));
    expect(plan.problems).toEqual([]);
    expect(plan.files.map((f) => [f.path, f.mode, f.createDir ?? false])).toEqual([
      [UNIT, 0o644, false],
      [DROPIN, 0o644, true],
    ]);
    expectGolden('systemd/three-vips.service', plan.files[0].content);
    expectGolden('systemd/three-vips.conf', plan.files[1].content);
    expect(plan.ownedPaths).toEqual([UNIT]);
    expect(plan.applyNow).toEqual([['systemctl', 'daemon-reload']]);
    for (const f of plan.files) expect(f.content.split('\n')[0]).toBe(PERSIST_HEADER);
  });

  it('ExecStart= runs sh with the script as it is and the VIPs in fours, label "-" for none', () => {
    const plan = renderPersistAll('systemd', [vip('198.18.1.250/32', { label: 'lo:1' }), vip('198.18.1.251/32'), vip('2001:db8::10/128')], facts());
    expect(execStartArgv(plan.files[0].content)).toEqual([
      '/bin/sh',
      '-c',
      BOOT_SCRIPT,
      'vipush-addresses-lo',
      'lo',
      '198.18.1.250/32',
      'host',
      'lo:1',
      'lo',
      '198.18.1.251/32',
      'host',
      '-',
      'lo',
      '2001:db8::10/128',
      'global',
      '-',
    ]);
    // nothing systemd would read as a quote, an escape or a line end
    expect(BOOT_SCRIPT).not.toMatch(/['\\\n]/);
    // without systemd running, nothing to reload
    expect(plan.applyNow).toBeUndefined();
  });

  it('removing the last VIP removes the unit and its drop-in; another VIP keeps both', () => {
    const two = renderPersistAll('systemd', [vip('198.18.1.250/32', { label: 'lo:1' }), vip('198.18.1.251/32')], facts(SYSTEMD));
    const f = withPlanApplied(facts(SYSTEMD), two);
    const one = renderPersistAll('systemd', [vip('198.18.1.251/32', { state: 'absent' })], f);
    expect(one.remove).toEqual([]);
    expect(one.files.map((x) => x.path)).toEqual([UNIT, DROPIN]);
    expect(execStartArgv(one.files[0].content).slice(4)).toEqual(['lo', '198.18.1.250/32', 'host', 'lo:1']);
    // the drop-in is the same bytes: only the unit changed
    expect(one.files[1].content).toBe(f.existing[DROPIN]);
    const none = renderPersistAll('systemd', [vip('198.18.1.250/32', { state: 'absent' })], withPlanApplied(f, one));
    expect(none.files).toEqual([]);
    expect(none.remove).toEqual([UNIT, DROPIN]);
    expect(none.applyNow).toEqual([['systemctl', 'daemon-reload']]);
  });

  it('a second run plans the same bytes', () => {
    const tasks = [vip('198.18.1.250/32', { label: 'lo:1' })];
    const first = renderPersistAll('systemd', tasks, facts(SYSTEMD));
    const again = renderPersistAll('systemd', tasks, withPlanApplied(facts(SYSTEMD), first));
    expect(again.files).toEqual(first.files);
    expect(again.applyNow).toBeUndefined();
  });

  it("refuses a drop-in or a unit of that name that is not vipush's, and a device other than lo", () => {
    const theirs = facts({ ...SYSTEMD, presentFiles: [DROPIN], existing: { [DROPIN]: '[Unit]\nWants=foo.service\n' } });
    const plan = renderPersistAll('systemd', [vip('198.18.1.250/32')], theirs);
    expect(plan.problems).toEqual([`${DROPIN} exists and is not managed by vipush; vipush will not overwrite it`]);
    expect(plan.files).toEqual([]);
    const unit = facts({ ...SYSTEMD, presentFiles: [UNIT], existing: { [UNIT]: '[Service]\nExecStart=/bin/true\n' } });
    expect(renderPersistAll('systemd', [vip('198.18.1.250/32')], unit).problems).toEqual([
      `198.18.1.250/32: ${UNIT} exists and is not managed by vipush; vipush will not overwrite it`,
    ]);
    expect(renderPersistAll('systemd', [vip('198.18.1.250/32', { dev: 'eth0' })], facts(SYSTEMD)).problems).toEqual([
      '198.18.1.250/32: vipush persists VIPs with a systemd unit only on lo, not on eth0',
    ]);
  });
});

describe('persist: auto picks the systemd unit where the stack would not keep the VIP as declared', () => {
  const v4 = { address: '198.18.1.250/32', family: 4 as const, scope: 'host', label: 'lo:1', dev: 'lo' };

  it('NetworkManager, netplan for NetworkManager and ifcfg, under systemd: the unit', () => {
    const nm = chooseBackend('auto', facts(NM_142), v4);
    expect(nm.backend).toBe('systemd');
    expect(nm.reason).toBe(
      "NetworkManager 1.42.4 is active and /etc/netplan is empty; NetworkManager would bring the VIP back with scope global and without its label, so a unit of vipush's adds it at boot as declared",
    );
    const netplanNm = facts({ ...NM_142, netplanFiles: ['01-network-manager-all.yaml'], netplanNmRenderer: true });
    expect(chooseBackend('auto', netplanNm, v4).backend).toBe('systemd');
    // netplan for NetworkManager while NetworkManager is not (yet) running
    expect(chooseBackend('auto', facts({ ...SYSTEMD, netplanFiles: ['a.yaml'], netplanNmRenderer: true }), v4).backend).toBe('systemd');
    const rhel7 = facts({ ...SYSTEMD, ifcfgDir: true, ifcfgAliases: true, services: { network: svc('active', 'enabled') } });
    expect(chooseBackend('auto', rhel7, v4).backend).toBe('systemd');
    // the unit carries VIPs on lo only: on another device the stack's files stay the choice
    expect(chooseBackend('auto', rhel7, { ...v4, dev: 'eth0', label: 'eth0:1' }).backend).toBe('ifcfg');
  });

  it('ifupdown and networkd keep their own files; netplan (no scope option) only for a VIP it brings back as declared', () => {
    expect(chooseBackend('auto', debianFacts(), v4).backend).toBe('ifupdown');
    expect(chooseBackend('auto', facts({ ...SYSTEMD, services: { 'systemd-networkd': svc('active', 'enabled') } }), v4).backend).toBe('networkd');
    const ubuntu = facts({ ...SYSTEMD, netplanFiles: ['50-cloud-init.yaml'], services: { 'systemd-networkd': svc('active', 'enabled') } });
    // a real boot brought a netplan (networkd) VIP back scope global: under systemd, the unit keeps scope host
    expect(chooseBackend('auto', ubuntu, v4).backend).toBe('systemd');
    expect(chooseBackend('auto', ubuntu, { address: '2001:db8::10/128', family: 6, scope: 'global', dev: 'lo' }).backend).toBe('systemd');
    // without systemd, netplan only for what it keeps: scope global (a label it keeps)
    const noSystemd = facts({ netplanFiles: ['50-cloud-init.yaml'] });
    expect(chooseBackend('auto', noSystemd, { ...v4, scope: 'global' }).backend).toBe('netplan');
    expect(chooseBackend('auto', noSystemd, v4).backend).toBeNull();
    // a Debian desktop: ifupdown brings up lo even though NetworkManager runs
    expect(chooseBackend('auto', debianFacts({ ...NM_142, services: { ...NM_142.services, networking: svc('active', 'enabled') } }), v4).backend).toBe(
      'ifupdown',
    );
  });

  it('without systemd: refused with the reason, unless the stack brings the VIP back as declared', () => {
    const nm = facts({ nmDir: true, nmVersion: '1.42.4' });
    const refused = chooseBackend('auto', nm, v4);
    expect(refused.backend).toBeNull();
    expect(refused.reason).toBe(
      'NetworkManager 1.42.4 is installed and nothing else manages the network, but NetworkManager would bring the VIP back with scope global and without its label, and PID 1 is not systemd, so no vipush unit can add it at boot as declared: it would drift after every reboot',
    );
    expect(refused.reason).not.toContain('\n');
    // a label alone is enough to refuse; scope host alone too
    expect(chooseBackend('auto', nm, { ...v4, scope: 'global' }).backend).toBeNull();
    expect(chooseBackend('auto', nm, { ...v4, label: undefined }).backend).toBeNull();
    // what NetworkManager keeps: IPv6, and IPv4 with scope global and no label
    expect(chooseBackend('auto', nm, { address: '2001:db8::10/128', family: 6, scope: 'global', dev: 'lo' }).backend).toBe('networkmanager');
    expect(chooseBackend('auto', nm, { ...v4, scope: 'global', label: 'lo' }).backend).toBe('networkmanager');
    // ifcfg keeps the label, not the scope
    const ifcfg = facts({ ifcfgDir: true, ifcfgAliases: true });
    expect(chooseBackend('auto', ifcfg, { ...v4, scope: 'global' }).backend).toBe('ifcfg');
    expect(chooseBackend('auto', ifcfg, v4).backend).toBeNull();
  });

  it('an explicit persist: is taken as it is', () => {
    expect(chooseBackend('networkmanager', facts(NM_142), v4).backend).toBe('networkmanager');
    expect(chooseBackend('systemd', debianFacts(), v4)).toEqual({ backend: 'systemd', reason: 'persist: systemd is set in the playbook' });
  });
});

describe('a VIP persisted earlier with another stack', () => {
  const NM_FILE = '/etc/NetworkManager/system-connections/vipush-lo.nmconnection';
  const task = (args: Partial<AddressArgs> = {}): ResolvedTask => ({
    name: 'vip',
    module: 'address',
    source: { file: 'p.yml', line: 1, col: 1 },
    args: { address: '198.18.0.250/32', family: 4, dev: 'lo', scope: 'host', label: 'lo:1', state: 'present', persist: 'auto', allowArp: false, ...args },
  });
  /** NetworkManager 1.42 under systemd, ARP hidden live and at boot, and vipush's NetworkManager profile of an earlier run. */
  function host(t: ResolvedTask, profile: readonly AddressArgs[], arpIgnore = 1) {
    const nm: Record<string, { content: string; mode: string }> =
      profile.length > 0 ? { [NM_FILE]: { content: renderPersistAll('networkmanager', profile, facts(NM_142)).files[0].content, mode: '600' } } : {};
    const out = factsOutput('0a1b2c', {
      arp: { all: [arpIgnore, 2], default: [0, 0], lo: [0, 0], eth0: [0, 0] },
      files: {
        '/etc/sysctl.d/60-vip.conf': { content: `net.ipv4.conf.all.arp_ignore = ${arpIgnore}\n` },
        ...nm,
      },
      probes: {
        persist: [
          'persist.systemd=1',
          'persist.svc.NetworkManager.active=active',
          'persist.svc.NetworkManager.enabled=enabled',
          'persist.nm_version=1.42.4',
          'persist.nm_dir=1',
        ],
      },
    });
    return parseFacts(Buffer.from(out), '0a1b2c', factsNeeded([t]));
  }
  const fileChanges = (t: ResolvedTask, state: ReturnType<typeof host>) =>
    planTask(t, state, { host: 'h1' }).changes.flatMap((c) => (c.kind === 'file' ? [`${c.after ? 'write' : 'remove'} ${c.path}`] : []));

  it("moves to the systemd unit: the VIP leaves vipush's NetworkManager profile, which goes when it holds nothing else", () => {
    const t = task();
    const state = host(t, [t.args as AddressArgs]);
    expect(fileChanges(t, state)).toEqual([`write ${UNIT}`, `write ${DROPIN}`, `remove ${NM_FILE}`]);
    // in order: the unit, the drop-in's directory and the drop-in, systemd told, the old profile out; no nmcli
    expect(
      planTask(t, state, { host: 'h1' }).changes.map((c) =>
        c.kind === 'exec' ? c.argv.join(' ') : c.kind === 'file' ? c.path : c.kind === 'address' ? `${c.op} ${c.cidr}` : c.kind,
      ),
    ).toEqual(['add 198.18.0.250/32', UNIT, 'mkdir -p -- /etc/systemd/system/multi-user.target.d', DROPIN, 'systemctl daemon-reload', NM_FILE]);
    const other = vip('198.18.0.251/32');
    const plan = planTask(t, host(t, [t.args as AddressArgs, other]), { host: 'h1' });
    const nm = plan.changes.find((c) => c.kind === 'file' && c.path === NM_FILE);
    expect(nm?.kind === 'file' && nm.after?.content.toString()).toContain('address1=198.18.0.251/32\n');
    expect(nm?.kind === 'file' && nm.after?.content.toString()).not.toContain('198.18.0.250');
    expect(nm?.kind === 'file' && nm.after?.mode).toBe(0o600);
    expect(plan.warnings).toContain(`198.18.0.250/32: taken out of ${NM_FILE}, vipush's files of another stack`);
  });

  it('arp_ignore 3 with scope host (playbooks/hidden-arp.yml) now persists on a NetworkManager host, where the profile was refused', () => {
    const t = task();
    expect(fileChanges(t, host(t, [], 3))).toEqual([`write ${UNIT}`, `write ${DROPIN}`]);
    const nm = task({ persist: 'networkmanager' });
    expect(() => planTask(nm, host(nm, [], 3), { host: 'h1' })).toThrow(/arp_ignore=3 hides only scope-host addresses, but NetworkManager adds/);
  });

  it("state: absent takes the VIP out of every stack's files of vipush's", () => {
    const t = task({ state: 'absent' });
    expect(fileChanges(t, host(t, [task().args as AddressArgs]))).toEqual([`remove ${NM_FILE}`]);
  });
});
