/**
 * The one escaper for text that came from a host (command output, errors, file contents in a diff,
 * what an sshd said when it hung up) on its way to a terminal, a log line or a report. A managed
 * host may be hostile: an escape sequence must not drive the operator's terminal (clear the screen,
 * write the clipboard, move the cursor over a FAILED line), and a newline inside a field must not
 * forge a line of vipush's own ("[OK] h2: all good").
 *
 * Escaped: C0 controls (U+0000-U+001F, newline and tab included), DEL, C1 controls (U+0080-U+009F:
 * a terminal takes U+009B as CSI), and the Unicode line and paragraph separators. Each shows as a
 * visible escape (\n, \t, \x1b, \u0085): nothing is dropped, so what the host sent can still be read.
 */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

function visible(c: string): string {
  switch (c) {
    case '\n':
      return '\\n';
    case '\r':
      return '\\r';
    case '\t':
      return '\\t';
  }
  const code = c.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** One field on one line: every unsafe character escaped, newlines included. */
export function escapeField(text: string): string {
  return text.replace(UNSAFE, visible);
}

/** Several lines (a diff, a command's output): each line escaped, the newlines between them kept. */
export function escapeBlock(text: string): string {
  return text.split('\n').map(escapeField).join('\n');
}

/**
 * JSON for a report or a log line. JSON.stringify escapes C0 but writes DEL, C1 and U+2028/2029 as
 * they are; here they become \u escapes too. JSON.parse gives back exactly the same values.
 */
export function safeJson(value: unknown, space?: number): string {
  return JSON.stringify(value, null, space).replace(/[\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
