import { joinPointer } from '../../source/pointer.js';
import { DEFAULT_SYSCTL_FILE, firstBadCharacter, normaliseSysctlKey, SYSCTL_VALUE_CHARACTER, sysctlFileProblem } from '../../net/values.js';
import { showValue } from '../../source/show-value.js';
import type { ArgProblems } from '../types.js';

export { DEFAULT_SYSCTL_FILE };

export interface SysctlArgs {
  /** /etc/sysctl.conf (default) or a file under /etc/sysctl.d/ */
  file: string;
  /** key -> value as the kernel prints it (numbers become strings) */
  set: Record<string, string>;
  /** apply live values now (default true) */
  apply: boolean;
  /** the host may lower arp_ignore/arp_announce while an address on lo would then answer ARP (default false) */
  allowArp?: boolean;
}

const ARP_LIMITS: Record<string, { allowed: readonly number[]; text: string }> = {
  arp_ignore: { allowed: [0, 1, 2, 3, 8], text: '0, 1, 2, 3 or 8' },
  arp_announce: { allowed: [0, 1, 2], text: '0, 1 or 2' },
};

export function resolveSysctl(value: unknown, problems: ArgProblems): SysctlArgs {
  const args = value as Record<string, unknown>;
  const file = (args.file as string | undefined) ?? DEFAULT_SYSCTL_FILE;
  const fileProblem = sysctlFileProblem(file);
  if (fileProblem) problems.error('/file', fileProblem);
  const set: Record<string, string> = {};
  const firstSpelling = new Map<string, string>();
  for (const [key, raw] of Object.entries(args.set as Record<string, string | number>)) {
    const pointer = joinPointer('/set', key);
    const name = normaliseSysctlKey(key);
    const earlier = firstSpelling.get(name);
    if (earlier !== undefined) {
      problems.error(pointer, `sysctl key \`${key}\` names the same setting as \`${earlier}\`; keep one`);
      continue;
    }
    firstSpelling.set(name, key);
    if (typeof raw === 'number' && !Number.isFinite(raw)) {
      problems.error(pointer, `\`${key}\` must be a finite number, got ${String(raw)}`);
      continue;
    }
    const text = String(raw).trim();
    const badCharacter = firstBadCharacter(text, SYSCTL_VALUE_CHARACTER);
    if (badCharacter) {
      problems.error(
        pointer,
        `value of ${name} contains ${badCharacter}; a sysctl value may contain only letters, digits, spaces and "_.,:/@%+=-", got ${showValue(raw)}`,
      );
      continue;
    }
    const arp = /^net\.ipv4\.conf\.[^.]+\.(arp_ignore|arp_announce)$/.exec(name);
    if (arp) {
      const limits = ARP_LIMITS[arp[1]];
      if (!/^[0-9]+$/.test(text) || !limits.allowed.includes(Number(text))) {
        problems.error(pointer, `${name} must be ${limits.text}, got ${showValue(raw)}`);
        continue;
      }
    }
    set[name] = text;
  }
  return { file, set, apply: (args.apply as boolean | undefined) ?? true, ...(args.allow_arp === true ? { allowArp: true } : {}) };
}
