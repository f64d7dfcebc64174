/**
 * The Debian 12 root filesystem the systemd tier of the lab boots: built once
 * with mmdebstrap from the archive apt already uses on this machine, and kept
 * under test/lab/.cache/rootfs-<hash>, the hash covering the package list, the
 * archive lines and the recipe. A build goes to a temporary directory that is
 * renamed into place only when it is complete, so a killed build is never
 * taken for a cache; two processes building at once serialize on a lock file.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LabError, run } from '../exec.js';

/** test/lab/.cache (gitignored), also when this runs compiled from dist/test/lab/nspawn */
export const CACHE_DIR = join(dirname(fileURLToPath(import.meta.url)).replace(/\/dist\/test\/lab\/nspawn$/, '/test/lab/nspawn'), '..', '.cache');

/**
 * Inside each booted host: systemd as PID 1 (systemd-sysv) with dbus, sshd, the four network stacks
 * vipush persists to, sudo, python3 (Ansible-like checks), libstdc++6 (a controller host runs the
 * machine's node binary), nftables (the dead-man test cuts SSH), iputils-arping (a client host runs vipush's ARP gates), procps (sysctl), util-linux (flock).
 */
export const ROOTFS_PACKAGES = [
  'systemd-sysv',
  'dbus',
  'openssh-server',
  'iproute2',
  'ifupdown',
  'netplan.io',
  'network-manager',
  'sudo',
  'python3',
  'libstdc++6',
  'nftables',
  'iputils-arping',
  'procps',
  'util-linux',
  'kmod',
] as const;

/** Network services are all off in the image; each host enables its own stack in its overlay. */
const CUSTOMIZE = [
  'rm -f "$1"/etc/ssh/ssh_host_*',
  'chroot "$1" systemctl disable networking.service NetworkManager.service NetworkManager-wait-online.service systemd-networkd.service systemd-networkd-wait-online.service NetworkManager-dispatcher.service >/dev/null 2>&1 || true',
  'rm -f "$1"/etc/machine-id; : > "$1"/etc/machine-id',
  // a lab host has no console to log in on
  'chroot "$1" systemctl mask getty@.service console-getty.service serial-getty@.service >/dev/null 2>&1 || true',
  'printf "auto lo\\niface lo inet loopback\\n\\nsource /etc/network/interfaces.d/*\\n" > "$1"/etc/network/interfaces',
];
const RECIPE_VERSION = 1;

export interface ArchiveLine {
  uri: string;
  suite: string;
  components: string;
  signedBy?: string;
}

/** The bookworm* entries of apt's sources (deb822 `.sources` and one-line `.list`); the rest (third-party archives) is left out. */
export function parseAptSources(files: readonly { name: string; text: string }[]): ArchiveLine[] {
  const out: ArchiveLine[] = [];
  const wanted = (suite: string) => /^bookworm(-updates|-security)?$/.test(suite);
  for (const f of files) {
    if (f.name.endsWith('.sources')) {
      for (const stanza of f.text.split(/\n\s*\n/)) {
        const fields = new Map<string, string>();
        for (const line of stanza.split('\n')) {
          if (line.startsWith('#')) continue;
          const m = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
          if (m) fields.set(m[1].toLowerCase(), m[2].trim());
        }
        if (!(fields.get('types') ?? '').split(/\s+/).includes('deb')) continue;
        if ((fields.get('enabled') ?? 'yes').toLowerCase() === 'no') continue;
        for (const uri of (fields.get('uris') ?? '').split(/\s+/).filter(Boolean)) {
          for (const suite of (fields.get('suites') ?? '').split(/\s+/).filter(wanted)) {
            out.push({ uri, suite, components: fields.get('components') ?? 'main', signedBy: fields.get('signed-by') });
          }
        }
      }
    } else {
      for (const raw of f.text.split('\n')) {
        const line = raw.replace(/#.*$/, '').trim();
        const m = /^deb\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s+(.+)$/.exec(line);
        if (!m || !wanted(m[3])) continue;
        const signedBy = /signed-by=(\S+)/.exec(m[1] ?? '')?.[1];
        out.push({ uri: m[2], suite: m[3], components: m[4].trim(), signedBy });
      }
    }
  }
  return out;
}

function machineArchive(): ArchiveLine[] {
  const files: { name: string; text: string }[] = [];
  if (existsSync('/etc/apt/sources.list')) files.push({ name: 'sources.list', text: readFileSync('/etc/apt/sources.list', 'utf8') });
  const d = '/etc/apt/sources.list.d';
  if (existsSync(d)) {
    for (const name of readdirSync(d).sort()) {
      if (name.endsWith('.list') || name.endsWith('.sources')) files.push({ name, text: readFileSync(join(d, name), 'utf8') });
    }
  }
  const lines = parseAptSources(files);
  if (!lines.some((l) => l.suite === 'bookworm')) {
    throw new LabError(
      'the systemd lab tier builds a Debian 12 (bookworm) rootfs, but apt on this machine has no bookworm archive in /etc/apt/sources.list{,.d}',
    );
  }
  return lines;
}

function sourcesList(lines: readonly ArchiveLine[]): string {
  return lines.map((l) => `deb ${l.signedBy ? `[signed-by=${l.signedBy}] ` : ''}${l.uri} ${l.suite} ${l.components}\n`).join('');
}

export interface RootfsResult {
  dir: string;
  /** true when this call built it (false: taken from the cache) */
  built: boolean;
  buildMs: number;
}

let memo: Promise<RootfsResult> | null = null;

/** The cached rootfs, built first when missing. Throws (never skips) when mmdebstrap cannot build it. */
export function ensureRootfs(log: (m: string) => void = () => undefined): Promise<RootfsResult> {
  memo ??= buildOrReuse(log);
  memo.catch(() => {
    memo = null;
  });
  return memo;
}

async function buildOrReuse(log: (m: string) => void): Promise<RootfsResult> {
  if (process.getuid?.() !== 0) throw new LabError('the systemd lab tier needs root (mmdebstrap --mode=root, overlay mounts, systemd-nspawn)');
  const sources = sourcesList(machineArchive());
  const hash = createHash('sha256')
    .update(JSON.stringify({ packages: ROOTFS_PACKAGES, sources, customize: CUSTOMIZE, v: RECIPE_VERSION }))
    .digest('hex')
    .slice(0, 16);
  const dir = join(CACHE_DIR, `rootfs-${hash}`);
  if (existsSync(join(dir, 'usr', 'lib', 'systemd', 'systemd'))) return { dir, built: false, buildMs: 0 };
  mkdirSync(CACHE_DIR, { recursive: true });
  const tmp = join(CACHE_DIR, `build-${hash}-${process.pid}`);
  const sourcesFile = `${tmp}.list`;
  writeFileSync(sourcesFile, sources);
  // The lock: one build at a time; whoever waited finds the finished directory. The build runs in its own
  // mount namespace, so the /proc and /dev mounts of a killed mmdebstrap vanish with it and the
  // temporary directory can be removed without reaching into the machine's /dev.
  const script = `set -e
exec 9>"$1/.lock"
flock 9
if [ -x "$2/usr/lib/systemd/systemd" ]; then echo cached; exit 0; fi
for stale in "$1"/build-*; do
  case "$stale" in *.list) continue ;; esac
  [ -d "$stale" ] || continue
  if grep -qF " $stale" /proc/self/mountinfo; then echo "lab: $stale still has mounts; left alone" >&2; continue; fi
  rm -rf "$stale"
done
mkdir "$3"
unshare --mount --propagation private mmdebstrap --quiet --mode=root --format=directory --variant=minbase \\
  --include="$5" --customize-hook="$6" bookworm "$3" "$4"
mv -T "$3" "$2"
echo built
`;
  const t0 = Date.now();
  log(`building the Debian 12 rootfs for the systemd lab tier in ${dir} (mmdebstrap, a few minutes)`);
  const r = await run('sh', ['-c', script, 'build', CACHE_DIR, dir, tmp, sourcesFile, ROOTFS_PACKAGES.join(','), CUSTOMIZE.join('\n')], {
    timeoutMs: 1_200_000,
  });
  rmSync(sourcesFile, { force: true });
  if (r.code !== 0) {
    rmSync(tmp, { recursive: true, force: true });
    throw new LabError(
      `mmdebstrap could not build the systemd lab rootfs (exit ${r.code ?? r.signal}):\n${(r.stderr + r.stdout).trim().split('\n').slice(-15).join('\n')}`,
    );
  }
  const built = r.stdout.trim().endsWith('built');
  const buildMs = Date.now() - t0;
  if (built) log(`rootfs built in ${Math.round(buildMs / 1000)} s`);
  return { dir, built, buildMs: built ? buildMs : 0 };
}
