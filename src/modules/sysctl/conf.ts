/**
 * Pure, byte-preserving edits of sysctl.conf-format files (sysctl.conf(5)).
 *
 * - Comments, blank lines and unrelated keys stay byte for byte.
 * - `sysctl -p` applies lines in order, so the last occurrence of a duplicate
 *   key wins. Rather than guess which copy a human meant, every line that sets
 *   a managed key to another value is rewritten, so whichever one wins, it is ours.
 * - A key may be written with dots or slashes; both name the same sysctl.
 */

export interface SysctlLine {
  index: number; // line number, 0-based
  key: string; // normalised with dots
  value: string; // whitespace-normalised
  ignoreErrors: boolean; // a leading '-'
}

import { normaliseSysctlKey } from '../../net/values.js';

const LINE = /^(\s*)(-?)([^=#;\s][^=]*?)\s*=\s*(.*?)\s*$/;

export function normaliseValue(value: string): string {
  return value.trim().split(/\s+/).join(' ');
}

function splitLines(text: string): { lines: string[]; trailingNewline: boolean } {
  if (text === '') return { lines: [], trailingNewline: true };
  const trailingNewline = text.endsWith('\n');
  const lines = (trailingNewline ? text.slice(0, -1) : text).split('\n');
  return { lines, trailingNewline };
}

export function parseSysctlConf(text: string): SysctlLine[] {
  const out: SysctlLine[] = [];
  splitLines(text).lines.forEach((raw, index) => {
    const line = raw.replace(/\r$/, '');
    const t = line.trimStart();
    if (t === '' || t.startsWith('#') || t.startsWith(';')) return;
    const m = LINE.exec(line);
    if (!m) return;
    out.push({ index, key: normaliseSysctlKey(m[3]), value: normaliseValue(m[4]), ignoreErrors: m[2] === '-' });
  });
  return out;
}

/** The value the file leaves a key at when applied in order (last one wins), or undefined. */
export function effectiveValue(text: string, key: string): string | undefined {
  const k = normaliseSysctlKey(key);
  let v: string | undefined;
  for (const l of parseSysctlConf(text)) if (l.key === k) v = l.value;
  return v;
}

/**
 * Returns the file with every managed key set to its value. Returns the input
 * unchanged (same string) when nothing needs to change.
 */
export function setSysctlConf(text: string, set: Record<string, string>): string {
  const { lines, trailingNewline } = splitLines(text);
  const wanted = new Map(Object.entries(set).map(([k, v]) => [normaliseSysctlKey(k), normaliseValue(v)]));
  const seen = new Set<string>();
  let changed = false;
  for (const l of parseSysctlConf(text)) {
    const want = wanted.get(l.key);
    if (want === undefined) continue;
    seen.add(l.key);
    if (l.value === want) continue;
    const indent = /^\s*/.exec(lines[l.index])![0];
    lines[l.index] = `${indent}${l.ignoreErrors ? '-' : ''}${l.key} = ${want}`;
    changed = true;
  }
  const missing = [...wanted].filter(([k]) => !seen.has(k));
  if (missing.length === 0) return changed ? lines.join('\n') + (trailingNewline ? '\n' : '') : text;
  let body = lines.join('\n');
  if (lines.length > 0) body += '\n'; // the original may have lacked a final newline; ours starts on a fresh line
  body += missing.map(([k, v]) => `${k} = ${v}\n`).join('');
  return body;
}
