import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HostError } from '../../src/errors.js';
import { connectHost, RunConnections, type ConnectOptions, type ConnectTarget, type SshTransport } from '../../src/transport/ssh/index.js';
import { createLab, type Lab, type LabHost } from '../lab/lab.js';

/**
 * The SSH transport against real sshd processes in the fleet lab: one
 * network namespace per host, each with its own host key, /etc overlay and
 * /root. The test process is the controller (root namespace).
 */

let lab: Lab;
let scratch: string;
let h1: LabHost, h2: LabHost, h3: LabHost, h4: LabHost;
const open: SshTransport[] = [];

beforeAll(async () => {
  lab = await createLab({ hosts: 4, director: false, client: false, httpServers: false });
  [h1, h2, h3, h4] = lab.hosts;
  scratch = mkdtempSync(join(tmpdir(), 'vipush-transport-e2e-'));
});

afterAll(async () => {
  await Promise.all(open.map((t) => t.close()));
  await lab?.teardown();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

function target(host: LabHost, over: Partial<ConnectTarget> = {}): ConnectTarget {
  return { host: host.name, address: host.ip, user: 'root', privateKeyFile: lab.privateKeyFile, become: false, ...over };
}

/** Hermetic: no ~/.ssh of this machine, no agent, no ssh_config. */
function options(over: ConnectOptions = {}): ConnectOptions {
  return { knownHostsFiles: [lab.knownHostsFile], sshConfigFile: null, env: { HOME: scratch, USER: 'root' }, connectTimeoutMs: 5_000, ...over };
}

async function connect(host: LabHost, over: Partial<ConnectTarget> = {}, opts: ConnectOptions = {}): Promise<SshTransport> {
  const t = await connectHost(target(host, over), options(opts));
  open.push(t);
  return t;
}

async function hostError(p: Promise<unknown>): Promise<HostError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e, 'expected a HostError').toBeInstanceOf(HostError);
  return e as HostError;
}

function hostKeyFingerprint(host: LabHost): string {
  return execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', join(host.dir, 'ssh_host_ed25519_key.pub')], { encoding: 'utf8' }).split(/\s+/)[1];
}

/** Lines `sshd -e` logged for accepted logins: the proof that a session was (or was not) opened. */
function acceptedLogins(host: LabHost): number {
  return (readFileSync(host.logFile, 'utf8').match(/Accepted publickey for /g) ?? []).length;
}

/** Established TCP connections to sshd on `host` coming from `fromIp`. */
async function sshConnectionsFrom(host: LabHost, fromIp: string): Promise<number> {
  const r = await lab.nsExec(host, ['ss', '-Htn', 'state', 'established', '( sport = :22 )']);
  return r.stdout.split('\n').filter((l) => l.includes(`${fromIp}:`)).length;
}

/** Processes in the host's network namespace whose command line contains `needle`. */
function processesIn(host: LabHost, needle: string): number[] {
  const pids = execFileSync('ip', ['netns', 'pids', host.ns], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
  return pids.filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').includes(needle);
    } catch {
      return false;
    }
  });
}

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 5_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const hostile = ["it's", '"dq"', '$(touch /tmp/pwned)', '`id`', 'a b  c', 'new\nline', '*', '-n', '', '\\', '; rm -rf /', 'ünï©ødé', '$HOME'];

describe('commands', () => {
  it('delivers argv with hostile characters intact, and returns exit code, stderr and duration', async () => {
    const t = await connect(h1);
    const r = await t.exec({ argv: ['printf', '%s\\0', ...hostile] });
    expect(r.code).toBe(0);
    expect(r.stdout.split('\0').slice(0, -1)).toEqual(hostile);
    const failed = await t.exec({ script: 'echo out; echo "err $0" >&2; exit 7' });
    expect(failed).toMatchObject({ stdout: 'out\n', stderr: 'err sh\n', code: 7, signal: null });
    expect(failed.durationMs).toBeGreaterThan(0);
    expect((await t.exec({ argv: ['hostname'] })).stdout).toBe('h1\n');
  });

  it('feeds stdin byte for byte', async () => {
    const t = await connect(h1);
    const bytes = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), Buffer.alloc(300_000, 0x5a)]);
    const r = await t.exec({ argv: ['sha256sum'] }, { stdin: bytes });
    expect(r.stdout.split(' ')[0]).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect((await t.exec({ argv: ['cat'] }, { stdin: 'ünï\n$(x)\n' })).stdout).toBe('ünï\n$(x)\n');
  });

  it('runs many commands over one connection', async () => {
    const before = await sshConnectionsFrom(h2, lab.controllerIp);
    const t = await connect(h2);
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => t.exec({ argv: ['echo', String(i)] })));
    expect(results.map((r) => r.stdout)).toEqual(Array.from({ length: 20 }, (_, i) => `${i}\n`));
    expect(await sshConnectionsFrom(h2, lab.controllerIp)).toBe(before + 1);
    await t.close();
    await until('the connection is gone', async () => (await sshConnectionsFrom(h2, lab.controllerIp)) === before);
    await expect(t.exec({ argv: ['true'] })).rejects.toMatchObject({ kind: 'connection-lost' });
  });

  it('stops a command at its timeout, kills it on the host, and stays usable', async () => {
    const t = await connect(h1);
    const started = Date.now();
    const e = await hostError(t.exec({ script: 'sleep 41.25; echo never' }, { timeoutMs: 700 }));
    expect(e.kind).toBe('timeout');
    expect(e.message).toMatch(/did not finish within 700 ms/);
    expect(Date.now() - started).toBeLessThan(3_000);
    await until('the remote sleep is killed', () => processesIn(h1, 'sleep 41.25').length === 0);
    expect((await t.exec({ argv: ['echo', 'still here'] })).stdout).toBe('still here\n');
  });
});

describe('shell sessions (facts and the apply script on one channel)', () => {
  it('runs script after script in one shell, binary output exact, then the last one with its exit status', async () => {
    const t = await connect(h2);
    const s = await t.session();
    const first = await s.exchange('x=kept; printf "a\\000b\\377"; echo $$ > /tmp/vipush-session-pid', { timeoutMs: 5_000, what: 'first' });
    expect(first.equals(Buffer.from([0x61, 0, 0x62, 0xff]))).toBe(true);
    // the same shell: its variables are still set, and it is one process
    const second = await s.exchange('echo "$x $$"', { timeoutMs: 5_000, what: 'second' });
    const pid = (await t.exec({ argv: ['cat', '/tmp/vipush-session-pid'] })).stdout.trim();
    expect(second.toString()).toBe(`kept ${pid}\n`);
    const last = await s.finish('echo out; echo err >&2; exit 7', { timeoutMs: 5_000, what: 'last' });
    expect(last).toMatchObject({ stdout: 'out\n', stderr: 'err\n', code: 7 });
    await expect(s.exchange('true', { timeoutMs: 1_000, what: 'after' })).rejects.toMatchObject({ kind: 'command' });
    await t.close();
  });

  it('without a host deadline, runs the last script in the same shell: no program started for it', async () => {
    const t = await connect(h2);
    const s = await t.session();
    await s.exchange('y=from-facts; echo $$ > /tmp/vipush-session-pid2', { timeoutMs: 5_000, what: 'facts' });
    const last = await s.finish('echo "$y $$"; ps -o comm= --ppid $$; exit 4', { timeoutMs: 5_000, what: 'the apply script', hostDeadline: false });
    const pid = (await t.exec({ argv: ['cat', '/tmp/vipush-session-pid2'] })).stdout.trim();
    // the same shell (its pid, its variables), and nothing between it and the script's own commands
    expect(last).toMatchObject({ stdout: `from-facts ${pid}\nps\n`, code: 4 });
    await t.close();
  });

  it('gives the last script a deadline on the host: a hung one is stopped there too', async () => {
    const t = await connect(h2);
    const s = await t.session();
    await s.exchange('true', { timeoutMs: 5_000, what: 'facts' });
    const e = await hostError(s.finish('sleep 42.75; echo never', { timeoutMs: 700, what: 'the apply script' }));
    expect(e.kind).toBe('timeout');
    await until('the remote sleep is killed', () => processesIn(h2, 'sleep 42.75').length === 0);
    await t.close();
  });

  it('a shell that dies early is an error naming what ran, not a hang', async () => {
    const t = await connect(h2);
    const s = await t.session();
    const e = await hostError(s.exchange('echo "gone" >&2; exit 5', { timeoutMs: 5_000, what: 'reading facts' }));
    expect(e.kind).toBe('command');
    expect(e.message).toMatch(/reading facts ended early \(exit 5\): gone/);
    await t.close();
  });
});

describe('a host that floods the controller', () => {
  it("keeps the end of a command's stderr flood, and the connection", async () => {
    const t = await connect(h1);
    const r = await t.exec({ script: 'head -c 50000000 /dev/zero >&2; echo the-end >&2; exit 3' });
    expect(r.code).toBe(3);
    expect(Buffer.byteLength(r.stderr)).toBe(64 * 1024);
    expect(r.stderr.endsWith('\0the-end\n')).toBe(true);
    expect((await t.exec({ argv: ['echo', 'still here'] })).stdout).toBe('still here\n');
  });

  it('stops an endless stdout at the cap, the command dies on the host, the connection stays', async () => {
    const t = await connect(h1, {}, { maxStdoutBytes: 1024 * 1024 });
    const e = await hostError(t.exec({ argv: ['yes', 'vipush-flood-stdout'] }));
    expect(e.kind).toBe('command');
    expect(e.message).toBe('h1 sent more than 1 MiB on stdout for `yes vipush-flood-stdout`; vipush stopped it');
    await until('the remote yes is gone', () => processesIn(h1, 'yes vipush-flood-stdout').length === 0);
    expect((await t.exec({ argv: ['echo', 'still here'] })).stdout).toBe('still here\n');
  });

  it('fails a session whose exchange floods stdout', async () => {
    const t = await connect(h2, {}, { maxStdoutBytes: 1024 * 1024 });
    const s = await t.session();
    const e = await hostError(s.exchange('yes vipush-flood-session', { timeoutMs: 10_000, what: 'reading facts' }));
    expect(e.message).toBe('h2 sent more than 1 MiB on stdout for reading facts; vipush stopped it');
    await until('the remote yes is gone', () => processesIn(h2, 'yes vipush-flood-session').length === 0);
    await t.close();
  });
});

describe('host keys', () => {
  it('refuses a changed key loudly and never logs in', async () => {
    const keyFile = join(scratch, 'impostor');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', keyFile]);
    const [type, base64] = readFileSync(`${keyFile}.pub`, 'utf8').split(/\s+/);
    const knownHosts = join(scratch, 'known_hosts_changed');
    writeFileSync(knownHosts, `# comment\n${h3.ip} ${type} ${base64}\n`);
    const impostorFingerprint = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${keyFile}.pub`], { encoding: 'utf8' }).split(/\s+/)[1];
    const loginsBefore = acceptedLogins(h3);
    const debug: string[] = [];
    const logger = { debug: (m: string) => debug.push(m), warn: () => {} };
    const e = await hostError(connectHost(target(h3), options({ knownHostsFiles: [knownHosts], acceptNewHostKeys: true, logger })));
    expect(e.kind).toBe('hostkey');
    expect(e.host).toBe('h3');
    expect(debug.filter((m) => m.includes('attempt'))).toEqual([]);
    expect(e.message).toBe(
      `REMOTE HOST IDENTIFICATION HAS CHANGED for h3 (${h3.ip}): got ${hostKeyFingerprint(h3)}, known_hosts has ${impostorFingerprint} (${knownHosts}:2). vipush will not touch this host.`,
    );
    expect(readFileSync(knownHosts, 'utf8')).toBe(`# comment\n${h3.ip} ${type} ${base64}\n`);
    expect(acceptedLogins(h3)).toBe(loginsBefore);
  });

  it('refuses an unknown key with its fingerprint, then trusts and records it with acceptNewHostKeys', async () => {
    const knownHosts = join(scratch, 'fresh', 'known_hosts');
    const loginsBefore = acceptedLogins(h3);
    const e = await hostError(connectHost(target(h3), options({ knownHostsFiles: [knownHosts] })));
    expect(e.kind).toBe('hostkey');
    expect(e.message).toContain(`unknown host key for h3 (${h3.ip}): ssh-ed25519 ${hostKeyFingerprint(h3)}`);
    expect(e.message).toContain(`ssh-keyscan -p 22 ${h3.ip} >> ${knownHosts}`);
    expect(e.message).toContain('--accept-new-host-keys');
    expect(existsSync(knownHosts)).toBe(false);
    expect(acceptedLogins(h3)).toBe(loginsBefore);

    const t = await connect(h3, {}, { knownHostsFiles: [knownHosts], acceptNewHostKeys: true });
    expect((await t.exec({ argv: ['hostname'] })).stdout).toBe('h3\n');
    const labLine = readFileSync(lab.knownHostsFile, 'utf8')
      .split('\n')
      .find((l) => l.startsWith(`${h3.ip} `));
    expect(readFileSync(knownHosts, 'utf8')).toBe(`${labLine}\n`);
    expect(statSync(knownHosts).mode & 0o777).toBe(0o600);

    const again = await connect(h3, {}, { knownHostsFiles: [knownHosts] });
    expect((await again.exec({ argv: ['true'] })).code).toBe(0);
  });

  it('offers only the key types on file, so a host known by another type is refused', async () => {
    const keyFile = join(scratch, 'rsa_host_key');
    execFileSync('ssh-keygen', ['-q', '-t', 'rsa', '-b', '2048', '-N', '', '-f', keyFile]);
    const [type, base64] = readFileSync(`${keyFile}.pub`, 'utf8').split(/\s+/);
    const knownHosts = join(scratch, 'known_hosts_rsa_only');
    writeFileSync(knownHosts, `${h3.ip} ${type} ${base64}\n`);
    const e = await hostError(connectHost(target(h3), options({ knownHostsFiles: [knownHosts], acceptNewHostKeys: true })));
    expect(e.kind).toBe('hostkey');
    expect(e.message).toBe(`h3 (${h3.ip}) offers none of the host key types known_hosts holds for it (ssh-rsa). vipush will not touch this host.`);
  });
});

describe('authentication', () => {
  it('names user@host and the keys it tried when the server refuses them', async () => {
    const stranger = join(scratch, 'stranger_key');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', stranger]);
    const e = await hostError(connectHost(target(h2, { privateKeyFile: stranger }), options()));
    expect(e.kind).toBe('auth');
    expect(e.message).toContain(`root@h2 (${h2.ip})`);
    expect(e.message).toContain(stranger);
    expect(e.message).not.toContain(readFileSync(stranger, 'utf8').split('\n')[1]);
  });

  it('opens an encrypted key with VIPUSH_KEY_PASSPHRASE, or a prompt asked once for many hosts', async () => {
    const withEnv = join(scratch, 'encrypted_env');
    const withPrompt = join(scratch, 'encrypted_prompt');
    for (const f of [withEnv, withPrompt]) {
      copyFileSync(lab.privateKeyFile, f);
      execFileSync('ssh-keygen', ['-q', '-p', '-N', 'correct horse', '-f', f]);
    }
    const t = await connect(h2, { privateKeyFile: withEnv }, { env: { HOME: scratch, USER: 'root', VIPUSH_KEY_PASSPHRASE: 'correct horse' } });
    expect((await t.exec({ argv: ['true'] })).code).toBe(0);

    const asked: string[] = [];
    const prompt = async (file: string) => {
      asked.push(file);
      return 'correct horse';
    };
    const both = await Promise.all([h2, h3].map((h) => connect(h, { privateKeyFile: withPrompt }, { promptPassphrase: prompt })));
    expect(both.map((x) => x.host)).toEqual(['h2', 'h3']);
    expect(asked).toEqual([withPrompt]);
  });

  it('uses IdentityFile and User from ssh_config when the inventory names none', async () => {
    const sshConfig = join(scratch, 'ssh_config_identity');
    writeFileSync(sshConfig, `Host ${h2.ip}\n  User root\n  IdentityFile ${lab.privateKeyFile}\n`);
    const t = await connect(h2, { user: undefined, privateKeyFile: undefined }, { sshConfigFile: sshConfig, env: { HOME: scratch, USER: 'nobody' } });
    expect(t.user).toBe('root');
    expect((await t.exec({ argv: ['id', '-un'] })).stdout).toBe('root\n');
  });

  it('logs in with a key held by ssh-agent (SSH_AUTH_SOCK)', async () => {
    const socket = join(scratch, 'agent.sock');
    const agentPid = Number(/SSH_AGENT_PID=(\d+)/.exec(execFileSync('ssh-agent', ['-s', '-a', socket], { encoding: 'utf8' }))?.[1]);
    expect(agentPid).toBeGreaterThan(0);
    try {
      execFileSync('ssh-add', ['-q', lab.privateKeyFile], { env: { SSH_AUTH_SOCK: socket }, stdio: 'ignore' });
      const t = await connect(h2, { privateKeyFile: undefined }, { env: { HOME: scratch, USER: 'root', SSH_AUTH_SOCK: socket } });
      expect((await t.exec({ argv: ['true'] })).code).toBe(0);
      execFileSync('ssh-add', ['-q', '-D'], { env: { SSH_AUTH_SOCK: socket }, stdio: 'ignore' });
      const e = await hostError(connectHost(target(h3, { privateKeyFile: undefined }), options({ env: { HOME: scratch, SSH_AUTH_SOCK: socket } })));
      expect(e.kind).toBe('auth');
      expect(e.message).toContain('tried ssh-agent (SSH_AUTH_SOCK)');
    } finally {
      process.kill(agentPid, 'SIGTERM');
    }
  });

  it('says the passphrase is wrong without repeating it', async () => {
    const key = join(scratch, 'encrypted_wrong');
    copyFileSync(lab.privateKeyFile, key);
    execFileSync('ssh-keygen', ['-q', '-p', '-N', 'the real one', '-f', key]);
    const e = await hostError(connectHost(target(h2, { privateKeyFile: key }), options({ env: { HOME: scratch, VIPUSH_KEY_PASSPHRASE: 'hunter2-wrong' } })));
    expect(e.kind).toBe('auth');
    expect(e.message).toBe(`cannot decrypt private key ${key}: wrong passphrase (from VIPUSH_KEY_PASSPHRASE)`);
    expect(e.message).not.toContain('hunter2');
  });
});

describe('failures', () => {
  it('reports an unreachable host within the connect timeout', async () => {
    await lab.linkDown(h4);
    try {
      const started = Date.now();
      const e = await hostError(connectHost(target(h4), options({ connectTimeoutMs: 2_000 })));
      const elapsed = Date.now() - started;
      expect(e.kind).toBe('unreachable');
      expect(e.host).toBe('h4');
      expect(elapsed).toBeLessThan(3_000);
    } finally {
      await lab.linkUp(h4);
    }
  });

  it('reports a refused connection after retrying', async () => {
    await lab.killSshd(h4);
    try {
      const debug: string[] = [];
      const e = await hostError(connectHost(target(h4), options({ logger: { debug: (m) => debug.push(m), warn: () => {} } })));
      expect(e.kind).toBe('unreachable');
      expect(e.message).toBe(`h4 (${h4.ip}) is unreachable: connection refused`);
      expect(debug.filter((m) => m.includes('attempt'))).toHaveLength(2);
    } finally {
      await lab.startSshd(h4);
    }
  });

  it('turns sshd dying mid-command into a HostError for that host only, and the process lives on', async () => {
    const dying = await connect(h4);
    const healthy = await connect(h2);
    const running = dying.exec({ argv: ['sleep', '30'] });
    running.catch(() => {}); // it is expected to reject while the test is busy killing sshd
    await until('sleep 30 runs on h4', () => processesIn(h4, 'sleep 30').length > 0);
    await lab.killSshd(h4);
    for (const pid of processesIn(h4, 'sleep 30')) process.kill(pid, 'SIGKILL');

    const e = await hostError(running);
    expect(e.kind).toBe('connection-lost');
    expect(e.host).toBe('h4');
    expect(dying.alive).toBe(false);
    const again = await hostError(dying.exec({ argv: ['true'] }));
    expect(again).toBe(e);

    expect(process.exitCode ?? 0).toBe(0);
    expect((await healthy.exec({ argv: ['hostname'] })).stdout).toBe('h2\n');
    await lab.startSshd(h4);
  });
});

describe('ProxyJump', () => {
  it('reaches two targets through one shared connection to the jump host', async () => {
    const sshConfig = join(scratch, 'ssh_config');
    writeFileSync(sshConfig, `Host ${h3.ip}\n  ProxyJump root@${h1.ip}\n`);
    // one run's connections: the jump host connection is shared within it
    const jumpOpts: ConnectOptions = { privateKeyFile: lab.privateKeyFile, sshConfigFile: sshConfig, connections: new RunConnections() };
    const before = await sshConnectionsFrom(h1, lab.controllerIp);

    // h2 names its jump host in the inventory, h3 gets it from ssh_config
    const [viaH2, viaH3] = await Promise.all([connect(h2, { proxyJump: `root@${h1.ip}` }, jumpOpts), connect(h3, {}, jumpOpts)]);
    for (const [t, name] of [
      [viaH2, 'h2'],
      [viaH3, 'h3'],
    ] as const) {
      const r = await t.exec({ script: 'echo "$(hostname) ${SSH_CLIENT%% *}"' });
      expect(r.stdout).toBe(`${name} ${h1.ip}\n`);
    }
    expect(await sshConnectionsFrom(h1, lab.controllerIp)).toBe(before + 1);

    await viaH2.close();
    expect((await viaH3.exec({ argv: ['true'] })).code).toBe(0);
    expect(await sshConnectionsFrom(h1, lab.controllerIp)).toBe(before + 1);
    await viaH3.close();
    await until('the jump connection is closed', async () => (await sshConnectionsFrom(h1, lab.controllerIp)) === before);
  });

  it('verifies the jump host key too', async () => {
    const knownHosts = join(scratch, 'known_hosts_without_h1');
    writeFileSync(
      knownHosts,
      readFileSync(lab.knownHostsFile, 'utf8')
        .split('\n')
        .filter((l) => !l.startsWith(`${h1.ip} `))
        .join('\n'),
    );
    const e = await hostError(
      connectHost(target(h2, { proxyJump: `root@${h1.ip}` }), options({ knownHostsFiles: [knownHosts], privateKeyFile: lab.privateKeyFile })),
    );
    expect(e.kind).toBe('hostkey');
    expect(e.host).toBe('h2');
    expect(e.message).toContain(`unknown host key for root@${h1.ip}`);
  });
});
