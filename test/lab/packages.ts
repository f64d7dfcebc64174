import { run, LabError } from './exec.js';

/**
 * Debian packages the lab runs: sshd and ssh-keygen per host, `ip` for
 * namespaces, arping and tcpdump to watch ARP, nft for the director, ifupdown
 * for boot emulation, curl for HTTP checks, sysctl (procps), unshare and
 * nsenter (util-linux), sudo for the become tests; shellcheck and busybox for
 * the tests of the host-side shell; strace to stop or kill a host's shell at an
 * exact system call (the crash tests of the journal); mmdebstrap and systemd-nspawn
 * (systemd-container) for the systemd tier (nspawn/). CI starts from a bare Debian 12, so they
 * are checked.
 */
export const LAB_PACKAGES = [
  'openssh-server',
  'openssh-client',
  'iproute2',
  'iputils-arping',
  'nftables',
  'ifupdown',
  'tcpdump',
  'curl',
  'procps',
  'util-linux',
  'sudo',
  'shellcheck',
  'busybox',
  'strace',
  'mmdebstrap',
  'systemd-container',
] as const;

let checked: Promise<void> | null = null;

export function aptInstallCommand(packages: readonly string[]): string {
  return `apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${packages.join(' ')}`;
}

async function missingPackages(): Promise<string[]> {
  const r = await run('dpkg-query', ['-W', '-f=${Package} ${db:Status-Status}\\n', ...LAB_PACKAGES]).catch(() => null);
  if (!r) throw new LabError('the fleet lab needs a Debian system (dpkg-query was not found)');
  const installed = new Set(
    r.stdout
      .split('\n')
      .map((l) => l.trim().split(' '))
      .filter(([, status]) => status === 'installed')
      .map(([name]) => name.replace(/:.*$/, '')),
  );
  return LAB_PACKAGES.filter((p) => !installed.has(p));
}

async function install(packages: string[]): Promise<void> {
  if (process.getuid?.() !== 0) {
    throw new LabError(`the fleet lab needs these packages: ${packages.join(' ')}. Install them as root with: ${aptInstallCommand(packages)}`);
  }
  const env = { DEBIAN_FRONTEND: 'noninteractive' };
  const update = await run('apt-get', ['update'], { env, timeoutMs: 600_000 });
  if (update.code !== 0) throw new LabError(`apt-get update failed (exit ${update.code}): ${update.stderr.trim().split('\n').slice(-5).join('\n')}`);
  const inst = await run('apt-get', ['install', '-y', '--no-install-recommends', ...packages], { env, timeoutMs: 1_200_000 });
  if (inst.code !== 0)
    throw new LabError(`apt-get install ${packages.join(' ')} failed (exit ${inst.code}): ${inst.stderr.trim().split('\n').slice(-5).join('\n')}`);
  const still = await missingPackages();
  if (still.length > 0) throw new LabError(`apt-get install reported success but these packages are still missing: ${still.join(' ')}`);
}

/** Checks once per process; installs what is missing when root, else throws with the command to run. */
export function ensureLabPackages(): Promise<void> {
  checked ??= (async () => {
    const missing = await missingPackages();
    if (missing.length > 0) await install(missing);
  })();
  checked.catch(() => {
    checked = null;
  });
  return checked;
}
