import type { ChildProcess } from 'node:child_process';
import { writeFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runOk, spawnDetached, processRef, waitForPort, tailOf, LabError, type ProcessRef } from './exec.js';
import type { LabHost } from './lab.js';

export const SSHD = '/usr/sbin/sshd';

/**
 * Runs as the first process of a host (inside `ip netns exec NS unshare ...`):
 * the network basics, then the host's private mounts, then (on reboot) what
 * Debian's boot does with the persisted config, then it stays as the holder of
 * the host's mount namespace, so sshd can be killed and restarted like a
 * service without the host losing its /run.
 *
 * /proc/sys is made read-only except /proc/sys/net: `sysctl --system` and
 * anything run over SSH must not change this machine's global kernel.* or
 * fs.* settings; the net.* ones are per namespace.
 *
 * $1 upper dir, $2 work dir, $3 host name, $4 address/24, $5 fresh|boot, $6 boot log
 */
const INIT_SCRIPT = `set -e
ip link set lo up
ip addr add "$4" dev eth0
ip link set eth0 up
sysctl -q -w \\
  net.ipv4.conf.all.arp_ignore=0 net.ipv4.conf.all.arp_announce=0 \\
  net.ipv4.conf.default.arp_ignore=0 net.ipv4.conf.default.arp_announce=0 \\
  net.ipv4.conf.eth0.arp_ignore=0 net.ipv4.conf.eth0.arp_announce=0
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$1,workdir=$2" /etc
# The copied /run/netns mounts would pin every other namespace of the machine alive.
umount -l /run/netns 2>/dev/null || true
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/sshd /run/network /run/lock
mount -t tmpfs -o mode=0700 tmpfs /root
mount --bind /proc/sys /proc/sys
mount -o remount,bind,ro /proc/sys
mount --bind /proc/sys/net /proc/sys/net
mount -o remount,bind,rw /proc/sys/net
hostname "$3"
if [ "$5" = boot ]; then
  set +e
  {
    echo "# sysctl --system"; sysctl --system; echo "# exit $?"
    echo "# ifup -a"; ifup -a; echo "# exit $?"
  } >"$6" 2>&1
fi
echo ready
exec sleep infinity >/dev/null 2>&1
`;

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
    `AuthorizedKeysFile ${authorizedKeysFile}`,
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
    'netns', 'exec', host.ns,
    'unshare', '--mount', '--uts', '--propagation', 'private',
    'sh', '-c', INIT_SCRIPT, 'sh',
    host.upperDir, join(host.dir, 'work'), host.name, `${host.ip}/24`, mode, host.bootLogFile,
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

export async function writeSshdConfig(host: LabHost, authorizedKeysFile: string): Promise<void> {
  await writeFile(join(host.dir, 'sshd_config'), sshdConfig(host, authorizedKeysFile), { mode: 0o600 });
}
