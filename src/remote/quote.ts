/**
 * The one function that quotes for a POSIX shell. Every value that reaches a
 * remote shell goes through here (or travels as stdin / base64 data).
 * Single quotes pass everything literally except the single quote itself,
 * which is closed, escaped and reopened.
 */
export function shQuote(value: string): string {
  if (value.includes('\0')) throw new Error('cannot quote a value containing a NUL byte');
  if (value !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(value)) return value;
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

export function shJoin(argv: readonly string[]): string {
  return argv.map(shQuote).join(' ');
}
