/** JSON pointers (RFC 6901): how ajv names a value, and how argSources are keyed. */

export function escapePointerSegment(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

export function pointerSegments(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

export function joinPointer(pointer: string, segment: string | number): string {
  return `${pointer}/${escapePointerSegment(String(segment))}`;
}

/** The pointer itself, then each ancestor up to the root "". */
export function* pointerAndAncestors(pointer: string): Generator<string> {
  let current = pointer;
  for (;;) {
    yield current;
    if (current === '') return;
    current = current.slice(0, current.lastIndexOf('/'));
  }
}
