/** A value's JSON type as a message names it (an integer is not just a number there). */
export function jsonType(data: unknown): string {
  if (data === null || data === undefined) return 'null';
  if (Array.isArray(data)) return 'array';
  if (typeof data === 'number') return Number.isInteger(data) ? 'integer' : 'number';
  return typeof data;
}

/** A user's value as an error message shows it: short, quoted, one line. */
export function showValue(data: unknown): string {
  switch (jsonType(data)) {
    case 'null':
      return 'nothing';
    case 'array':
      return 'a list';
    case 'object':
      return 'a map';
    case 'string': {
      const text = JSON.stringify(data);
      return text.length > 70 ? `${text.slice(0, 66)}…"` : text;
    }
    default:
      return String(data);
  }
}
