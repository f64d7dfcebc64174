import { randomBytes } from 'node:crypto';

/**
 * The one marker format of vipush's host scripts: a line `@@vipush:NONCE:KIND ARG`, written by
 * vp_mark (sh/prelude.sh) with a newline before it. The nonce is new for every script or session,
 * so nothing a host's files or a step's output hold can pass for a marker. The newline before a
 * marker belongs to the marker: the bytes between two markers are exactly what was printed.
 */
export const MARK = '@@vipush:';

export function newNonce(): string {
  return randomBytes(8).toString('hex');
}

export interface MarkedSection {
  kind: string;
  /** the rest of the marker line after the kind and one blank */
  arg: string;
  body: Buffer;
}

/**
 * The sections of a marked output, in order. Bytes before the first marker are ignored (a login
 * banner, say). A marker line that was cut short (no newline after it) ends the parse.
 */
export function parseMarked(out: Buffer, nonce: string): MarkedSection[] {
  const sep = Buffer.from(`\n${MARK}${nonce}:`);
  const sections: MarkedSection[] = [];
  let at = out.indexOf(sep);
  while (at >= 0) {
    const headStart = at + sep.length;
    const headEnd = out.indexOf(0x0a, headStart);
    if (headEnd < 0) break;
    const head = out.subarray(headStart, headEnd).toString('utf8');
    const next = out.indexOf(sep, headEnd);
    const body = out.subarray(headEnd + 1, next < 0 ? out.length : next);
    const sp = head.indexOf(' ');
    sections.push({ kind: sp < 0 ? head : head.slice(0, sp), arg: sp < 0 ? '' : head.slice(sp + 1), body });
    at = next;
  }
  return sections;
}

/** The line a shell session prints when it has run everything sent so far. */
export function readyLine(nonce: string): string {
  return `${MARK}${nonce}:ready\n`;
}
