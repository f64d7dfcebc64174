import type { ChildProcess } from 'node:child_process';
import { writeFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runOk, spawnDetached, processRef, waitForPort, tailOf, LabError, type ProcessRef } from './exec.js';
import type { LabHost } from './lab.js';

export const SSHD = '/usr/sbin/sshd';

/**
 * Runs as the first process of a host (inside `ip netns exec NS unshare ...`):
 * the network basics, then the host's private mounts (labFstab), then (on reboot) what
 * Debian's boot does with the persisted config, then it stays as the holder of
 * the host's mount namespace, so sshd can be killed and restarted like a
 * service without the host losing its /run.
 *
 * Few processes on purpose: hundreds of hosts start on two cores.
 *
 * $1 fstab (see labFstab), $2 host name, $3 address/24, $4 fresh|boot, $5 boot log,
 * $6 the controller's pid (whose namespaces this must never touch)
 */
const INIT_SCRIPT = `set -e
if [ /proc/self/ns/mnt -ef "/proc/$6/ns/mnt" ] || [ /proc/self/ns/net -ef "/proc/$6/ns/net" ]; then
  echo 'lab init: refusing to run in the controller namespaces' >&2; exit 1
fi
printf 'link set lo up\\naddr add %s dev eth0\\nlink set eth0 up\\n' "$3" | ip -batch -
sysctl -q -w \\
  net.ipv4.conf.all.arp_ignore=0 net.ipv4.conf.all.arp_announce=0 \\
  net.ipv4.conf.default.arp_ignore=0 net.ipv4.conf.default.arp_announce=0 \\
  net.ipv4.conf.eth0.arp_ignore=0 net.ipv4.conf.eth0.arp_announce=0
# Only in this private mount namespace: the copied /run/netns mounts would
# pin every other namespace of the machine alive.
umount -l /run/netns 2>/dev/null || true
mount --fstab "$1" -a
mkdir -p /run/sshd /run/network /run/lock
hostname "$2"
if [ "$4" = boot ]; then
  set +e
  {
    echo "# sysctl --system"; sysctl --system; echo "# exit $?"
    echo "# ifup -a"; ifup -a; echo "# exit $?"
  } >"$5" 2>&1
fi
echo ready
exec sleep infinity >/dev/null 2>&1
`;

/**
 * A host's own /etc (an overlay over the machine's), /run, and /root (the
 * machine's /root/.bashrc would otherwise slow every SSH session).
 * /proc/sys is read-only except /proc/sys/net: `sysctl --system` at boot and
 * anything run over SSH must not change this machine's kernel.* or fs.*
 * settings; the net.* ones are per namespace. A bind of a read-only mount's
 * subtree stays read-only, so net is bound first and carried along by the rbind.
 */
/** Mount point for each host's own /var/lib/vipush; created (empty) on the machine once. */
export const HOST_STATE_DIR = '/var/lib/vipush';

/** The directory on the machine that is the host's /var/lib/vipush. */
export function hostStateDir(host: LabHost): string {
  return join(host.dir, 'state');
}

export function labFstab(host: LabHost): string {
  return [
    `overlay /etc overlay lowerdir=/etc,upperdir=${host.upperDir},workdir=${join(host.dir, 'work')} 0 0`,
    'tmpfs /run tmpfs mode=0755 0 0',
    'tmpfs /root tmpfs mode=0700 0 0',
    // vipush's on-host state (dead-man switch, journal) stays per host, off the machine's real /var/lib,
    // and survives a reboot as a disk's does: the journal is read after one
    `${hostStateDir(host)} ${HOST_STATE_DIR} none bind 0 0`,
    '/proc/sys/net /proc/sys/net none bind 0 0',
    '/proc/sys /proc/sys none rbind,ro 0 0',
    '',
  ].join('\n');
}

/** A real server answers HTTP with its own name, so a response shows who served it. */
const HTTP_SCRIPT = `const name = process.argv[1];
require('http').createServer((req, res) => { res.setHeader('content-type', 'text/plain'); res.end(name + '\\n'); }).listen(80, '0.0.0.0');`;

export function sshdConfig(host: LabHost, authorizedKeysFile: string): string {
  return [
    `# sshd for lab host ${host.name} (${host.ns})`,
    `ListenAddress ${host.ip}:22`,
    `HostKey ${hostKeyFile(host)}`,
    'PermitRootLogin prohibit-password',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    // the lab's key for root; a user a test adds (become) brings its own, read as that user
    `AuthorizedKeysFile ${authorizedKeysFile} .ssh/authorized_keys`,
    'StrictModes no',
    'UsePAM no',
    `PidFile ${join(host.dir, 'sshd.pid')}`,
    // tests and the benchmark open many connections at once
    'MaxStartups 500:30:1000',
    'MaxSessions 50',
    'UseDNS no',
    'PrintMotd no',
    'PrintLastLog no',
    'Subsystem sftp internal-sftp',
    '',
  ].join('\n');
}

export function hostKeyFile(host: LabHost): string {
  return join(host.dir, 'ssh_host_ed25519_key');
}

export async function generateKey(file: string, comment: string): Promise<void> {
  await runOk('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file]);
}

/** `198.18.K.11 ssh-ed25519 AAAA...` */
export async function knownHostsLine(host: LabHost): Promise<string> {
  const pub = (await readFile(`${hostKeyFile(host)}.pub`, 'utf8')).trim().split(/\s+/);
  return `${host.ip} ${pub[0]} ${pub[1]}`;
}

/** Starts the host's init; resolves with its pid once the host's mounts are in place. */
export function startInit(host: LabHost, mode: 'fresh' | 'boot', timeoutMs: number): Promise<ProcessRef> {
  const args = [
    'netns',
    'exec',
    host.ns,
    'unshare',
    '--mount',
    '--uts',
    '--propagation',
    'private',
    'sh',
    '-c',
    INIT_SCRIPT,
    'sh',
    join(host.dir, 'fstab'),
    host.name,
    `${host.ip}/24`,
    mode,
    host.bootLogFile,
    String(process.pid),
  ];
  const child = spawnDetached('ip', args, host.logFile, 'pipe');
  return new Promise((resolve, reject) => {
    let out = '';
    const fail = (why: string) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new LabError(`host ${host.name} (${host.ns}) did not start: ${why}; see ${host.logFile}:\n${tailOf(host.logFile)}`));
    };
    const timer = setTimeout(() => fail(`no "ready" within ${timeoutMs} ms`), timeoutMs);
    child.on('error', (e) => fail(e.message));
    child.on('exit', (code, signal) => fail(`its init exited (${code ?? signal})`));
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      if (!out.includes('ready\n')) return;
      clearTimeout(timer);
      child.removeAllListeners('exit');
      child.stdout!.destroy();
      const ref = child.pid ? processRef(child.pid) : null;
      if (!ref) fail('its init vanished');
      else resolve(ref);
    });
  });
}

function enter(init: ProcessRef): string[] {
  return ['-t', String(init.pid), '-m', '-n', '-u', '--'];
}

export function nsenterArgs(init: ProcessRef, argv: readonly string[]): string[] {
  return [...enter(init), ...argv];
}

export interface Started {
  ref: ProcessRef;
  child: ChildProcess;
}

export async function startSshdProcess(host: LabHost, init: ProcessRef, timeoutMs: number): Promise<Started> {
  const cfg = join(host.dir, 'sshd_config');
  const child = spawnDetached('nsenter', [...enter(init), SSHD, '-D', '-e', '-f', cfg], host.logFile);
  const ref = child.pid ? processRef(child.pid) : null;
  if (!ref) throw new LabError(`sshd of ${host.name} did not start; see ${host.logFile}:\n${tailOf(host.logFile)}`);
  await waitForPort(host.ip, 22, `sshd of ${host.name}`, host.logFile, child, timeoutMs);
  return { ref, child };
}

export async function startHttpProcess(host: LabHost, init: ProcessRef, timeoutMs: number): Promise<Started> {
  const child = spawnDetached('nsenter', [...enter(init), process.execPath, '-e', HTTP_SCRIPT, host.name], host.logFile);
  const ref = child.pid ? processRef(child.pid) : null;
  if (!ref) throw new LabError(`HTTP server of ${host.name} did not start; see ${host.logFile}:\n${tailOf(host.logFile)}`);
  await waitForPort(host.ip, 80, `HTTP server of ${host.name}`, host.logFile, child, timeoutMs);
  return { ref, child };
}

export async function writeHostFiles(host: LabHost, authorizedKeysFile: string): Promise<void> {
  await writeFile(join(host.dir, 'fstab'), labFstab(host), { mode: 0o600 });
  if (host.ssh) await writeFile(join(host.dir, 'sshd_config'), sshdConfig(host, authorizedKeysFile), { mode: 0o600 });
}
