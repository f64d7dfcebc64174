import { shQuote } from '../transport/quote.js';
import type { Transport } from '../transport/types.js';
import { PERSIST_FILE_GLOBS } from '../modules/persist/probe.js';
import { HostError } from '../errors.js';
import type { ArpConf, FactsRequest, FileFact, HostFacts, LiveAddress, SysctlDropIn } from './types.js';

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
 */
export function factsScript(req: FactsRequest, persistProbe = ''): string {
  const s: string[] = [];
  s.push(`m=${shQuote(MARK)}`);
  s.push(`printf '%sos\\n' "$m"; cat /etc/os-release 2>/dev/null`);
  s.push(`printf '%sssh\\n' "$m"; printf '%s\\n' "\${SSH_CONNECTION:-}"`);
  s.push(`printf '%saddr\\n' "$m"; ip -j addr show 2>/dev/null; echo`);
  s.push(
    `printf '%sarp\\n' "$m"; for d in /proc/sys/net/ipv4/conf/*; do printf '%s %s %s\\n' "\${d##*/}" "$(cat "$d/arp_ignore" 2>/dev/null)" "$(cat "$d/arp_announce" 2>/dev/null)"; done`,
  );
  for (const key of req.sysctlKeys) {
    const p = shQuote(sysctlPath(key));
    s.push(`printf '%ssysctl %s\\n' "$m" ${shQuote(key)}; if [ -r ${p} ]; then cat ${p}; else echo '${MARK}absent'; fi`);
  }
  for (const path of req.files) {
    const p = shQuote(path);
    s.push(
      `printf '%sfile %s\\n' "$m" ${p}; if [ -f ${p} ]; then stat -L -c '%a %u %g' ${p} && base64 -w0 ${p}; echo; else echo '${MARK}absent'; fi`,
    );
  }
  for (const path of req.paths) {
    const p = shQuote(path);
    s.push(`printf '%spath %s\\n' "$m" ${p}; if [ -e ${p} ]; then echo yes; else echo no; fi`);
  }
  s.push(
    `for d in ${SYSCTL_DIRS.map(shQuote).join(' ')}; do for f in "$d"/*.conf; do [ -f "$f" ] || continue; printf '%sdropin %s\\n' "$m" "$f"; readlink -f "$f"; base64 -w0 "$f"; echo; done; done`,
  );
  if (persistProbe) {
    s.push(`printf '%spersist\\n' "$m"`, persistProbe);
    // The persistence backends need the bytes of every file that may be ours, in this same round trip.
    s.push(
      `for p in ${PERSIST_FILE_GLOBS.join(' ')}; do [ -f "$p" ] || continue; case "$p" in *'
'*) continue;; esac; printf '%sfile %s\\n' "$m" "$p"; stat -L -c '%a %u %g' "$p" && base64 -w0 "$p"; echo; done`,
    );
  }
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
      case 'arp':
        for (const l of body) {
          const [iface, ig, an] = l.trim().split(/\s+/);
          if (iface && ig !== undefined && an !== undefined) facts.arp.set(iface, { arpIgnore: Number(ig), arpAnnounce: Number(an) });
        }
        break;
      case 'sysctl':
        facts.sysctls.set(arg, first === `${MARK}absent` ? null : body.join('\n').trim());
        break;
      case 'file':
        if (first === `${MARK}absent`) facts.files.set(arg, null);
        else {
          const [mode, uid, gid] = first.split(' ');
          const fact: FileFact = { mode: parseInt(mode, 8), uid: Number(uid), gid: Number(gid), content: Buffer.from(body[1] ?? '', 'base64') };
          facts.files.set(arg, fact);
        }
        break;
      case 'path':
        facts.paths.set(arg, first === 'yes');
        break;
      case 'dropin': {
        const d: SysctlDropIn = { path: arg, target: first, text: Buffer.from(body[1] ?? '', 'base64').toString('utf8') };
        facts.sysctlDropIns.push(d);
        break;
      }
      case 'persist':
        facts.persistProbe = body.filter((l) => l.startsWith('persist.'));
        break;
      case 'end':
        ended = true;
        break;
    }
  }
  if (!ended) throw new Error('facts output was cut short');
  for (const key of req.sysctlKeys) if (!facts.sysctls.has(key)) facts.sysctls.set(key, null);
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
