/**
 * The fleet lab itself, tested with the system's ssh client and kernel tools
 * (not with vipush), so that vipush's e2e tests can trust it. Needs root.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLab, withLab, type Lab, type LabHost } from '../lab/lab.js';

const ROOT_REASON = 'the fleet lab needs root (network namespaces, mounts, sshd): run the e2e tests as root';
const REPO = fileURLToPath(new URL('../..', import.meta.url));

function requireRoot(): void {
  if (process.getuid?.() !== 0) throw new Error(ROOT_REASON);
}

function labNamespaces(prefix: string): string[] {
  const out = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
  return out
    .split('\n')
    .map((l) => l.split(' ')[0])
    .filter((n) => n.startsWith(`${prefix}-`));
}

function labProcesses(dir: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmdline.includes(dir)) found.push(`${pid}: ${cmdline}`);
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

function expectGone(prefix: string, dir: string): void {
  expect(labNamespaces(prefix)).toEqual([]);
  expect(spawnSync('ip', ['link', 'show', 'dev', `${prefix}c`]).status).not.toBe(0);
  expect(existsSync(dir)).toBe(false);
  expect(labProcesses(dir)).toEqual([]);
}

/** The system ssh client, with nothing from this machine's own ssh config or known hosts. */
function ssh(lab: Lab, host: LabHost, command: string, knownHosts = lab.knownHostsFile) {
  const r = spawnSync(
    'ssh',
    [
      '-F',
      '/dev/null',
      '-o',
      'BatchMode=yes',
      '-o',
      `UserKnownHostsFile=${knownHosts}`,
      '-o',
      'GlobalKnownHostsFile=/dev/null',
      '-o',
      'StrictHostKeyChecking=yes',
      '-o',
      'ConnectTimeout=3',
      '-i',
      lab.privateKeyFile,
      `root@${host.ip}`,
      command,
    ],
    { encoding: 'utf8', timeout: 20_000 },
  );
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function tcpOpen(ip: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: ip, port });
    s.setTimeout(1500);
    const answer = (up: boolean) => () => {
      s.destroy();
      resolve(up);
    };
    s.once('connect', answer(true));
    s.once('error', answer(false));
    s.once('timeout', answer(false));
  });
}

async function ok(lab: Lab, host: LabHost, argv: string[]): Promise<string> {
  const r = await lab.hostExec(host, argv);
  expect(r.stderr, `${argv.join(' ')} on ${host.name}`).toBe('');
  expect(r.code, `${argv.join(' ')} on ${host.name}`).toBe(0);
  return r.stdout;
}

/** The correct end state by hand: sysctls first, then the VIP with scope host. */
async function hideVip(lab: Lab, host: LabHost): Promise<void> {
  await ok(lab, host, ['sysctl', '-q', '-w', 'net.ipv4.conf.all.arp_ignore=3', 'net.ipv4.conf.all.arp_announce=2']);
  await lab.hostExec(host, ['ip', 'addr', 'del', `${lab.vip}/32`, 'dev', 'lo']);
  await ok(lab, host, ['ip', 'addr', 'add', `${lab.vip}/32`, 'dev', 'lo', 'scope', 'host']);
}

describe('fleet lab with 3 real servers', () => {
  let lab: Lab;

  beforeAll(async () => {
    requireRoot();
    const started = Date.now();
    lab = await createLab({ hosts: 3 });
    console.info(`lab ${lab.prefix}: 3 real servers + director + client in ${Date.now() - started} ms`, lab.timings);
  });

  afterAll(async () => {
    await lab?.teardown();
  });

  it('writes an Ansible inventory and one known_hosts line per sshd', () => {
    const inventory = readFileSync(lab.inventoryFile, 'utf8');
    for (const h of lab.hosts) expect(inventory).toContain(`${h.name}: { ansible_host: ${h.ip} }`);
    expect(inventory).toContain(`ansible_ssh_private_key_file: ${lab.privateKeyFile}`);
    expect(inventory).toMatch(/realservers:\n {6}hosts:/);
    const lines = readFileSync(lab.knownHostsFile, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(5);
    for (const h of [...lab.hosts, lab.director, lab.client]) {
      expect(lines.filter((l) => l.startsWith(`${h.ip} ssh-ed25519 AAAA`))).toHaveLength(1);
    }
  });

  it('answers SSH on every host with the key pinned in known_hosts, under its own host name', () => {
    for (const h of [...lab.hosts, lab.director, lab.client]) {
      const r = ssh(lab, h, 'hostname');
      expect(r.stderr).toBe('');
      expect(r.stdout.trim()).toBe(h.name);
    }
  });

  it('refuses a host whose key does not match known_hosts (the pin is real)', () => {
    const [h1, h2] = lab.hosts;
    const h2Key = readFileSync(lab.knownHostsFile, 'utf8')
      .split('\n')
      .find((l) => l.startsWith(`${h2.ip} `))!
      .split(' ')
      .slice(1)
      .join(' ');
    const wrong = join(lab.dir, 'known_hosts.wrong');
    writeFileSync(wrong, `${h1.ip} ${h2Key}\n`);
    const r = ssh(lab, h1, 'hostname', wrong);
    expect(r.code).toBe(255);
    expect(r.stderr).toMatch(/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);
  });

  it('gives each host its own /etc: a write on h1 lands in h1 upper dir only', async () => {
    const [h1, h2] = lab.hosts;
    const probe = `vipush-lab-probe-${lab.prefix}`;
    const w = ssh(lab, h1, `echo written-on-h1 > /etc/${probe}`);
    expect(w.code).toBe(0);
    expect(readdirSync(lab.etcUpper(h1))).toEqual([probe]);
    expect(readFileSync(join(lab.etcUpper(h1), probe), 'utf8')).toBe('written-on-h1\n');
    expect(existsSync(`/etc/${probe}`)).toBe(false);
    expect(ssh(lab, h2, `test -e /etc/${probe}`).code).toBe(1);
    expect(readdirSync(lab.etcUpper(h2))).toEqual([]);
    expect((await lab.hostExec(h1, ['cat', `/etc/${probe}`])).stdout).toBe('written-on-h1\n');
    await ok(lab, h1, ['rm', `/etc/${probe}`]);
  });

  it('keeps sysctls per namespace, and the machine-wide ones out of reach', async () => {
    const [h1, h2] = lab.hosts;
    const key = 'net.ipv4.conf.all.arp_ignore';
    const machineBefore = readFileSync('/proc/sys/net/ipv4/conf/all/arp_ignore', 'utf8').trim();
    expect(await lab.sysctl(h1, key)).toBe('0');
    expect(await lab.sysctl(h1, 'net.ipv4.conf.eth0.arp_announce')).toBe('0');
    await ok(lab, h1, ['sysctl', '-q', '-w', `${key}=1`]);
    expect(await lab.sysctl(h1, key)).toBe('1');
    expect(await lab.sysctl(h2, key)).toBe('0');
    expect(readFileSync('/proc/sys/net/ipv4/conf/all/arp_ignore', 'utf8').trim()).toBe(machineBefore);
    await ok(lab, h1, ['sysctl', '-q', '-w', `${key}=0`]);

    // Writing the machine's own value back is harmless even if the guard failed.
    const pidMax = readFileSync('/proc/sys/kernel/pid_max', 'utf8').trim();
    const r = await lab.hostExec(h1, ['sysctl', '-w', `kernel.pid_max=${pidMax}`]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/permission denied|read-only/i);
  });

  it('reproduces the leak: a naive VIP on every real server lets all of them answer ARP, hiding leaves the director alone', async () => {
    await lab.setupDirector();
    for (const h of lab.hosts) await lab.naiveVip(h);
    const naive = await lab.arpOwners(lab.vip);
    expect(naive).toEqual([...lab.hosts.map((h) => h.mac), lab.director.mac].sort());

    for (const h of lab.hosts) await hideVip(lab, h);
    expect(await lab.arpOwners(lab.vip)).toEqual([lab.director.mac]);
    const onLo = await lab.addresses(lab.hosts[0]);
    expect(onLo.find((a) => a.local === lab.vip)).toMatchObject({ family: 'inet', prefixlen: 32, scope: 'host' });
    // Nobody answers for an address nobody holds.
    expect(await lab.arpOwners(`${lab.subnet.split('.').slice(0, 3).join('.')}.249`)).toEqual([]);
  });

  it('balances HTTP through the director over more than one real server', async () => {
    await lab.setupDirector();
    for (const h of lab.hosts) await hideVip(lab, h);
    const servedBy = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const r = await lab.httpGet(`http://${lab.vip}/`);
      expect(r.error).toBeUndefined();
      expect(r.status).toBe(200);
      servedBy.add(r.body.trim());
    }
    for (const name of servedBy) expect(lab.hosts.map((h) => h.name)).toContain(name);
    expect(servedBy.size).toBeGreaterThan(1);
  });

  it('takes sshd down and back up, and a host off the switch and back', async () => {
    const [, h2, h3] = lab.hosts;
    await lab.killSshd(h2);
    expect(await tcpOpen(h2.ip, 22)).toBe(false);
    expect((await lab.hostExec(h2, ['hostname'])).stdout.trim()).toBe('h2');
    await lab.startSshd(h2);
    expect(ssh(lab, h2, 'hostname').stdout.trim()).toBe('h2');

    await lab.linkDown(h3);
    expect(await tcpOpen(h3.ip, 22)).toBe(false);
    await lab.linkUp(h3);
    expect(ssh(lab, h3, 'hostname').stdout.trim()).toBe('h3');
  });

  it('reboots a host: live state is lost, the persisted /etc is applied the way Debian boots', async () => {
    const [h1, h2] = lab.hosts;
    const net = lab.subnet.split('.').slice(0, 3).join('.');
    await hideVip(lab, h1);
    await hideVip(lab, h2);
    await ok(lab, h1, ['ip', 'addr', 'add', `${net}.240/32`, 'dev', 'lo']);
    const persist = ssh(
      lab,
      h1,
      [
        'printf "net.ipv4.conf.all.arp_ignore = 1\\nnet.ipv4.conf.all.arp_announce = 2\\n" >> /etc/sysctl.conf',
        `printf "auto lo:1\\niface lo:1 inet static\\n    address ${lab.vip}/32\\n    scope host\\n" > /etc/network/interfaces.d/vipush-lab`,
      ].join(' && '),
    );
    expect(persist.stderr).toBe('');
    const pidMax = readFileSync('/proc/sys/kernel/pid_max', 'utf8');

    const bootLog = await lab.reboot(h1);

    expect(bootLog).toContain('# sysctl --system');
    expect(bootLog).toContain('# ifup -a');
    const lo = await lab.addresses(h1);
    expect(lo.map((a) => a.local)).not.toContain(`${net}.240`);
    expect(lo.find((a) => a.local === lab.vip)).toMatchObject({ scope: 'host', label: 'lo:1' });
    expect(await lab.sysctl(h1, 'net.ipv4.conf.all.arp_ignore')).toBe('1');
    expect(await lab.sysctl(h1, 'net.ipv4.conf.all.arp_announce')).toBe('2');
    // Untouched by the reboot: the machine's kernel settings and the other hosts.
    expect(readFileSync('/proc/sys/kernel/pid_max', 'utf8')).toBe(pidMax);
    expect(await lab.sysctl(h2, 'net.ipv4.conf.all.arp_ignore')).toBe('3');
    // Same identity: MAC, host key, upper dir.
    const link = JSON.parse(await ok(lab, h1, ['ip', '-j', 'link', 'show', 'dev', 'eth0'])) as { address: string }[];
    expect(link[0].address).toBe(h1.mac);
    expect(ssh(lab, h1, 'hostname').stdout.trim()).toBe('h1');
    expect(readFileSync(join(lab.etcUpper(h1), 'sysctl.conf'), 'utf8')).toContain('net.ipv4.conf.all.arp_ignore = 1');
    expect(await lab.arpOwners()).toEqual([lab.director.mac]);
    expect((await lab.httpGet(`http://${h1.ip}/`)).body).toBe('h1\n');
  });

  it('tears down everything of this run, and a second teardown is a no-op', async () => {
    const { prefix, dir } = lab;
    expect(labNamespaces(prefix).length).toBe(6);
    await lab.teardown();
    expectGone(prefix, dir);
    await lab.teardown();
  });
});

describe('fleet lab lifecycle', () => {
  beforeAll(requireRoot);

  it('withLab tears down when the body throws, and works without director and client', async () => {
    let seen: { prefix: string; dir: string } | undefined;
    await expect(
      withLab({ hosts: 1, director: false, client: false }, async (lab) => {
        seen = { prefix: lab.prefix, dir: lab.dir };
        expect(labNamespaces(lab.prefix).sort()).toEqual([`${lab.prefix}-h1`, `${lab.prefix}-sw`]);
        expect(() => lab.director).toThrow(/without a director/);
        expect(readFileSync(lab.inventoryFile, 'utf8')).not.toContain('director');
        throw new Error('body failed');
      }),
    ).rejects.toThrow('body failed');
    expectGone(seen!.prefix, seen!.dir);
  });

  it('cleans up after a creation that fails half way (h2 sshd cannot start)', async () => {
    const prefix = `vp${randomBytes(2).toString('hex')}`;
    // sshd refuses to start without its privilege separation user.
    const passwd = 'root:x:0:0:root:/root:/bin/bash\n';
    await expect(createLab({ hosts: 3, prefix, hostOptions: { h2: { seedEtc: { '/etc/passwd': passwd } } } })).rejects.toThrow(/sshd of h2/);
    expect(labNamespaces(prefix)).toEqual([]);
    expect(readdirSync('/tmp').filter((n) => n.startsWith(`vipush-lab-${prefix}-`))).toEqual([]);
  });

  it('seeds a host /etc, including hiding a file the machine has', async () => {
    await withLab(
      {
        hosts: 2,
        director: false,
        client: false,
        httpServers: false,
        hostOptions: { h1: { seedEtc: { 'network/interfaces': null, 'os-release': 'ID=rhel\n' } } },
      },
      async (lab) => {
        const [h1, h2] = lab.hosts;
        expect((await lab.hostExec(h1, ['cat', '/etc/os-release'])).stdout).toBe('ID=rhel\n');
        expect((await lab.hostExec(h1, ['test', '-e', '/etc/network/interfaces'])).code).toBe(1);
        expect((await lab.hostExec(h2, ['test', '-e', '/etc/network/interfaces'])).code).toBe(0);
      },
    );
  });

  describe('cli.js', () => {
    const outDir = join(REPO, 'dist', '.lab-e2e');
    const cli = join(outDir, 'test', 'lab', 'cli.js');

    beforeAll(() => {
      // Only the lab's files are compiled, so the rest of the tree being mid-edit cannot break this.
      const tsc = spawnSync(
        process.execPath,
        [
          join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'),
          '--outDir',
          outDir,
          '--rootDir',
          REPO,
          '--module',
          'NodeNext',
          '--moduleResolution',
          'NodeNext',
          '--target',
          'ES2022',
          '--strict',
          '--skipLibCheck',
          '--types',
          'node',
          join(REPO, 'test', 'lab', 'cli.ts'),
        ],
        { encoding: 'utf8', timeout: 120_000 },
      );
      expect(tsc.stdout + tsc.stderr).toBe('');
      expect(tsc.status).toBe(0);
    });

    function runCli(args: string[]) {
      const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 120_000 });
      return { code: r.status, stdout: r.stdout, stderr: r.stderr };
    }

    it('up leaves a lab running after it exits; list shows it; down removes it', () => {
      const up = runCli(['up', '--hosts', '2']);
      expect(up.code, up.stderr).toBe(0);
      const prefix = /lab (vp[0-9a-f]{4}) is up/.exec(up.stdout)![1];
      const dir = /lab dir: +(\S+)/.exec(up.stdout)![1];
      try {
        expect(labNamespaces(prefix).length).toBe(5);
        expect(runCli(['list']).stdout).toMatch(new RegExp(`^${prefix} +5 namespaces +${dir}$`, 'm'));
        expect(up.stdout).toContain(`down ${prefix}`);
      } finally {
        const down = runCli(['down', prefix]);
        expect(down.code, down.stderr).toBe(0);
      }
      expectGone(prefix, dir);
      expect(runCli(['down', 'vp-nope']).code).toBe(1);
    });

    it.each(['SIGINT', 'SIGTERM'] as const)('up --foreground tears the lab down on %s', async (signal) => {
      const child = spawn(process.execPath, [cli, 'up', '--hosts', '1', '--foreground'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (b: Buffer) => (out += b.toString()));
      const exited = new Promise<number | string | null>((resolve) => child.on('exit', (code, sig) => resolve(code ?? sig)));
      const deadline = Date.now() + 60_000;
      while (!out.includes('running in the foreground') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const prefix = /lab (vp[0-9a-f]{4}) is up/.exec(out)?.[1];
      const dir = /lab dir: +(\S+)/.exec(out)?.[1];
      expect(prefix).toBeDefined();
      expect(labNamespaces(prefix!).length).toBe(4);
      child.kill(signal);
      expect(await exited).toBe(signal);
      expectGone(prefix!, dir!);
    });
  });
});
