import { describe, expect, it } from 'vitest';
import { simulate } from '../../src/changes/index.js';
import { parseFacts } from '../../src/facts/gather.js';
import type { HostFacts } from '../../src/facts/types.js';
import type { AddressArgs } from '../../src/modules/address/index.js';
import { factsNeeded, planTask, type ResolvedTask } from '../../src/modules/registry.js';
import type { SysctlArgs } from '../../src/modules/sysctl/index.js';
import type { TaskPlan } from '../../src/modules/types.js';
import { factsOutput } from './fake-transport.js';

const VIP = '198.18.0.250/32';
const IGNORE = 'net.ipv4.conf.all.arp_ignore';
const ANNOUNCE = 'net.ipv4.conf.all.arp_announce';
const PERSISTED = '/etc/network/interfaces.d/vipush-lo-1';
const source = { file: 'p.yml', line: 1, col: 1 };

const vip = (args: Partial<AddressArgs> = {}): ResolvedTask => ({
  name: 'vip',
  module: 'address',
  source,
  args: { address: VIP, family: 4, dev: 'lo', scope: 'host', label: 'lo:1', state: 'present', persist: 'auto', allowArp: false, ...args },
});
const sysctl = (set: Record<string, string>, file = '/etc/sysctl.conf'): ResolvedTask => ({
  name: 'arp sysctls',
  module: 'sysctl',
  source,
  args: { file, set, apply: true } satisfies SysctlArgs,
});

/** A Debian host whose ifupdown brings lo's aliases up at boot; ARP hidden live (1/2) unless said otherwise. */
interface Host {
  files?: Record<string, string>;
  arp?: Record<string, [number, number]>;
  systemd?: boolean;
  vipLive?: boolean;
}

const nonce = '0a1b2c';
function hostFacts(tasks: ResolvedTask[], h: Host): HostFacts {
  const files: Record<string, { content: string }> = {
    '/etc/network/interfaces': { content: 'auto lo\niface lo inet loopback\nsource /etc/network/interfaces.d/*\n' },
  };
  for (const [path, content] of Object.entries(h.files ?? {})) files[path] = { content };
  const addrs = [
    { dev: 'lo', family: 'inet' as const, local: '127.0.0.1', prefixlen: 8, scope: 'host', label: 'lo' },
    { dev: 'eth0', family: 'inet' as const, local: '198.18.0.11', prefixlen: 24, scope: 'global', label: 'eth0' },
    ...(h.vipLive ? [{ dev: 'lo', family: 'inet' as const, local: '198.18.0.250', prefixlen: 32, scope: 'host', label: 'lo:1' }] : []),
  ];
  const out = factsOutput(nonce, {
    addrs,
    arp: h.arp ?? { all: [1, 2], default: [0, 0], lo: [0, 0], eth0: [0, 0] },
    files,
    probes: { persist: [`persist.systemd=${h.systemd ? 1 : 0}`, 'persist.interfaces=1', 'persist.interfaces_d=1'] },
  });
  return parseFacts(Buffer.from(out), nonce, factsNeeded(tasks));
}

/** Plans the tasks in order against one simulated state, as HostRun does. */
function planPlay(tasks: ResolvedTask[], h: Host | HostFacts): TaskPlan[] {
  const state = 'sysctls' in h ? h : hostFacts(tasks, h);
  return tasks.map((t) => {
    const plan = planTask(t, state, { host: 'h1' });
    for (const c of plan.changes) simulate(state, c);
    return plan;
  });
}

const written = (plan: TaskPlan) => plan.changes.flatMap((c) => (c.kind === 'file' && c.after ? [c.path] : []));

/** The file ifupdown reads for the VIP, as vipush writes it. */
function persistedFile(): string {
  const [plan] = planPlay([vip()], { files: { '/etc/sysctl.conf': `${IGNORE} = 1\n` } });
  const c = plan.changes.find((x) => x.kind === 'file' && x.path === PERSISTED);
  if (c?.kind !== 'file' || !c.after) throw new Error('no persisted file planned');
  return c.after.content.toString('utf8');
}

describe('address: a persisted VIP stays hidden after a reboot', () => {
  it('refuses to persist when ARP is hidden live only, and says why in one line', () => {
    const play = [vip()];
    expect(() => planPlay(play, { files: { '/etc/sysctl.conf': '# kernel settings\n' } })).toThrow(
      `refusing to persist ${VIP} on lo: after a reboot arp_ignore would be 0 (max of conf/all and conf/eth0 in the boot files: ` +
        '/etc/sysctl.conf sets none), so eth0 would answer ARP for it. ' +
        'Persist the ARP sysctls in a sysctl task before this one (arp_ignore 1, or 3 with scope host), or use persist: none',
    );
  });

  it('asks the facts for /etc/sysctl.conf whenever it persists', () => {
    expect(factsNeeded([vip()]).files).toContain('/etc/sysctl.conf');
    expect(factsNeeded([vip({ persist: 'none' })]).files).not.toContain('/etc/sysctl.conf');
  });

  it('persists when /etc/sysctl.conf hides the VIP at boot', () => {
    const [plan] = planPlay([vip()], { files: { '/etc/sysctl.conf': `# ours\n${IGNORE} = 1\n${ANNOUNCE} = 2\n` } });
    expect(written(plan)).toEqual([PERSISTED]);
    expect(plan.unfixable).toEqual([]);
  });

  it('refuses when a file read later at boot sets arp_ignore back to 0, and names it', () => {
    const files = { '/etc/sysctl.d/60-vip.conf': `${IGNORE} = 1\n`, '/usr/lib/sysctl.d/99-zz-reset.conf': `${IGNORE} = 0\n` };
    expect(() => planPlay([vip()], { files })).toThrow(
      'conf/all = 0 from /usr/lib/sysctl.d/99-zz-reset.conf (read after /etc/sysctl.d/60-vip.conf, which sets 1), conf/eth0 unset)',
    );
    // a file of the same name in /etc masks it
    const masked = { ...files, '/etc/sysctl.d/99-zz-reset.conf': '# masked\n' };
    expect(written(planPlay([vip()], { files: masked })[0])).toEqual([PERSISTED]);
  });

  it('reads /etc/sysctl.conf after every drop-in, and takes max(all, eth0)', () => {
    const files = { '/etc/sysctl.d/10-reset.conf': `${IGNORE} = 0\n`, '/etc/sysctl.conf': `${IGNORE} = 0\nnet.ipv4.conf.eth0.arp_ignore = 2\n` };
    expect(written(planPlay([vip()], { files })[0])).toEqual([PERSISTED]);
  });

  it('counts a glob line that matches the key; under systemd-sysctl an explicit key beats any glob', () => {
    const files = { '/etc/sysctl.d/60-vip.conf': `${IGNORE} = 1\n`, '/etc/sysctl.d/90-all.conf': 'net.ipv4.conf.*.arp_ignore = 0\n' };
    expect(() => planPlay([vip()], { files })).toThrow(/arp_ignore would be 0 .*conf\/all = 0 from \/etc\/sysctl.d\/90-all.conf/);
    const glob = {
      '/etc/sysctl.d/10-reset.conf': `${IGNORE} = 0\nnet.ipv4.conf.eth0.arp_ignore = 0\n`,
      '/etc/sysctl.d/60-all.conf': 'net.ipv4.conf.*.arp_ignore = 1\n',
    };
    // sysctl --system applies lines in order: the glob, read last, hides the VIP
    expect(written(planPlay([vip()], { files: glob })[0])).toEqual([PERSISTED]);
    expect(() => planPlay([vip()], { files: glob, systemd: true })).toThrow(
      /arp_ignore would be 0 \(max of conf\/all and conf\/eth0 in the boot files as systemd-sysctl reads them: conf\/all = 0 from \/etc\/sysctl.d\/10-reset.conf/,
    );
  });

  it('with systemd as PID 1, /etc/sysctl.conf counts only where a link in sysctl.d makes systemd-sysctl read it', () => {
    const play = [vip()];
    const h: Host = { systemd: true, files: { '/etc/sysctl.conf': `${IGNORE} = 1\n` } };
    expect(() => planPlay(play, h)).toThrow(/as systemd-sysctl reads them: .*systemd-sysctl does not read \/etc\/sysctl.conf here/);
    const linked = hostFacts(play, h);
    linked.sysctlDropIns.push({ path: '/etc/sysctl.d/99-sysctl.conf', target: '/etc/sysctl.conf', text: `${IGNORE} = 1\n` });
    expect(written(planPlay(play, linked)[0])).toEqual([PERSISTED]);
  });

  it('treats arp_ignore values the kernel answers for (above 8) as not hiding', () => {
    expect(() => planPlay([vip()], { files: { '/etc/sysctl.conf': `${IGNORE} = 9\n` } })).toThrow(/arp_ignore would be 9/);
  });

  it('counts what an earlier sysctl task of the play writes to the boot files', () => {
    const arp = { [IGNORE]: '1', [ANNOUNCE]: '2' };
    const live0 = { all: [0, 0], default: [0, 0], lo: [0, 0], eth0: [0, 0] } as Record<string, [number, number]>;
    for (const file of ['/etc/sysctl.conf', '/etc/sysctl.d/60-vip.conf']) {
      const play = [sysctl(arp, file), vip()];
      const [s, a] = planPlay(play, { arp: live0, files: { '/etc/sysctl.conf': '# kernel settings\n' } });
      expect(written(s)).toEqual([file]);
      expect(written(a)).toEqual([PERSISTED]);
    }
    // a later file overrides the task's file at boot: the task writes vipush's override file, and that counts too
    const play = [sysctl(arp), vip()];
    const [s, a] = planPlay(play, { arp: live0, files: { '/etc/sysctl.d/99-zz-reset.conf': `${IGNORE} = 0\n` } });
    expect(written(s)).toEqual(['/etc/sysctl.conf', '/etc/sysctl.d/zz-vipush-overrides.conf']);
    expect(written(a)).toEqual([PERSISTED]);
  });

  it('allow_arp: true persists whatever the boot files say', () => {
    const [plan] = planPlay([vip({ allowArp: true })], {});
    expect(written(plan)).toEqual([PERSISTED]);
    expect(plan.unfixable).toEqual([]);
  });

  it('arp_ignore 3 at boot needs a stack that brings the VIP back with scope host', () => {
    const files = { '/etc/sysctl.conf': `${IGNORE} = 3\n${ANNOUNCE} = 2\n` };
    // ifupdown keeps scope host
    expect(written(planPlay([vip()], { files })[0])).toEqual([PERSISTED]);
    // netplan has no scope option: live arp_ignore 1 passes, the boot value 3 does not
    expect(() => planPlay([vip({ persist: 'netplan' })], { files })).toThrow(
      /after a reboot arp_ignore would be 3 .*which hides only scope-host addresses, and netplan has no scope option, so the VIP comes back with scope global: eth0 would answer ARP for it\. Persist the ARP sysctls in a sysctl task before this one \(arp_ignore 1: netplan can't keep scope host\)/,
    );
    // a VIP persisted with scope global is not hidden by 3 either
    expect(() => planPlay([vip({ scope: 'global' })], { files })).toThrow(/the VIP is persisted with scope global/);
  });

  it('removing a VIP is not guarded', () => {
    const [plan] = planPlay([vip({ state: 'absent' })], { vipLive: true, files: { [PERSISTED]: persistedFile() } });
    expect(plan.changes.map((c) => (c.kind === 'file' ? `file ${c.path} ${c.after ? 'written' : 'removed'}` : c.kind))).toContain(`file ${PERSISTED} removed`);
    expect(plan.unfixable).toEqual([]);
  });
});

describe('address drift: a persisted VIP that would answer ARP after a reboot', () => {
  it('is unfixable drift of the address task when the play declares no sysctls', () => {
    const [plan] = planPlay([vip()], { vipLive: true, files: { [PERSISTED]: persistedFile(), '/etc/sysctl.conf': '\n' } });
    expect(plan.changes).toEqual([]);
    expect(plan.unfixable).toEqual([
      {
        item: `boot ARP for ${VIP}`,
        expected: 'hidden after a reboot',
        actual:
          'after a reboot arp_ignore would be 0 (max of conf/all and conf/eth0 in the boot files: /etc/sysctl.conf sets none), so eth0 would answer ARP for it; ' +
          "drift --fix can't repair this without a sysctl task before this one that persists the ARP sysctls",
      },
    ]);
    expect(plan.warnings.join('\n')).toMatch(/is persisted for boot, but after a reboot arp_ignore would be 0/);
  });

  it('is the sysctl task’s drift, which --fix repairs, when the play declares them', () => {
    const play = [sysctl({ [IGNORE]: '1', [ANNOUNCE]: '2' }), vip()];
    const [s, a] = planPlay(play, { vipLive: true, files: { [PERSISTED]: persistedFile(), '/etc/sysctl.conf': '\n' } });
    expect(s.drift?.map((d) => d.item)).toEqual([`${IGNORE} in /etc/sysctl.conf`, `${ANNOUNCE} in /etc/sysctl.conf`]);
    expect(written(s)).toEqual(['/etc/sysctl.conf']);
    expect(a.changes).toEqual([]);
    expect(a.unfixable).toEqual([]);
  });

  it('is no drift when the boot files hide it', () => {
    const [plan] = planPlay([vip()], { vipLive: true, files: { [PERSISTED]: persistedFile(), '/etc/sysctl.conf': `${IGNORE} = 1\n` } });
    expect(plan).toEqual({ changes: [], warnings: [], unfixable: [] });
  });
});
