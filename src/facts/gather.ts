import { shQuote } from '../transport/quote.js';
import type { ShellSession, Transport } from '../transport/types.js';
import { isOsRelease, OS_RELEASE_FILES, PERSIST_FILE_GLOBS, PROBE_READ_GLOBS, probeLinesFromFiles, readForProbeOnly } from '../modules/persist/probe.js';
import { HostError } from '../errors.js';
import { readTar } from './tar.js';
import type { ArpConf, FactsRequest, HostFacts, LiveAddress } from './types.js';

/** Directories systemd-sysctl and `sysctl --system` read at boot. */
export const SYSCTL_DIRS = ['/etc/sysctl.d', '/run/sysctl.d', '/usr/local/lib/sysctl.d', '/usr/lib/sysctl.d', '/lib/sysctl.d'];

const MARK = '@@vipush:';

export function sysctlPath(key: string): string {
  return `/proc/sys/${key.replace(/\./g, '/')}`;
}

/**
 * One read-only POSIX sh script that gathers everything the play's modules
 * need. Every value in it is quoted by shQuote; sections are delimited by a
 * marker that cannot appear in the kernel's output.
 *
 * It is written to start as few programs as it can (each fork+exec costs
 * the host several ms of CPU, and the host side dominates a fleet run): shell
 * builtins read every sysctl and small file; one `ip` and one `tar` do the
 * rest. The managed files, every boot-time sysctl.d file and the files the
 * persistence probe needs travel in the last section as one tar archive
 * (`tar -ch`: contents, mode and owner of each, symlinks followed; the SSH
 * channel is 8-bit clean, so nothing needs encoding). A file that is the same
 * file as one listed before it is not read twice: the `files` section names it
 * and the file it is. `[ -ef ]` decides, asked only where it can be true
 * without a hard link (tar reports those itself): when either path is a
 * symlink (Debian's 99-sysctl.conf -> ../sysctl.conf, /etc/os-release), or
 * the two have one name (/lib -> /usr/lib), so a host with many files does
 * not pay for every pair. A host without tar gets `stat` + `cat` instead (sizes and modes, then
 * the raw bytes).
 */
export function factsScript(req: FactsRequest, persistProbe = ''): string {
  const s: string[] = [];
  s.push(`m=${shQuote(MARK)}`);
  s.push(`printf '%sssh\\n' "$m"; printf '%s\\n' "\${SSH_CONNECTION:-}"`);
  s.push(`printf '%saddr\\n' "$m"; ip -j addr show 2>/dev/null; echo`);
  // every interface's ARP sysctls and the play's keys, as path:value lines, read by the shell itself
  // (dash's read returns 1 on /proc files even when it read a line: the value decides)
  const keyPaths = req.sysctlKeys.map((k) => shQuote(sysctlPath(k))).join(' ');
  s.push(
    `printf '%sprocsys\\n' "$m"; for f in /proc/sys/net/ipv4/conf/*/arp_ignore /proc/sys/net/ipv4/conf/*/arp_announce ${keyPaths}; do v=; { read -r v || [ -n "$v" ]; } 2>/dev/null < "$f"; if [ -n "$v" ]; then printf '%s:%s\\n' "$f" "$v"; fi; done`,
  );
  for (const path of req.paths) {
    const p = shQuote(path);
    s.push(`printf '%spath %s\\n' "$m" ${p}; if [ -e ${p} ]; then echo yes; else echo no; fi`);
  }
  if (persistProbe) s.push(`printf '%spersist\\n' "$m"`, persistProbe);
  // managed files, our persistence files and every file read at boot by systemd-sysctl / sysctl --system
  // and os-release, always (the OS, for the facts and the persistence probe)
  const globs = ` ${[...OS_RELEASE_FILES, ...(persistProbe ? [...PERSIST_FILE_GLOBS, ...PROBE_READ_GLOBS.filter((g) => !isOsRelease(g))] : [])].join(' ')}`;
  const dropins = SYSCTL_DIRS.map((d) => `${shQuote(d)}/*.conf`).join(' ');
  s.push(
    // ($k: the symlinks listed so far, one per line)
    `printf '%sfiles\\n' "$m"; nl='
'; k=$nl; set --; for f in ${req.files.map(shQuote).join(' ')}${globs} ${dropins}; do [ -f "$f" ] || continue; case "$f" in *"$nl"*) continue;; esac; l=; [ ! -L "$f" ] || l=1`,
    `  for g do if [ -n "$l" ] || [ "\${g##*/}" = "\${f##*/}" ] || case $k in *"$nl$g$nl"*) true;; *) false;; esac; then [ "$f" -ef "$g" ] && { printf '%s\\n%s\\n' "$f" "$g"; continue 2; }; fi; done`,
    `  set -- "$@" "$f"; [ -z "$l" ] || k=$k$f$nl; done`,
    // the end marker carries the reader's exit status: a file it could not read (or that changed while it was
    // read) fails the facts instead of looking absent
    `r=0; if command -v tar >/dev/null 2>&1; then printf '%sfiletar\\n' "$m"; [ $# -eq 0 ] || tar -chf - -- "$@" 2>/dev/null || r=$?; else`,
    `printf '%sfilemeta\\n' "$m"; [ $# -eq 0 ] || stat -L -c '%s %a %u %g %n' -- "$@" || r=$?`,
    `printf '%sfiledata\\n' "$m"; [ $# -eq 0 ] || cat -- "$@" || r=$?; fi; printf '\\n%send %s\\n' "$m" "$r"`,
  );
  return s.join('\n') + '\n';
}

function section(stdout: string): Array<{ head: string; body: string[] }> {
  const out: Array<{ head: string; body: string[] }> = [];
  let cur: { head: string; body: string[] } | undefined;
  for (const line of stdout.split('\n')) {
    if (line.startsWith(MARK) && !line.startsWith(`${MARK}absent`)) {
      cur = { head: line.slice(MARK.length), body: [] };
      out.push(cur);
    } else if (cur) cur.body.push(line);
  }
  return out;
}

function parseOsRelease(lines: string[]): HostFacts['os'] {
  const kv = new Map<string, string>();
  for (const l of lines) {
    const m = /^([A-Z_]+)=(.*)$/.exec(l);
    if (m) kv.set(m[1], m[2].replace(/^"(.*)"$/, '$1'));
  }
  return { id: kv.get('ID') ?? 'unknown', idLike: (kv.get('ID_LIKE') ?? '').split(/\s+/).filter(Boolean), prettyName: kv.get('PRETTY_NAME') ?? '' };
}

/**
 * A host always has lo's addresses, so no JSON means an `ip` without it (iproute2 before 4.13, BusyBox's
 * applet): an empty list would make every address look absent, and the lockout guard blind.
 */
const IP_NEEDED = "this host's ip printed no JSON for `ip -j addr show`: vipush needs iproute2's ip (4.13 or later; BusyBox's applet has neither -j nor -batch); install iproute2";

function parseAddresses(json: string): LiveAddress[] {
  const text = json.trim();
  if (!text.startsWith('[')) throw new Error(IP_NEEDED);
  const links = JSON.parse(text) as Array<{ ifname: string; addr_info?: Array<{ family: string; local: string; prefixlen: number; scope: string; label?: string }> }>;
  const out: LiveAddress[] = [];
  for (const link of links) {
    for (const a of link.addr_info ?? []) {
      if (a.family !== 'inet' && a.family !== 'inet6') continue;
      out.push({ dev: link.ifname, family: a.family === 'inet' ? 4 : 6, local: a.local, prefixlen: a.prefixlen, scope: a.scope, label: a.label });
    }
  }
  return out;
}

const FILEDATA = Buffer.from(`\n${MARK}filedata\n`);
const FILETAR = Buffer.from(`\n${MARK}filetar\n`);
/** The last line: the end marker and the exit status of what read the files. */
const TRAILER = /\n@@vipush:end (\d{1,3})\n$/;

function isDropIn(path: string): boolean {
  const slash = path.lastIndexOf('/');
  return path.endsWith('.conf') && SYSCTL_DIRS.includes(path.slice(0, slash));
}

/** What a host's files section says: each file read once, in listing order, and the paths that are one of them. */
interface FileRead {
  path: string;
  size: number;
  mode: number;
  uid: number;
  gid: number;
  content: Buffer;
  /** a hard link to a file read before it */
  linkOf?: string;
}

/** The binary part: a tar archive (then only zero padding), or stat's sizes' worth of raw bytes. */
function readFileData(data: Buffer, tar: boolean, meta: Array<Omit<FileRead, 'content'>>): FileRead[] {
  if (tar) {
    if (data.length === 0) return [];
    const { files, end } = readTar(data);
    for (let i = end; i < data.length; i++) if (data[i] !== 0) throw new Error('facts: unexpected bytes after the files\' archive');
    return files.map((f) => ({ ...f, size: f.content.length }));
  }
  const total = meta.reduce((n, f) => n + f.size, 0);
  if (data.length !== total) throw new Error(`files changed while they were read (${total} bytes expected, ${data.length} read)`);
  let off = 0;
  return meta.map((f) => {
    const content = data.subarray(off, off + f.size);
    off += f.size;
    return { ...f, content };
  });
}

/**
 * Reads factsScript()'s output: marked text sections, then the files (a tar
 * archive, or raw bytes exactly the sizes stat printed), then the end marker.
 */
export function parseFacts(stdout: string | Buffer, req: FactsRequest): HostFacts {
  const bytes = typeof stdout === 'string' ? Buffer.from(stdout, 'utf8') : stdout;
  const facts: HostFacts = {
    os: { id: 'unknown', idLike: [], prettyName: '' },
    addresses: [],
    lanIfaces: [],
    arp: new Map<string, ArpConf>(),
    sysctls: new Map(),
    files: new Map(),
    paths: new Map(),
    sysctlDropIns: [],
    persistProbe: [],
  };
  // The text sections end where the binary part starts: the first of the two markers (file bytes come after).
  const atTar = bytes.indexOf(FILETAR);
  const atRaw = bytes.indexOf(FILEDATA);
  const tar = atTar >= 0 && (atRaw < 0 || atTar < atRaw);
  const at = tar ? atTar : atRaw;
  if (at < 0) throw new Error('facts output was cut short');
  const procSys = new Map<string, string>();
  let persistSection = false;
  const fileMeta: Array<Omit<FileRead, 'content'>> = [];
  const sameAs = new Map<string, string>();
  for (const { head, body } of section(bytes.subarray(0, at + 1).toString('utf8'))) {
    const sp = head.indexOf(' ');
    const kind = sp < 0 ? head : head.slice(0, sp);
    const arg = sp < 0 ? '' : head.slice(sp + 1);
    const first = body[0] ?? '';
    switch (kind) {
      case 'ssh': {
        const parts = first.trim().split(/\s+/);
        if (parts.length >= 3) facts.sessionAddress = parts[2];
        break;
      }
      case 'addr':
        facts.addresses = parseAddresses(body.join('\n'));
        break;
      case 'procsys':
        for (const l of body) {
          const i = l.indexOf(':');
          if (i < 0) continue;
          const path = l.slice(0, i);
          const value = l.slice(i + 1).trim();
          const arp = /^\/proc\/sys\/net\/ipv4\/conf\/([^/]+)\/(arp_ignore|arp_announce)$/.exec(path);
          if (arp) {
            const cur = facts.arp.get(arp[1]) ?? { arpIgnore: 0, arpAnnounce: 0 };
            facts.arp.set(arp[1], arp[2] === 'arp_ignore' ? { ...cur, arpIgnore: Number(value) } : { ...cur, arpAnnounce: Number(value) });
          }
          procSys.set(path, value);
        }
        break;
      case 'files':
        // pairs of lines: a path, then the path listed before it that is the same file
        for (let i = 0; i + 1 < body.length; i += 2) if (body[i]) sameAs.set(body[i], body[i + 1]);
        break;
      case 'filemeta':
        for (const l of body) {
          const m = /^(\d+) ([0-7]+) (\d+) (\d+) (.+)$/.exec(l);
          if (m) fileMeta.push({ size: Number(m[1]), mode: parseInt(m[2], 8), uid: Number(m[3]), gid: Number(m[4]), path: m[5] });
        }
        break;
      case 'path':
        facts.paths.set(arg, first === 'yes');
        break;
      case 'persist':
        persistSection = true;
        facts.persistProbe = body.filter((l) => l.startsWith('persist.'));
        break;
    }
  }
  const data = bytes.subarray(at + (tar ? FILETAR : FILEDATA).length);
  const trailer = TRAILER.exec(data.subarray(Math.max(0, data.length - 32)).toString('latin1'));
  if (!trailer) throw new Error('facts output was cut short');
  if (trailer[1] !== '0') throw new Error(`the host could not read every file vipush needs (${tar ? 'tar' : 'stat/cat'} exited ${trailer[1]}): a file changed while it was read or is unreadable for this user; run again`);
  const read: FileRead[] = [];
  for (const f of readFileData(data.subarray(0, data.length - trailer[0].length), tar, fileMeta)) {
    if (f.linkOf !== undefined) sameAs.set(f.path, f.linkOf);
    else read.push(f);
  }
  // every path listed: each file read, and each path that is one of them
  const byPath = new Map(read.map((f) => [f.path, f]));
  const listed: Array<{ path: string; file: FileRead; canonical: string }> = read.map((f) => ({ path: f.path, file: f, canonical: f.path }));
  for (const [path, original] of sameAs) {
    const file = byPath.get(original);
    if (file && !byPath.has(path)) listed.push({ path, file, canonical: original });
  }
  const managedBy = new Map<string, string>();
  for (const l of listed) if (req.files.includes(l.path) && !managedBy.has(l.canonical)) managedBy.set(l.canonical, l.path);
  for (const { path, file } of listed) {
    if (req.files.includes(path) || (!isDropIn(path) && !readForProbeOnly(path))) facts.files.set(path, { content: file.content, mode: file.mode, uid: file.uid, gid: file.gid });
  }
  // boot-time drop-ins in the order systemd-sysctl reads their directories; the file each really is when it is
  // a managed file (Debian's 99-sysctl.conf -> ../sysctl.conf)
  const dirRank = (p: string) => SYSCTL_DIRS.indexOf(p.slice(0, p.lastIndexOf('/')));
  const dropIns = listed.filter((l) => isDropIn(l.path)).sort((a, b) => dirRank(a.path) - dirRank(b.path) || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (const l of dropIns) facts.sysctlDropIns.push({ path: l.path, target: managedBy.get(l.canonical) ?? l.path, text: l.file.content.toString('utf8') });
  const osRelease = OS_RELEASE_FILES.map((p) => listed.find((l) => l.path === p)?.file).find((f) => f !== undefined);
  if (osRelease) facts.os = parseOsRelease(osRelease.content.toString('utf8').split('\n'));
  if (persistSection) facts.persistProbe.push(...probeLinesFromFiles(read));
  for (const key of req.sysctlKeys) facts.sysctls.set(key, procSys.get(sysctlPath(key)) ?? null);
  for (const f of req.files) if (!facts.files.has(f)) facts.files.set(f, null);
  const v4devs = new Set(facts.addresses.filter((a) => a.family === 4 && a.dev !== 'lo').map((a) => a.dev));
  facts.lanIfaces = [...v4devs];
  return facts;
}

/** Gathers facts with exactly one remote command (a script in the host's shell session, when there is one). */
export async function gatherFacts(
  t: Transport,
  req: FactsRequest,
  opts: { become?: boolean; persistProbe?: string; timeoutMs?: number; session?: ShellSession } = {},
): Promise<HostFacts> {
  let stdout: Buffer | string;
  if (opts.session) {
    stdout = await opts.session.exchange(factsScript(req, opts.persistProbe), { timeoutMs: opts.timeoutMs ?? 0, what: 'reading facts' });
  } else {
    // read-only and short: no timeout(1) on the host, the controller's deadline is enough
    const r = await t.exec({ script: factsScript(req, opts.persistProbe) }, { become: opts.become, timeoutMs: opts.timeoutMs, hostDeadline: false });
    if (r.code !== 0) {
      throw new HostError(t.host, 'command', `reading facts failed (exit ${r.code ?? r.signal}): ${r.stderr.trim().split('\n').slice(-1)[0] ?? ''}`);
    }
    stdout = r.stdoutBytes ?? r.stdout;
  }
  try {
    return parseFacts(stdout, req);
  } catch (e) {
    throw new HostError(t.host, 'command', `could not read facts: ${(e as Error).message}`);
  }
}
