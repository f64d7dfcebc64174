import { shQuote } from '../transport/quote.js';
import type { Transport } from '../transport/types.js';
import { PERSIST_FILE_GLOBS } from '../modules/persist/probe.js';
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
 * marker that cannot appear in base64 or in the kernel's output.
 *
 * It is written to start as few processes as it can (each fork+exec costs a
 * few ms of the host's CPU, and the host side dominates a fleet run): shell
 * builtins read small files, one grep reads every sysctl, one stat and one
 * base64 carry every managed file, one grep every sysctl.d file.
 */
export function factsScript(req: FactsRequest, persistProbe = ''): string {
  const s: string[] = [];
  s.push(`m=${shQuote(MARK)}`);
  s.push(`printf '%sos\\n' "$m"; while IFS= read -r l || [ -n "$l" ]; do printf '%s\\n' "$l"; done < /etc/os-release 2>/dev/null`);
  s.push(`printf '%sssh\\n' "$m"; printf '%s\\n' "\${SSH_CONNECTION:-}"`);
  s.push(`printf '%saddr\\n' "$m"; ip -j addr show 2>/dev/null; echo`);
  // every interface's ARP sysctls and the play's keys, as path:value lines, in one process
  const keyPaths = req.sysctlKeys.map((k) => shQuote(sysctlPath(k))).join(' ');
  s.push(`printf '%sprocsys\\n' "$m"; grep -s -H '' /proc/sys/net/ipv4/conf/*/arp_ignore /proc/sys/net/ipv4/conf/*/arp_announce ${keyPaths}`);
  // managed files: their metadata, then all their bytes in one base64 stream, split by size
  const globs = persistProbe ? ` ${PERSIST_FILE_GLOBS.join(' ')}` : '';
  s.push(
    `set --; for f in ${req.files.map(shQuote).join(' ')}${globs}; do [ -f "$f" ] || continue; case "$f" in *'
'*) continue;; esac; set -- "$@" "$f"; done`,
    `printf '%sfilemeta\\n' "$m"; [ $# -eq 0 ] || stat -L -c '%s %a %u %g %n' "$@"`,
    `printf '%sfiledata\\n' "$m"; [ $# -eq 0 ] || cat "$@" | base64 -w0; echo`,
  );
  for (const path of req.paths) {
    const p = shQuote(path);
    s.push(`printf '%spath %s\\n' "$m" ${p}; if [ -e ${p} ]; then echo yes; else echo no; fi`);
  }
  // every file read at boot by systemd-sysctl / sysctl --system, as NUL-separated path and line
  s.push(
    `set --; for d in ${SYSCTL_DIRS.map(shQuote).join(' ')}; do for f in "$d"/*.conf; do [ -f "$f" ] || continue; case "$f" in *'
'*) continue;; esac; set -- "$@" "$f"; done; done`,
    `printf '%sdropins\\n' "$m"; [ $# -eq 0 ] || grep -s -H -Z '' "$@"`,
    `printf '%slinks\\n' "$m"; for f; do [ ! -L "$f" ] || { printf '%s ' "$f"; readlink -f "$f"; }; done`,
  );
  if (persistProbe) s.push(`printf '%spersist\\n' "$m"`, persistProbe);
  s.push(`printf '%send\\n' "$m"`);
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

export function parseFacts(stdout: string, req: FactsRequest): HostFacts {
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
  let ended = false;
  const procSys = new Map<string, string>();
  const fileMeta: Array<{ path: string; size: number; mode: number; uid: number; gid: number }> = [];
  const dropinText = new Map<string, string>();
  const links = new Map<string, string>();
  for (const { head, body } of section(stdout)) {
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
          const m = /^(\d+) ([0-7]+) (\d+) (\d+) (.+)$/.exec(l);
          if (m) fileMeta.push({ size: Number(m[1]), mode: parseInt(m[2], 8), uid: Number(m[3]), gid: Number(m[4]), path: m[5] });
        }
        break;
      case 'filedata': {
        const all = Buffer.from(body.join(''), 'base64');
        let off = 0;
        for (const f of fileMeta) {
          facts.files.set(f.path, { content: all.subarray(off, off + f.size), mode: f.mode, uid: f.uid, gid: f.gid });
          off += f.size;
        }
        if (off !== all.length) throw new Error(`managed files changed while they were read (${off} of ${all.length} bytes)`);
        break;
      }
      case 'path':
        facts.paths.set(arg, first === 'yes');
        break;
      case 'dropins':
        for (const l of body) {
          const z = l.indexOf('\0');
          if (z < 0) continue;
          const path = l.slice(0, z);
          dropinText.set(path, (dropinText.get(path) ?? '') + l.slice(z + 1) + '\n');
        }
        break;
      case 'links':
        for (const l of body) {
          const sp = l.indexOf(' ');
          if (sp > 0) links.set(l.slice(0, sp), l.slice(sp + 1));
        }
        break;
      case 'persist':
        facts.persistProbe = body.filter((l) => l.startsWith('persist.'));
        break;
      case 'end':
        ended = true;
        break;
    }
  }
  if (!ended) throw new Error('facts output was cut short');
  for (const key of req.sysctlKeys) facts.sysctls.set(key, procSys.get(sysctlPath(key)) ?? null);
  for (const f of req.files) if (!facts.files.has(f)) facts.files.set(f, null);
  // grep prints nothing for an empty file: every listed drop-in is there, with its lines
  for (const [path, text] of dropinText) facts.sysctlDropIns.push({ path, target: links.get(path) ?? path, text });
  for (const [path, target] of links) if (!dropinText.has(path)) facts.sysctlDropIns.push({ path, target, text: '' });
  const v4devs = new Set(facts.addresses.filter((a) => a.family === 4 && a.dev !== 'lo').map((a) => a.dev));
  facts.lanIfaces = [...v4devs];
  return facts;
}

/** Gathers facts with exactly one remote command. */
export async function gatherFacts(t: Transport, req: FactsRequest, opts: { become?: boolean; persistProbe?: string; timeoutMs?: number } = {}): Promise<HostFacts> {
  const r = await t.exec({ script: factsScript(req, opts.persistProbe) }, { become: opts.become, timeoutMs: opts.timeoutMs });
  if (r.code !== 0) {
    throw new HostError(t.host, 'command', `reading facts failed (exit ${r.code ?? r.signal}): ${r.stderr.trim().split('\n').slice(-1)[0] ?? ''}`);
  }
  try {
    return parseFacts(r.stdout, req);
  } catch (e) {
    throw new HostError(t.host, 'command', `could not read facts: ${(e as Error).message}`);
  }
}
