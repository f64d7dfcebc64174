import { shQuote } from '../transport/quote.js';
import type { ShellSession, Transport } from '../transport/types.js';
import { PERSIST_FILE_GLOBS, PROBE_READ_GLOBS, probeLinesFromFiles, readForProbeOnly } from '../modules/persist/probe.js';
import { HostError } from '../errors.js';
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
 * builtins read every sysctl and small file; one `ip`, one `stat` and one
 * `cat` do the rest. The managed files and every boot-time sysctl.d file
 * travel as raw bytes in the last section, split by the sizes stat printed
 * (the SSH channel is 8-bit clean, so nothing needs encoding).
 */
export function factsScript(req: FactsRequest, persistProbe = ''): string {
  const s: string[] = [];
  s.push(`m=${shQuote(MARK)}`);
  s.push(`printf '%sos\\n' "$m"; while IFS= read -r l || [ -n "$l" ]; do printf '%s\\n' "$l"; done < /etc/os-release 2>/dev/null`);
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
  const globs = persistProbe ? ` ${[...PERSIST_FILE_GLOBS, ...PROBE_READ_GLOBS].join(' ')}` : '';
  const dropins = SYSCTL_DIRS.map((d) => `${shQuote(d)}/*.conf`).join(' ');
  s.push(
    `set --; for f in ${req.files.map(shQuote).join(' ')}${globs} ${dropins}; do [ -f "$f" ] || continue; case "$f" in *'
'*) continue;; esac; set -- "$@" "$f"; done`,
    // size, mode, owner, and the file's identity (a symlinked drop-in is the same file as its target)
    `printf '%sfilemeta\\n' "$m"; [ $# -eq 0 ] || stat -L -c '%s %a %u %g %d:%i %n' -- "$@"`,
    `printf '%sfiledata\\n' "$m"; [ $# -eq 0 ] || cat -- "$@"; printf '\\n%send\\n' "$m"`,
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

function parseAddresses(json: string): LiveAddress[] {
  const text = json.trim();
  if (!text) return [];
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
const TRAILER = Buffer.from(`\n${MARK}end\n`);

function isDropIn(path: string): boolean {
  const slash = path.lastIndexOf('/');
  return path.endsWith('.conf') && SYSCTL_DIRS.includes(path.slice(0, slash));
}

/**
 * Reads factsScript()'s output: marked text sections, then the files' raw
 * bytes (exactly the sizes stat printed), then the end marker.
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
  const at = bytes.indexOf(FILEDATA);
  if (at < 0) throw new Error('facts output was cut short');
  const procSys = new Map<string, string>();
  let persistSection = false;
  const fileMeta: Array<{ path: string; size: number; mode: number; uid: number; gid: number; id: string }> = [];
  for (const { head, body } of section(bytes.subarray(0, at + 1).toString('utf8'))) {
    const sp = head.indexOf(' ');
    const kind = sp < 0 ? head : head.slice(0, sp);
    const arg = sp < 0 ? '' : head.slice(sp + 1);
    const first = body[0] ?? '';
    switch (kind) {
      case 'os':
        facts.os = parseOsRelease(body);
        break;
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
      case 'filemeta':
        for (const l of body) {
          const m = /^(\d+) ([0-7]+) (\d+) (\d+) (\d+:\d+) (.+)$/.exec(l);
          if (m) fileMeta.push({ size: Number(m[1]), mode: parseInt(m[2], 8), uid: Number(m[3]), gid: Number(m[4]), id: m[5], path: m[6] });
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
  const data = bytes.subarray(at + FILEDATA.length);
  const total = fileMeta.reduce((n, f) => n + f.size, 0);
  if (data.length < TRAILER.length || !data.subarray(data.length - TRAILER.length).equals(TRAILER)) throw new Error('facts output was cut short');
  if (data.length - TRAILER.length !== total) throw new Error(`files changed while they were read (${total} bytes expected, ${data.length - TRAILER.length} read)`);
  const read: Array<{ path: string; id: string; content: Buffer }> = [];
  const pathById = new Map<string, string>();
  let off = 0;
  for (const f of fileMeta) {
    const content = data.subarray(off, off + f.size);
    off += f.size;
    read.push({ path: f.path, id: f.id, content });
    if (req.files.includes(f.path) || (!isDropIn(f.path) && !readForProbeOnly(f.path))) facts.files.set(f.path, { content, mode: f.mode, uid: f.uid, gid: f.gid });
    if (req.files.includes(f.path) && !pathById.has(f.id)) pathById.set(f.id, f.path);
  }
  const seen = new Set<string>();
  for (const f of read) {
    if (!isDropIn(f.path) || seen.has(f.path)) continue;
    seen.add(f.path);
    // the file it really is: a managed file with the same device and inode (Debian's 99-sysctl.conf -> ../sysctl.conf)
    facts.sysctlDropIns.push({ path: f.path, target: pathById.get(f.id) ?? f.path, text: f.content.toString('utf8') });
  }
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
