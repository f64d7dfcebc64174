import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  chooseBackend,
  detectStack,
  keepsScopeHost,
  parsePersistProbe,
  persistPathsToRead,
  PERSIST_HEADER,
  renderPersist,
  renderPersistAll,
  withPlanApplied,
  scopeHostRefusal,
  STACK_BACKENDS,
  type PersistPlan,
  type StackBackend,
  type StackFacts,
} from '../../src/modules/address/persist/index.js';
import { globMatches, ifupdownReads } from '../../src/modules/address/persist/ifupdown.js';
import { deterministicUuid } from '../../src/modules/address/persist/networkmanager.js';
import { debianFacts, expectGolden, facts, vip } from '../fixtures/persist/helpers.js';

const NM_142: Partial<StackFacts> = {
  systemd: true,
  nmVersion: '1.42.2',
  nmDir: true,
  services: { NetworkManager: { active: 'active', enabled: 'enabled' } },
};
const NETWORKD: Partial<StackFacts> = {
  systemd: true,
  services: { 'systemd-networkd': { active: 'active', enabled: 'enabled' } },
};

/** The one file of a plan, checked for its path and mode. */
function onlyFile(plan: PersistPlan, path: string, mode: number): string {
  expect(plan.problems).toEqual([]);
  expect(plan.files.map((f) => [f.path, f.mode])).toEqual([[path, mode]]);
  return plan.files[0].content;
}

describe('golden files', () => {
  it('ifupdown: a labelled IPv4 VIP gets its own alias stanza with scope host', () => {
    const plan = renderPersistAll('ifupdown', [vip('198.18.1.250/32', { label: 'lo:1' })], debianFacts());
    expectGolden('ifupdown/labelled-v4', onlyFile(plan, '/etc/network/interfaces.d/vipush-lo-1', 0o644));
    expect(plan.ownedPaths).toEqual(['/etc/network/interfaces.d/vipush-lo-1']);
    expect(plan.applyNow).toBeUndefined();
  });

  it('ifupdown: unlabelled IPv4 and IPv6 VIPs become extra stanzas of lo', () => {
    const f = debianFacts();
    const v4 = renderPersistAll('ifupdown', [vip('198.18.1.251/32')], f);
    expectGolden('ifupdown/unlabelled-v4', onlyFile(v4, '/etc/network/interfaces.d/vipush-lo-198-18-1-251', 0o644));
    // IPv6 has no labels: a label given for it is not used.
    const v6 = renderPersistAll('ifupdown', [vip('2001:db8::10/128', { label: 'lo:6' })], f);
    expectGolden('ifupdown/v6', onlyFile(v6, '/etc/network/interfaces.d/vipush-lo-2001-db8--10', 0o644));
  });

  it('netplan: one 0600 file per VIP, renderer pinned to networkd', () => {
    const f = facts({ netplanFiles: ['50-cloud-init.yaml'] });
    const v4 = renderPersistAll('netplan', [vip('198.18.1.250/32', { label: 'lo:1' })], f);
    expectGolden('netplan/labelled-v4', onlyFile(v4, '/etc/netplan/60-vipush-lo-198-18-1-250.yaml', 0o600));
    const v6 = renderPersistAll('netplan', [vip('2001:db8::10/128')], f);
    expectGolden('netplan/v6', onlyFile(v6, '/etc/netplan/60-vipush-lo-2001-db8--10.yaml', 0o600));
  });

  it('networkd: every VIP on lo in one file, sorted, scope host for IPv4', () => {
    const plan = renderPersistAll('networkd', [vip('2001:db8::10/128'), vip('198.18.1.251/32'), vip('198.18.1.250/32', { label: 'lo:1' })], facts(NETWORKD));
    expectGolden('networkd/three-vips', onlyFile(plan, '/etc/systemd/network/05-vipush-lo.network', 0o644));
    expect(plan.applyNow).toEqual([['networkctl', 'reload']]);
  });

  it('networkmanager 1.42+: a loopback profile on lo', () => {
    const plan = renderPersistAll(
      'networkmanager',
      [vip('198.18.1.251/32'), vip('198.18.1.250/32', { label: 'lo:1' }), vip('2001:db8::10/128')],
      facts(NM_142),
    );
    const path = '/etc/NetworkManager/system-connections/vipush-lo.nmconnection';
    expectGolden('networkmanager/loopback-v4-v6', onlyFile(plan, path, 0o600));
    expect(plan.applyNow).toEqual([['nmcli', 'connection', 'load', path]]);
    const v4only = renderPersistAll('networkmanager', [vip('198.18.1.250/32')], facts(NM_142));
    expectGolden('networkmanager/loopback-v4', onlyFile(v4only, path, 0o600));
  });

  it('networkmanager before 1.42: a dummy device vipush0 carries the VIPs', () => {
    const f = facts({ ...NM_142, nmVersion: '1.18.8-1.el7' });
    const plan = renderPersistAll('networkmanager', [vip('198.18.1.250/32'), vip('198.18.1.251/32')], f);
    expectGolden('networkmanager/dummy-v4', onlyFile(plan, '/etc/NetworkManager/system-connections/vipush-lo.nmconnection', 0o600));
  });

  it('ifcfg: an alias file ifcfg-lo:N with a /32 and no ARP check or update', () => {
    const f = facts({ ifcfgDir: true, ifcfgAliases: true });
    const plan = renderPersistAll('ifcfg', [vip('198.18.1.250/32', { label: 'lo:1' })], f);
    expectGolden('ifcfg/lo-1', onlyFile(plan, '/etc/sysconfig/network-scripts/ifcfg-lo:1', 0o644));
    expect(plan.applyNow).toBeUndefined();
  });

  it('every file starts with the vipush header', () => {
    const cases: [StackBackend, StackFacts][] = [
      ['ifupdown', debianFacts()],
      ['netplan', facts()],
      ['networkd', facts()],
      ['networkmanager', facts(NM_142)],
      ['ifcfg', facts()],
    ];
    for (const [backend, f] of cases) {
      const plan = renderPersistAll(backend, [vip('198.18.1.250/32', { label: 'lo:1' })], f);
      expect(plan.files[0].content.split('\n')[0], backend).toBe(PERSIST_HEADER);
      expect(plan.files[0].content, backend).toContain('# vipush-vip address=198.18.1.250/32 dev=lo scope=host label=lo:1');
    }
  });
});

describe('state: absent and ownedPaths', () => {
  it('deletes the file of an absent VIP and tells NetworkManager to forget it', () => {
    const present = renderPersistAll('networkmanager', [vip('198.18.1.250/32')], facts(NM_142));
    const f = withPlanApplied(facts(NM_142), present);
    const path = '/etc/NetworkManager/system-connections/vipush-lo.nmconnection';
    const absent = renderPersistAll('networkmanager', [vip('198.18.1.250/32', { state: 'absent' })], f);
    expect(absent).toEqual({
      files: [],
      remove: [path],
      ownedPaths: [path],
      applyNow: [['nmcli', 'connection', 'load', path]],
      problems: [],
    });
  });

  it('keeps the other VIPs of a shared file when one becomes absent', () => {
    const f0 = facts(NETWORKD);
    const both = renderPersistAll('networkd', [vip('198.18.1.250/32'), vip('198.18.1.251/32')], f0);
    const f1 = withPlanApplied(f0, both);
    const plan = renderPersistAll('networkd', [vip('198.18.1.250/32', { state: 'absent' })], f1);
    expect(plan.remove).toEqual([]);
    expect(plan.files).toHaveLength(1);
    expect(plan.files[0].content).toContain('Address=198.18.1.251/32');
    expect(plan.files[0].content).not.toContain('198.18.1.250');
    // The same file as a task for .251 alone would have written.
    expect(plan.files[0].content).toBe(renderPersistAll('networkd', [vip('198.18.1.251/32')], f0).files[0].content);
  });

  it('adds to a shared file without dropping VIPs of tasks it was not given', () => {
    const f0 = facts(NETWORKD);
    const f1 = withPlanApplied(f0, renderPersistAll('networkd', [vip('198.18.1.250/32')], f0));
    const plan = renderPersistAll('networkd', [vip('198.18.1.251/32')], f1);
    expect(plan.files[0].content).toBe(renderPersistAll('networkd', [vip('198.18.1.250/32'), vip('198.18.1.251/32')], f0).files[0].content);
  });

  it('absent with nothing on disk changes nothing but still names the file the VIP would own', () => {
    const plan = renderPersistAll('ifupdown', [vip('198.18.1.250/32', { label: 'lo:1', state: 'absent' })], debianFacts());
    expect(plan).toEqual({ files: [], remove: [], ownedPaths: [], problems: [] });
  });

  it('does not delete a per-VIP file that now belongs to another address', () => {
    const f0 = debianFacts();
    const f1 = withPlanApplied(f0, renderPersistAll('ifupdown', [vip('198.18.1.250/32', { label: 'lo:1' })], f0));
    const plan = renderPersistAll('ifupdown', [vip('198.18.1.99/32', { label: 'lo:1', state: 'absent' })], f1);
    expect(plan).toEqual({ files: [], remove: [], ownedPaths: [], problems: [] });
  });

  it('moves a VIP whose label changed out of its old file', () => {
    const f0 = debianFacts();
    const f1 = withPlanApplied(f0, renderPersistAll('ifupdown', [vip('198.18.1.250/32', { label: 'lo:1' })], f0));
    const plan = renderPersistAll('ifupdown', [vip('198.18.1.250/32', { label: 'lo:2' })], f1);
    expect(plan.files.map((f) => f.path)).toEqual(['/etc/network/interfaces.d/vipush-lo-2']);
    expect(plan.remove).toEqual(['/etc/network/interfaces.d/vipush-lo-1']);
    expect(plan.ownedPaths).toEqual(['/etc/network/interfaces.d/vipush-lo-1', '/etc/network/interfaces.d/vipush-lo-2']);
  });

  it('persistPathsToRead lists the target files and every file of ours already there', () => {
    const f = debianFacts({ presentFiles: ['/etc/network/interfaces.d/vipush-lo-7', '/etc/netplan/60-vipush-lo-1-2-3-4.yaml'] });
    expect(persistPathsToRead('ifupdown', [vip('198.18.1.250/32', { label: 'lo:1' })], f)).toEqual([
      '/etc/network/interfaces.d/vipush-lo-1',
      '/etc/network/interfaces.d/vipush-lo-7',
    ]);
    const rhel = facts({ presentFiles: ['/etc/sysconfig/network-scripts/ifcfg-lo:0'] });
    expect(persistPathsToRead('ifcfg', [vip('198.18.1.250/32', { label: 'lo:1' })], rhel)).toEqual([
      '/etc/sysconfig/network-scripts/ifcfg-lo:0',
      '/etc/sysconfig/network-scripts/ifcfg-lo:1',
    ]);
  });
});

describe('idempotence', () => {
  const pool = [
    vip('198.18.1.250/32', { label: 'lo:1' }),
    vip('198.18.1.251/32', { label: 'lo:2' }),
    vip('198.18.1.9/32'),
    vip('10.0.0.1/32', { scope: 'global', label: 'lo:a_1' }),
    vip('2001:db8::10/128'),
    vip('2001:db8::9/128'),
  ];
  const backends: [StackBackend, StackFacts][] = [
    ['ifupdown', debianFacts()],
    ['netplan', facts()],
    ['networkd', facts(NETWORKD)],
    ['networkmanager', facts(NM_142)],
    ['networkmanager', facts({ ...NM_142, nmVersion: '1.30.0' })],
    ['ifcfg', facts()],
  ];

  it('a second run with the files in place changes nothing and applies nothing', () => {
    for (const [backend, f0] of backends) {
      const tasks = backend === 'ifcfg' ? pool.filter((t) => t.family === 4 && t.label) : pool;
      const first = renderPersistAll(backend, tasks, f0);
      expect(first.problems, backend).toEqual([]);
      const second = renderPersistAll(backend, tasks, withPlanApplied(f0, first));
      expect(second.files, backend).toEqual(first.files);
      expect(second.remove, backend).toEqual([]);
      expect(second.applyNow, backend).toBeUndefined();
    }
  });

  it('the files do not depend on the order of the tasks, nor on how they are split across runs', () => {
    fc.assert(
      fc.property(fc.shuffledSubarray(pool, { minLength: 1 }), fc.integer({ min: 0, max: 6 }), (tasks, cut) => {
        for (const [backend, f0] of backends) {
          const usable = backend === 'ifcfg' ? tasks.filter((t) => t.family === 4 && t.label) : tasks;
          if (usable.length === 0) continue;
          const sorted = [...usable].sort((a, b) => a.address.localeCompare(b.address));
          const reference = renderPersistAll(backend, sorted, f0);
          const once = renderPersistAll(backend, usable, f0);
          expect(once).toEqual(reference);
          // Two runs with part of the tasks each leave the same files as one run with all.
          const firstRun = renderPersistAll(backend, usable.slice(0, cut), f0);
          const secondRun = renderPersistAll(backend, usable.slice(cut), withPlanApplied(f0, firstRun));
          const onDisk = withPlanApplied(withPlanApplied(f0, firstRun), secondRun).existing;
          expect(onDisk).toEqual(withPlanApplied(f0, reference).existing);
        }
      }),
      { numRuns: 60 },
    );
  });

  it('renderPersist task by task, each on the files the last one left, ends where renderPersistAll does', () => {
    for (const [backend, f0] of backends) {
      const tasks = backend === 'ifcfg' ? pool.filter((t) => t.family === 4 && t.label) : pool;
      let f = f0;
      for (const t of tasks) f = withPlanApplied(f, renderPersist(backend, t, f));
      expect(f.existing, backend).toEqual(withPlanApplied(f0, renderPersistAll(backend, tasks, f0)).existing);
    }
  });

  it('derives NetworkManager UUIDs from the profile id, in RFC 4122 form', () => {
    expect(deterministicUuid('vipush-lo')).toBe(deterministicUuid('vipush-lo'));
    expect(deterministicUuid('vipush-lo')).not.toBe(deterministicUuid('vipush-eth0'));
    expect(deterministicUuid('vipush-lo')).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});

describe('refusals', () => {
  const one = (backend: StackBackend, f: StackFacts, ...tasks: ReturnType<typeof vip>[]) => renderPersistAll(backend, tasks, f);

  it('ifupdown: says which line to add when /etc/network/interfaces does not source interfaces.d', () => {
    const plan = one('ifupdown', debianFacts({ ifupdownSources: [] }), vip('198.18.1.250/32', { label: 'lo:1' }));
    expect(plan.problems).toEqual([
      '/etc/network/interfaces does not source /etc/network/interfaces.d, so ifupdown would not read ' +
        '/etc/network/interfaces.d/vipush-lo-1 at boot; add the line "source /etc/network/interfaces.d/*" to ' +
        '/etc/network/interfaces (vipush does not edit that file)',
    ]);
    expect(plan.files).toEqual([]);
    expect(plan.ownedPaths).toEqual(['/etc/network/interfaces.d/vipush-lo-1']);
  });

  it('ifupdown: knows which source lines reach interfaces.d/vipush-*', () => {
    const ours = '/etc/network/interfaces.d/vipush-lo-1';
    expect(ifupdownReads(ours, ['source /etc/network/interfaces.d/*'])).toBe(true);
    expect(ifupdownReads(ours, ['source-directory /etc/network/interfaces.d'])).toBe(true);
    expect(ifupdownReads(ours, ['source-directory interfaces.d/'])).toBe(true);
    expect(ifupdownReads(ours, ['source interfaces.d/vipush-*'])).toBe(true);
    expect(ifupdownReads(ours, ['source /etc/network/interfaces.d/*.cfg'])).toBe(false);
    expect(ifupdownReads(ours, ['source /etc/network/other.d/*'])).toBe(false);
    // source-directory skips names with a dot
    expect(ifupdownReads('/etc/network/interfaces.d/vipush-lo-198.18.1.1', ['source-directory /etc/network/interfaces.d'])).toBe(false);
    expect(globMatches('/etc/network/interfaces.d/[!.]*', ours)).toBe(true);
    expect(globMatches('/etc/network/interfaces.d/v?push-lo-[0-9]', ours)).toBe(true);
  });

  it('ifupdown: refuses an alias stanza that another file already declares', () => {
    const f = debianFacts({
      ifupdownIfaces: [
        { name: 'lo', family: 'inet' },
        { name: 'lo:1', family: 'inet' },
      ],
    });
    expect(one('ifupdown', f, vip('198.18.1.250/32', { label: 'lo:1' })).problems).toEqual([
      '198.18.1.250/32: ifupdown already has an "iface lo:1 inet" stanza outside vipush\'s files; remove it or choose another label',
    ]);
    // several `iface lo` stanzas are allowed
    expect(one('ifupdown', f, vip('198.18.1.251/32')).problems).toEqual([]);
  });

  it('never overwrites a file that vipush did not write', () => {
    const path = '/etc/network/interfaces.d/vipush-lo-1';
    const f = debianFacts({ presentFiles: [path], existing: { [path]: 'auto lo:1\niface lo:1 inet static\n' } });
    expect(one('ifupdown', f, vip('198.18.1.250/32', { label: 'lo:1' })).problems).toEqual([
      `198.18.1.250/32: ${path} exists and is not managed by vipush; vipush will not overwrite it`,
    ]);
  });

  it('refuses to plan over a file whose content was not read', () => {
    const path = '/etc/systemd/network/05-vipush-lo.network';
    const plan = one('networkd', facts({ presentFiles: [path] }), vip('198.18.1.250/32'));
    expect(plan.problems).toEqual([`${path} exists but its content was not read before planning`]);
  });

  it('refuses two VIPs with one label', () => {
    const plan = one('ifupdown', debianFacts(), vip('198.18.1.250/32', { label: 'lo:1' }), vip('198.18.1.251/32', { label: 'lo:1' }));
    expect(plan.problems).toEqual([
      '198.18.1.251/32 and 198.18.1.250/32 would both be written to /etc/network/interfaces.d/vipush-lo-1; give them different labels',
    ]);
    expect(plan.files).toEqual([]);
  });

  it('refuses values with a newline, a quote or a space, whatever the backend', () => {
    for (const backend of STACK_BACKENDS) {
      for (const label of ['lo:1\nauto eth0', 'lo:"1"', "lo:'1'", 'lo: 1']) {
        const plan = one(backend, facts(NM_142), vip('198.18.1.250/32', { label }));
        expect(plan.problems, `${backend} ${JSON.stringify(label)}`).toHaveLength(1);
        expect(plan.problems[0]).toContain('characters vipush will not write');
        expect(plan.files).toEqual([]);
      }
    }
    expect(one('netplan', facts(), vip('198.18.1.250/32\n  - 0.0.0.0/0')).problems[0]).toContain('will not write');
    expect(one('netplan', facts(), vip('198.18.1.250/32', { dev: 'lo\n' })).problems[0]).toContain('will not write');
    expect(one('netplan', facts(), vip('198.18.1.300/32')).problems[0]).toContain('is not an address/prefix');
    expect(one('netplan', facts(), vip('198.18.1.250/32', { label: 'eth0:1' })).problems[0]).toContain('must start with "lo:"');
  });

  it('netplan, networkd and NetworkManager persist on lo only', () => {
    for (const backend of ['netplan', 'networkd', 'networkmanager'] as const) {
      expect(one(backend, facts(NM_142), vip('198.18.1.250/32', { dev: 'eth0' })).problems[0]).toMatch(/only on lo, not on eth0$/);
    }
  });

  it('ifcfg needs an alias label of letters, digits and _, and IPv4', () => {
    const f = facts();
    expect(one('ifcfg', f, vip('198.18.1.250/32')).problems).toEqual([
      '198.18.1.250/32: network-scripts keeps a VIP on lo only as an alias; give it a label such as "lo:1"',
    ]);
    expect(one('ifcfg', f, vip('198.18.1.250/32', { label: 'lo:vip-a' })).problems[0]).toContain('only letters, digits and "_"');
    expect(one('ifcfg', f, vip('2001:db8::10/128')).problems[0]).toContain('IPv4 only');
  });

  it('ifcfg refuses a VIP that a hand-written alias file already brings up', () => {
    const theirs = '/etc/sysconfig/network-scripts/ifcfg-lo:0';
    const f = facts({ presentFiles: [theirs], existing: { [theirs]: 'DEVICE=lo:0\nIPADDR=198.18.1.250\nNETMASK=255.255.255.255\n' } });
    expect(one('ifcfg', f, vip('198.18.1.250/32', { label: 'lo:1' })).problems).toEqual([
      `198.18.1.250/32: ${theirs} already configures 198.18.1.250; remove it or manage the VIP there by hand`,
    ]);
    // Someone else's alias for another address is left alone.
    expect(one('ifcfg', f, vip('198.18.1.251/32', { label: 'lo:1' })).problems).toEqual([]);
  });

  it('NetworkManager needs a known version', () => {
    expect(one('networkmanager', facts({ ...NM_142, nmVersion: null }), vip('198.18.1.250/32')).problems[0]).toContain("NetworkManager's version is unknown");
  });

  it('networkd refuses when another .network file names lo', () => {
    const f = facts({ ...NETWORKD, networkdLoFiles: ['/run/systemd/network/10-netplan-lo.network'] });
    expect(one('networkd', f, vip('198.18.1.250/32')).problems[0]).toMatch(
      /^\/run\/systemd\/network\/10-netplan-lo\.network already matches lo, and systemd-networkd applies only the first/,
    );
  });
});

describe('scope host across reboots', () => {
  it('only ifupdown, networkd and the systemd unit bring the VIP back with scope host', () => {
    expect(STACK_BACKENDS.filter(keepsScopeHost)).toEqual(['ifupdown', 'networkd', 'systemd']);
  });

  it('explains the refusal in one line and suggests arp_ignore 1', () => {
    for (const backend of STACK_BACKENDS.filter((b) => !keepsScopeHost(b))) {
      const msg = scopeHostRefusal(backend, '198.18.1.250/32');
      expect(msg).not.toContain('\n');
      expect(msg).toMatch(/^198\.18\.1\.250\/32: arp_ignore=3 hides only scope-host addresses, but .+ answers ARP for it; set arp_ignore: 1/);
    }
    expect(scopeHostRefusal('netplan', '192.0.2.10/32')).toContain('netplan has no scope option');
    expect(() => scopeHostRefusal('networkd', '192.0.2.10/32')).toThrow(/keeps scope host/);
  });
});

describe('detectStack', () => {
  const svc = (active: string, enabled: string) => ({ active, enabled });
  const probe = (lines: string[]) => detectStack(parsePersistProbe(lines.map((l) => `persist.${l}`)));

  it('Debian 12 with ifupdown', () => {
    expect(
      probe([
        'systemd=1',
        'svc.systemd-networkd.active=inactive',
        'svc.systemd-networkd.enabled=disabled',
        'svc.NetworkManager.active=inactive',
        'svc.NetworkManager.enabled=not-found',
        'svc.networking.active=active',
        'svc.networking.enabled=enabled',
        'os_id=debian',
        'interfaces=1',
        'interfaces_d=1',
        'ifupdown_source=source /etc/network/interfaces.d/*',
        'ifupdown_iface=lo inet',
        'ifupdown_iface=eth0 inet',
      ]),
    ).toEqual({ backend: 'ifupdown', reason: 'networking.service runs ifupdown, which brings up lo from /etc/network/interfaces' });
  });

  it('Debian desktop: NetworkManager runs, but ifupdown still brings up lo', () => {
    const f = debianFacts({ services: { networking: svc('active', 'enabled'), NetworkManager: svc('active', 'enabled') }, nmVersion: '1.42.4' });
    expect(detectStack(f).backend).toBe('ifupdown');
  });

  it('Ubuntu server: netplan with networkd', () => {
    expect(
      probe([
        'systemd=1',
        'svc.systemd-networkd.active=active',
        'svc.systemd-networkd.enabled=enabled',
        'svc.NetworkManager.active=inactive',
        'svc.NetworkManager.enabled=not-found',
        'os_id=ubuntu',
        'os_id_like=debian',
        'interfaces=0',
        'netplan_yaml=50-cloud-init.yaml',
        'networkd_network=',
      ]),
    ).toEqual({ backend: 'netplan', reason: '/etc/netplan holds 1 YAML file and systemd-networkd is active' });
  });

  it('Ubuntu desktop: netplan renders for NetworkManager, so a NetworkManager profile', () => {
    const d = probe([
      'systemd=1',
      'svc.systemd-networkd.active=inactive',
      'svc.systemd-networkd.enabled=disabled',
      'svc.NetworkManager.active=active',
      'svc.NetworkManager.enabled=enabled',
      'nm_version=1.46.0',
      'os_id=ubuntu',
      'os_id_like=debian',
      'netplan_yaml=01-network-manager-all.yaml',
      'netplan_nm_renderer=1',
      'nm_dir=1',
    ]);
    expect(d.backend).toBe('networkmanager');
    expect(d.reason).toBe(
      'netplan renders for NetworkManager 1.46.0 here and systemd-networkd is not active, and netplan cannot describe lo for NetworkManager, so vipush writes a NetworkManager profile',
    );
  });

  it('RHEL 9: NetworkManager 1.42', () => {
    expect(
      probe([
        'systemd=1',
        'svc.systemd-networkd.active=inactive',
        'svc.systemd-networkd.enabled=not-found',
        'svc.NetworkManager.active=active',
        'svc.NetworkManager.enabled=enabled',
        'svc.network.active=inactive',
        'svc.network.enabled=not-found',
        'nm_version=1.42.2-8.el9_2',
        'os_id="rhel"',
        'os_id_like="fedora"',
        'interfaces=0',
        'ifcfg_dir=1',
        'nm_dir=1',
      ]),
    ).toEqual({ backend: 'networkmanager', reason: 'NetworkManager 1.42.2-8.el9_2 is active and /etc/netplan is empty' });
  });

  it('RHEL 7: network-scripts, with or without NetworkManager 1.18', () => {
    const base = [
      'systemd=1',
      'svc.systemd-networkd.active=inactive',
      'svc.systemd-networkd.enabled=unknown',
      'svc.network.active=active',
      'svc.network.enabled=enabled',
      'nm_version=1.18.8-2.el7_9',
      'os_id="rhel"',
      'os_id_like="fedora"',
      'interfaces=0',
      'ifcfg_dir=1',
      'ifcfg_aliases=1',
      'nm_dir=1',
    ];
    const withNm = probe([...base, 'svc.NetworkManager.active=active', 'svc.NetworkManager.enabled=enabled']);
    expect(withNm).toEqual({
      backend: 'ifcfg',
      reason: "NetworkManager 1.18.8-2.el7_9 is active but cannot manage lo (that needs 1.42), and network-scripts bring up lo's aliases at boot",
    });
    const withoutNm = probe([...base, 'svc.NetworkManager.active=inactive', 'svc.NetworkManager.enabled=disabled']);
    expect(withoutNm).toEqual({ backend: 'ifcfg', reason: '/etc/sysconfig/network-scripts has ifup-aliases and NetworkManager is not active' });
  });

  it('RHEL 8 without network-scripts: NetworkManager 1.40 (dummy device)', () => {
    const f = parsePersistProbe([
      'persist.systemd=1',
      'persist.svc.NetworkManager.active=active',
      'persist.svc.NetworkManager.enabled=enabled',
      'persist.svc.network.active=inactive',
      'persist.svc.network.enabled=not-found',
      'persist.nm_version=1.40.16',
      'persist.ifcfg_dir=1',
    ]);
    expect(detectStack(f).backend).toBe('networkmanager');
    expect(renderPersistAll('networkmanager', [vip('198.18.1.250/32')], f).files[0].content).toContain('type=dummy');
  });

  it('Fedora with systemd-networkd', () => {
    expect(
      probe([
        'systemd=1',
        'svc.systemd-networkd.active=active',
        'svc.systemd-networkd.enabled=enabled',
        'svc.NetworkManager.active=inactive',
        'svc.NetworkManager.enabled=disabled',
        'nm_version=1.44.2',
        'os_id=fedora',
        'networkd_network=20-wired.network',
        'ifcfg_dir=0',
        'nm_dir=1',
      ]),
    ).toEqual({ backend: 'networkd', reason: 'systemd-networkd is active and there is neither netplan nor NetworkManager' });
  });

  it('a container without systemd falls back on files', () => {
    expect(probe(['systemd=0', 'interfaces=1']).backend).toBe('ifupdown');
    expect(probe(['systemd=0', 'netplan_yaml=50-cloud-init.yaml']).backend).toBe('netplan');
    expect(probe(['systemd=0', 'nm_dir=1', 'nm_version=1.42.4']).backend).toBe('networkmanager');
    expect(probe(['systemd=0', 'ifcfg_dir=1', 'ifcfg_aliases=1']).backend).toBe('ifcfg');
  });

  it('nothing known: null, with what to do', () => {
    const d = probe(['systemd=1', 'svc.NetworkManager.active=inactive', 'svc.systemd-networkd.active=inactive']);
    expect(d.backend).toBeNull();
    expect(d.reason).toMatch(/^no known network stack found: .*set persist: to one of/);
  });

  it('an explicit persist: wins, none persists nothing', () => {
    const f = debianFacts();
    expect(chooseBackend('netplan', f)).toEqual({ backend: 'netplan', reason: 'persist: netplan is set in the playbook' });
    expect(chooseBackend('none', f).backend).toBeNull();
    expect(chooseBackend('auto', f).backend).toBe('ifupdown');
  });
});

describe('parsePersistProbe', () => {
  it('reads every key and ignores lines that are not its own', () => {
    const f = parsePersistProbe([
      'kernel=6.1.0',
      'persist.systemd=1',
      'persist.svc.NetworkManager.active=active',
      'persist.svc.NetworkManager.enabled=enabled',
      'persist.svc.bogus.active=active',
      'persist.nm_version=1.42.4',
      "persist.os_id='debian'",
      'persist.os_id_like="rhel fedora"',
      'persist.interfaces=1',
      'persist.interfaces_d=1',
      'persist.ifupdown_source=  source-directory interfaces.d',
      'persist.ifupdown_iface=lo:1 inet',
      'persist.netplan_yaml=a.yaml',
      'persist.netplan_nm_renderer=1',
      'persist.networkd_network=b.network',
      'persist.networkd_lo=/lib/systemd/network/x.network',
      'persist.networkd_lo=/lib/systemd/network/x.network',
      'persist.ifcfg_dir=1',
      'persist.ifcfg_aliases=1',
      'persist.nm_dir=1',
      'persist.file=/etc/network/interfaces.d/vipush-lo-1',
      'persist.unknown_key=1',
    ]);
    expect(f).toEqual({
      systemd: true,
      services: { NetworkManager: { active: 'active', enabled: 'enabled' } },
      nmVersion: '1.42.4',
      osId: 'debian',
      osIdLike: ['rhel', 'fedora'],
      interfacesFile: true,
      interfacesDir: true,
      ifupdownSources: ['source-directory interfaces.d'],
      ifupdownIfaces: [{ name: 'lo:1', family: 'inet' }],
      netplanFiles: ['a.yaml'],
      netplanNmRenderer: true,
      networkdFiles: ['b.network'],
      networkdLoFiles: ['/lib/systemd/network/x.network'],
      ifcfgDir: true,
      ifcfgAliases: true,
      nmDir: true,
      presentFiles: ['/etc/network/interfaces.d/vipush-lo-1'],
      existing: {},
    });
  });
});
