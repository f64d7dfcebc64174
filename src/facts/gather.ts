import { HostError } from '../errors.js';
import { parseMarked, type MarkedSection } from '../remote/markers.js';
import { shJoin } from '../remote/quote.js';
import { SHELL_TEXT } from '../remote/shell-text.generated.js';
import type { ShellSession } from '../transport/types.js';
import { readTar } from './tar.js';
import type { FactsRequest, HostFacts, LiveAddress } from './types.js';

/** Directories systemd-sysctl and `sysctl --system` read at boot. */
export const SYSCTL_DIRS = ['/etc/sysctl.d', '/run/sysctl.d', '/usr/local/lib/sysctl.d', '/usr/lib/sysctl.d', '/lib/sysctl.d'];

/** /proc/sys/KEY with dots as slashes: where the kernel keeps a sysctl. */
export function sysctlPath(key: string): string {
  return `/proc/sys/${key.replace(/\./g, '/')}`;
}

/** os-release(5): the first of the two that exists says which OS this is. */
export const OS_RELEASE_FILES = ['/etc/os-release', '/usr/lib/os-release'] as const;

/**
 * The facts part of a host script (after scriptHead): the functions of sh/facts.sh and the probes',
 * then one call per section. Every value in it is quoted by shJoin. The files section comes last: its
 * bytes are binary. Files travel in the order asked: exact paths, globs, os-release, then every file
 * systemd-sysctl and `sysctl --system` read at boot.
 */
export function factsLines(req: FactsRequest): string {
  const lines = [SHELL_TEXT.facts, ...req.probes.map((p) => p.shell)].join('');
  const calls = [
    'vp_facts_ssh',
    'vp_facts_addr',
    shJoin(['vp_facts_procsys', ...req.sysctlKeys.map(sysctlPath)]),
    ...(req.paths.length ? [shJoin(['vp_facts_paths', ...req.paths])] : []),
    ...req.probes.map((p) => `vp_mark ${shJoin(['probe', p.name])}; ${shJoin(p.argv)} 2>/dev/null || true`),
    shJoin(['vp_facts_files', ...req.files, ...req.globs, ...OS_RELEASE_FILES, ...SYSCTL_DIRS.map((d) => `${d}/*.conf`)]),
  ];
  return `${lines}${calls.join('\n')}\n`;
}

function lines(s: MarkedSection): string[] {
  const text = s.body.toString('utf8');
  return (text.endsWith('\n') ? text.slice(0, -1) : text).split('\n');
}

function parseOsRelease(text: string): HostFacts['os'] {
  const kv = new Map<string, string>();
  for (const l of text.split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(l);
    if (m) kv.set(m[1], m[2].replace(/^"(.*)"$/, '$1'));
  }
  return { id: kv.get('ID') ?? 'unknown', idLike: (kv.get('ID_LIKE') ?? '').split(/\s+/).filter(Boolean), prettyName: kv.get('PRETTY_NAME') ?? '' };
}

/**
 * A host always has lo's addresses, so no JSON means an `ip` without it (iproute2 before 4.13, BusyBox's
 * applet): an empty list would make every address look absent, and the lockout guard blind.
 */
const IP_NEEDED =
  "this host's ip printed no JSON for `ip -j addr show`: vipush needs iproute2's ip (4.13 or later; BusyBox's applet has neither -j nor -batch); install iproute2";

function parseAddresses(json: string): LiveAddress[] {
  const text = json.trim();
  if (!text.startsWith('[')) throw new Error(IP_NEEDED);
  const links = JSON.parse(text) as Array<{
    ifname: string;
    addr_info?: Array<{ family: string; local: string; prefixlen: number; scope: string; label?: string }>;
  }>;
  const out: LiveAddress[] = [];
  for (const link of links) {
    for (const a of link.addr_info ?? []) {
      if (a.family !== 'inet' && a.family !== 'inet6') continue;
      out.push({ dev: link.ifname, family: a.family === 'inet' ? 4 : 6, local: a.local, prefixlen: a.prefixlen, scope: a.scope, label: a.label });
    }
  }
  return out;
}

/**
 * The largest file vipush reads from a host (a managed file, a glob's match, os-release, a boot-time
 * drop-in): its bytes are planned, hashed and diffed in memory, once per host.
 */
export const MAX_FILE_BYTES = 8 * 1024 * 1024;

function tooLarge(f: FileRead): string {
  // rounded up, so that a file just over the limit does not read as "8 MiB"
  const mib = Math.ceil((f.content.length / (1024 * 1024)) * 10) / 10;
  return `${f.path} is ${mib} MiB; vipush reads files of at most ${MAX_FILE_BYTES / (1024 * 1024)} MiB`;
}

function isDropIn(path: string): boolean {
  const slash = path.lastIndexOf('/');
  return path.endsWith('.conf') && SYSCTL_DIRS.includes(path.slice(0, slash));
}

/** One file as the files section read it: each file once, in listing order. */
interface FileRead {
  path: string;
  mode: number;
  uid: number;
  gid: number;
  content: Buffer;
  /** a hard link to a file read before it */
  linkOf?: string;
}

/** The tar archive of the files (then only zero padding). */
function readFromTar(data: Buffer): FileRead[] {
  if (data.length === 0) return [];
  const { files, end } = readTar(data);
  for (let i = end; i < data.length; i++) if (data[i] !== 0) throw new Error("facts: unexpected bytes after the files' archive");
  return files;
}

/** stat's sizes and modes, then exactly that many bytes of cat. */
function readFromStatCat(meta: MarkedSection | undefined, data: Buffer): FileRead[] {
  const files = (meta ? lines(meta) : [])
    .map((l) => /^(\d+) ([0-7]+) (\d+) (\d+) (.+)$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ size: Number(m[1]), mode: parseInt(m[2], 8), uid: Number(m[3]), gid: Number(m[4]), path: m[5] }));
  const total = files.reduce((n, f) => n + f.size, 0);
  if (data.length !== total) throw new Error(`files changed while they were read (${total} bytes expected, ${data.length} read)`);
  let off = 0;
  return files.map(({ size, ...f }) => {
    const content = data.subarray(off, off + size);
    off += size;
    return { ...f, content };
  });
}

/** Reads the output of factsLines(): marked sections, the files last, then the end marker with the reader's status. */
export function parseFacts(out: Buffer, nonce: string, req: FactsRequest): HostFacts {
  const facts: HostFacts = {
    os: { id: 'unknown', idLike: [], prettyName: '' },
    addresses: [],
    lanIfaces: [],
    sysctls: new Map(),
    files: new Map(),
    paths: new Map(),
    sysctlDropIns: [],
    probes: new Map(),
  };
  const sections = parseMarked(out, nonce);
  const end = sections.find((s) => s.kind === 'end');
  if (!end) throw new Error('facts output was cut short');
  if (end.arg !== '0') {
    const reader = sections.some((s) => s.kind === 'filetar') ? 'tar' : 'stat/cat';
    throw new Error(
      `the host could not read every file vipush needs (${reader} exited ${end.arg}): a file changed while it was read or is unreadable for this user; run again`,
    );
  }
  const procSys = new Map<string, string>();
  const sameAs = new Map<string, string>();
  let read: FileRead[] = [];
  for (const s of sections) {
    switch (s.kind) {
      case 'ssh': {
        const parts = lines(s)[0].trim().split(/\s+/);
        if (parts.length >= 3) facts.sessionAddress = parts[2];
        break;
      }
      case 'addr':
        facts.addresses = parseAddresses(s.body.toString('utf8'));
        break;
      case 'procsys':
        for (const l of lines(s)) {
          const i = l.indexOf(':');
          if (i > 0) procSys.set(l.slice(0, i), l.slice(i + 1).trim());
        }
        break;
      case 'path':
        facts.paths.set(s.arg, lines(s)[0] === 'yes');
        break;
      case 'probe':
        facts.probes.set(
          s.arg,
          lines(s).filter((l) => l !== ''),
        );
        break;
      case 'files': {
        // pairs of lines: a path, then the path listed before it that is the same file
        const l = lines(s);
        for (let i = 0; i + 1 < l.length; i += 2) if (l[i]) sameAs.set(l[i], l[i + 1]);
        break;
      }
      case 'filetar':
        read = readFromTar(s.body);
        break;
      case 'filedata':
        read = readFromStatCat(
          sections.find((x) => x.kind === 'filemeta'),
          s.body,
        );
        break;
    }
  }
  const huge = read.find((f) => f.content.length > MAX_FILE_BYTES);
  if (huge) throw new Error(tooLarge(huge));
  for (const [path, value] of procSys) {
    if (path.startsWith('/proc/sys/net/ipv4/conf/')) facts.sysctls.set(path.slice('/proc/sys/'.length).replace(/\//g, '.'), value);
  }
  for (const key of req.sysctlKeys) facts.sysctls.set(key, procSys.get(sysctlPath(key)) ?? null);

  const originals = read.filter((f) => f.linkOf === undefined);
  for (const f of read) if (f.linkOf !== undefined) sameAs.set(f.path, f.linkOf);
  // every path listed: each file read, and each path that is one of them
  const byPath = new Map(originals.map((f) => [f.path, f]));
  const listed: Array<{ path: string; file: FileRead; canonical: string }> = originals.map((f) => ({ path: f.path, file: f, canonical: f.path }));
  for (const [path, original] of sameAs) {
    const file = byPath.get(original);
    if (file && !byPath.has(path)) listed.push({ path, file, canonical: original });
  }
  const managedBy = new Map<string, string>();
  for (const l of listed) if (req.files.includes(l.path) && !managedBy.has(l.canonical)) managedBy.set(l.canonical, l.path);
  const asked = (p: string) => req.files.includes(p) || !isDropIn(p);
  for (const { path, file } of listed) if (asked(path)) facts.files.set(path, { content: file.content, mode: file.mode, uid: file.uid, gid: file.gid });
  // boot-time drop-ins in the order systemd-sysctl reads their directories; the file each really is when it is
  // a managed file (Debian's 99-sysctl.conf -> ../sysctl.conf)
  const dirRank = (p: string) => SYSCTL_DIRS.indexOf(p.slice(0, p.lastIndexOf('/')));
  const dropIns = listed.filter((l) => isDropIn(l.path)).sort((a, b) => dirRank(a.path) - dirRank(b.path) || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (const l of dropIns) facts.sysctlDropIns.push({ path: l.path, target: managedBy.get(l.canonical) ?? l.path, text: l.file.content.toString('utf8') });
  const osRelease = OS_RELEASE_FILES.map((p) => listed.find((l) => l.path === p)?.file).find((f) => f !== undefined);
  if (osRelease) facts.os = parseOsRelease(osRelease.content.toString('utf8'));
  for (const f of req.files) if (!facts.files.has(f)) facts.files.set(f, null);
  facts.lanIfaces = [...new Set(facts.addresses.filter((a) => a.family === 4 && a.dev !== 'lo').map((a) => a.dev))];
  return facts;
}

/** Gathers facts with one exchange in the host's shell session, which has run scriptHead with `nonce` already. */
export async function gatherFacts(host: string, session: ShellSession, nonce: string, req: FactsRequest, timeoutMs: number): Promise<HostFacts> {
  const out = await session.exchange(factsLines(req), { timeoutMs, what: 'reading facts' });
  try {
    return parseFacts(out, nonce, req);
  } catch (e) {
    throw new HostError(host, 'command', `could not read facts: ${(e as Error).message}`);
  }
}
