import ipaddr from 'ipaddr.js';
import type { Change } from '../../changes/index.js';
import type { HostFacts } from '../../facts/types.js';
import { interfaceNameProblem, parseInterfaceAddress } from '../../net/values.js';

/**
 * Which VIPs vipush manages on a host, as exclusive address tasks record them: one file under
 * vipush's state directory, one "DEV ADDRESS/PREFIX" a line. With the VIPs that vipush's own
 * persistence files carry (their marker lines), it is everything an exclusive task may retire:
 * an address in neither (127.0.0.1, the host's own, one added by hand) is never touched.
 */
export const VIP_RECORD_DIR = '/var/lib/vipush';
export const VIP_RECORD = `${VIP_RECORD_DIR}/managed-vips`;
const RECORD_HEADER = '# vipush: the VIPs exclusive address tasks manage on this host, one "dev address/prefix" a line';

export interface RecordedVip {
  dev: string;
  /** normalised CIDR */
  cidr: string;
  family: 4 | 6;
}

/**
 * The record as the host holds it. The host is not trusted: a line that is not exactly a device
 * name and a valid address is ignored (never retired on its say-so), and at most 4096 lines are read.
 */
export function readVipRecord(state: HostFacts): RecordedVip[] {
  const file = state.files.get(VIP_RECORD);
  if (!file) return [];
  const out: RecordedVip[] = [];
  for (const line of file.content.toString('utf8').split('\n').slice(0, 4096)) {
    const m = /^([A-Za-z0-9_.-]{1,15}) ([0-9A-Fa-f.:]{1,45}\/[0-9]{1,3})$/.exec(line);
    if (!m || interfaceNameProblem(m[1], 'device name')) continue;
    const parsed = parseInterfaceAddress(m[2]);
    if ('error' in parsed) continue;
    out.push({ dev: m[1], cidr: parsed.cidr, family: parsed.family });
  }
  return out;
}

export function sameAddress(a: string, b: string): boolean {
  try {
    return ipaddr.parse(a.split('/')[0]).toNormalizedString() === ipaddr.parse(b.split('/')[0]).toNormalizedString();
  } catch {
    return false;
  }
}

/** The record's file, sorted, one entry per address. */
export function renderVipRecord(vips: readonly RecordedVip[]): string {
  const lines = [...new Set(vips.map((v) => `${v.dev} ${v.cidr}`))].sort();
  return `${[RECORD_HEADER, ...lines].join('\n')}\n`;
}

/** The change that makes the record hold `vips`, with its directory made first; none when it holds them already. */
export function recordChanges(state: HostFacts, vips: readonly RecordedVip[]): Change[] {
  const before = state.files.get(VIP_RECORD) ?? null;
  const content = renderVipRecord(vips);
  if (before && before.content.toString('utf8') === content) return [];
  if (!before && vips.length === 0) return [];
  const out: Change[] = [];
  if (!before && state.paths.get(VIP_RECORD_DIR) !== true) {
    out.push({ kind: 'exec', argv: ['mkdir', '-p', '-m', '700', VIP_RECORD_DIR], why: "make vipush's state directory" });
  }
  out.push({ kind: 'file', path: VIP_RECORD, before, after: { content: Buffer.from(content, 'utf8'), mode: 0o600 } });
  return out;
}
