import { addressSlug, nameSlug } from './managed.js';
import { basename, dirname, type PersistFormat } from './format.js';
import type { PersistedVip } from './types.js';

const DIR = '/etc/network/interfaces.d';
const SUGGESTED_SOURCE_LINE = 'source /etc/network/interfaces.d/*';
/** what `source-directory` accepts (interfaces(5)) */
const SOURCE_DIRECTORY_NAME = /^[a-zA-Z0-9_-]+$/;

/**
 * Debian's ifupdown (0.8 accepts `scope`). A labelled IPv4 VIP gets its own
 * alias stanza (`iface lo:1`). Without a label, and for IPv6 (which has no
 * labels), the stanza is another `iface lo inet[6] static`: interfaces(5)
 * allows several stanzas per interface and applies them all, and this keeps
 * the address unlabelled, as the live task added it. An IPv6 alias stanza
 * would not do: ifupdown adds alias addresses with `preferred_lft 0`.
 */
export const ifupdownFormat: PersistFormat = {
  backend: 'ifupdown',
  layout: 'per-vip',
  mode: 0o644,
  pathFor(vip) {
    const name = vip.label ?? `${vip.dev}-${addressSlug(vip)}`;
    return `${DIR}/vipush-${nameSlug(name)}`;
  },
  mayBeOurs(path) {
    return dirname(path) === DIR && basename(path).startsWith('vipush-');
  },
  refuse(vip, f) {
    const iface = stanzaName(vip);
    if (iface === vip.dev) return null;
    const family = vip.family === 4 ? 'inet' : 'inet6';
    const clash = f.ifupdownIfaces.find((i) => i.name === iface && i.family === family);
    return clash ? `ifupdown already has an "iface ${iface} ${family}" stanza outside vipush's files; remove it or choose another label` : null;
  },
  fileProblems(path, _vips, f) {
    if (!f.interfacesFile) {
      return [`/etc/network/interfaces does not exist, so ifupdown would never read ${path}; choose another persist backend`];
    }
    if (!ifupdownReads(path, f.ifupdownSources)) {
      return [
        `/etc/network/interfaces does not source ${DIR}, so ifupdown would not read ${path} at boot; ` +
          `add the line "${SUGGESTED_SOURCE_LINE}" to /etc/network/interfaces (vipush does not edit that file)`,
      ];
    }
    return [];
  },
  render(vips) {
    return vips.map(stanza).join('\n');
  },
  // The live `ip addr add` already gives what `ifup` would; ifup of a present address fails.
  applyNow() {
    return [];
  },
};

function stanzaName(vip: PersistedVip): string {
  return vip.label ?? vip.dev;
}

function stanza(vip: PersistedVip): string {
  const iface = stanzaName(vip);
  const lines = [`auto ${iface}`, `iface ${iface} ${vip.family === 4 ? 'inet' : 'inet6'} static`, `    address ${vip.address}`];
  // IPv6 scope is the kernel's to choose; it plays no part in ARP.
  if (vip.family === 4) lines.push(`    scope ${vip.scope}`);
  return lines.join('\n') + '\n';
}

/**
 * Whether one of /etc/network/interfaces' `source` lines reaches this file.
 * Relative paths are relative to /etc/network; `source` takes a shell glob;
 * `source-directory` takes a directory (glob) and skips names outside
 * [a-zA-Z0-9_-].
 */
export function ifupdownReads(path: string, sourceLines: readonly string[]): boolean {
  for (const line of sourceLines) {
    const [keyword, target] = line.trim().split(/\s+/);
    if (!target) continue;
    const absolute = target.startsWith('/') ? target : `/etc/network/${target}`;
    if (keyword === 'source' && globMatches(absolute, path)) return true;
    if (keyword === 'source-directory' && globMatches(absolute.replace(/\/+$/, ''), dirname(path)) && SOURCE_DIRECTORY_NAME.test(basename(path))) {
      return true;
    }
  }
  return false;
}

/** A shell glob (`*`, `?`, `[...]`) as wordexp matches it against one path. */
export function globMatches(glob: string, path: string): boolean {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end < 0) {
        re += '\\[';
        continue;
      }
      let body = glob.slice(i + 1, end);
      if (body.startsWith('!')) body = '^' + body.slice(1);
      re += `[${body.replace(/\\/g, '\\\\')}]`;
      i = end;
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  // Like the shell, a wildcard does not match a leading dot.
  if (/(^|\/)\.[^/]*$/.test(path) && !/(^|\/)\.[^/]*$/.test(glob)) return false;
  return new RegExp(`^${re}$`).test(path);
}
