/** A place in a user's file. Every config node keeps one so later errors can point at it. */
export interface Location {
  file: string;
  line: number; // 1-based
  col: number; // 1-based
}

export function formatLocation(loc: Location | undefined): string {
  if (!loc) return '';
  return `${loc.file}:${loc.line}:${loc.col}`;
}
