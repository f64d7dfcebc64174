import { open, stat } from 'node:fs/promises';
import { Lexer, LineCounter, parseDocument, visit, isAlias, isMap, isSeq, isScalar, isPair, type Alias, type Document, type Node, type Tags } from 'yaml';
import { oneLineEach, UserInputError, type Diagnostic } from './diagnostics.js';
import type { Location } from './location.js';
import { joinPointer } from './pointer.js';

/**
 * YAML is read as YAML 1.1, the version Ansible (PyYAML) reads, so that
 * `yes`/`no`/`on`/`off` are booleans there and here (and `y`/`n` strings in
 * both: see pyyamlTags). Aliases are capped so an
 * anchor bomb ("billion laughs") is refused instead of expanded.
 */
export const YAML_VERSION = '1.1';

/**
 * PyYAML's YAML 1.1 scalars, where the yaml package reads more than it does: PyYAML leaves y, Y, n and N as
 * strings, and reads a float only with a dot and an exponent only with a sign, so `1e3` is a string in
 * Ansible. The rest (yes/no/on/off, 017 octal, 0x1F, 1_000, 12:30 base 60, .inf) is the same in both.
 */
export function pyyamlTags(tags: Tags): Tags {
  return tags.map((t) => {
    if (typeof t !== 'object' || !('test' in t) || !t.test) return t;
    if (t.tag === 'tag:yaml.org,2002:bool') {
      return { ...t, test: t.test.test('yes') ? /^(?:[Yy]es|YES|[Tt]rue|TRUE|[Oo]n|ON)$/ : /^(?:[Nn]o|NO|[Ff]alse|FALSE|[Oo]ff|OFF)$/ };
    }
    // PyYAML: no leading zero before a base-60 int (02:30 stays text) or a decimal one (08 stays text)
    if (t.tag === 'tag:yaml.org,2002:int' && t.format === 'TIME') return { ...t, test: /^[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+$/ };
    if (t.tag === 'tag:yaml.org,2002:int' && t.format === undefined) return { ...t, test: /^[-+]?(?:0|[1-9][0-9_]*)$/ };
    if (t.tag === 'tag:yaml.org,2002:timestamp') return { ...t, test: PYYAML_TIMESTAMP, resolve: (text: string) => pythonIsoformat(text) };
    if (t.tag === 'tag:yaml.org,2002:float' && t.format === 'EXP') return { ...t, test: /^(?:[-+]?[0-9][0-9_]*\.[0-9_]*|\.[0-9_]+)[eE][-+][0-9]+$/ };
    if (t.tag === 'tag:yaml.org,2002:float' && t.test.test('1.5')) return { ...t, test: /^(?:[-+]?[0-9][0-9_]*\.[0-9_]*|\.[0-9_]+)$/ };
    return t;
  });
}
/** PyYAML's timestamp: a date (two-digit month and day), or a date and time with an optional zone. */
const PYYAML_TIMESTAMP =
  /^(?:[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?)$/;

/**
 * A YAML timestamp as Ansible prints it: PyYAML makes a Python date or
 * datetime, and Ansible's JSON shows its isoformat(), so `2021-06-15` stays
 * "2021-06-15" and `2001-12-14t21:59:43.10-05:00` is "2001-12-14T21:59:43.100000-05:00".
 */
export function pythonIsoformat(text: string): string {
  const m =
    /^([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})(?:(?:[Tt]|[ \t]+)([0-9]{1,2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]*))?(?:[ \t]*(Z|([-+])([0-9]{1,2})(?::([0-9]{2}))?))?)?$/.exec(
      text,
    );
  if (!m) return text;
  const two = (v: string) => v.padStart(2, '0');
  const date = `${m[1]}-${two(m[2])}-${two(m[3])}`;
  if (m[4] === undefined) return date;
  const fraction = (m[7] ?? '').slice(0, 6).padEnd(6, '0');
  let out = `${date}T${two(m[4])}:${m[5]}:${m[6]}${/[1-9]/.test(fraction) ? `.${fraction}` : ''}`;
  if (m[8] === 'Z') out += '+00:00';
  else if (m[9] !== undefined) {
    const minutes = Number(m[10]) * 60 + Number(m[11] ?? 0);
    out += minutes === 0 ? '+00:00' : `${m[9]}${two(String(Math.floor(minutes / 60)))}:${two(String(minutes % 60))}`;
  }
  return out;
}

export const MAX_YAML_BYTES = 8 * 1024 * 1024;
/**
 * The YAML parser recurses once per level and slows down quadratically with
 * depth; past a few hundred levels it overflows the stack. Real playbooks and
 * inventories stay far below this.
 */
export const MAX_YAML_DEPTH = 100;
/**
 * Values per input file (YAML nodes; host names and key=value words of an INI
 * inventory). Bounds parse time and memory; about 60,000 hosts with one
 * variable each.
 */
export const MAX_INPUT_VALUES = 200_000;
const MAX_ALIAS_COUNT = 100;
/** More syntax errors than this are summed up in one line: a binary file would give thousands. */
const MAX_SYNTAX_ERRORS = 20;

export interface YamlFile {
  file: string;
  doc: Document.Parsed;
  lineCounter: LineCounter;
}

export function locate(y: YamlFile, node: unknown): Location {
  const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
  const offset = range ? range[0] : 0;
  const pos = y.lineCounter.linePos(offset);
  return { file: y.file, line: pos.line, col: pos.col };
}

/** 1-based line and column of `offset` in `text`, without building a line table. */
function positionOf(text: string, offset: number): { line: number; col: number } {
  let line = 1;
  let start = 0;
  for (let i = text.indexOf('\n'); i >= 0 && i < offset; i = text.indexOf('\n', i + 1)) {
    line++;
    start = i + 1;
  }
  return { line, col: offset - start + 1 };
}

/** Lexer tokens that mark a token kind and are not part of the source text. */
const LEXER_MARKERS = new Set(['\x02', '\x18', '\x1f']);

/**
 * Why `text` is too deeply nested or has too many nodes to hand to the YAML
 * parser, and where that shows; undefined when it is fine. One pass over the
 * lexer's tokens, which is linear, stops at the first excess.
 *
 * Depth is counted as the parser would see it, closely enough: the open
 * indentation levels of the line, plus each `-` or `?` that starts a nested
 * collection on the same line, plus the open `[` and `{`.
 */
export function yamlShapeProblem(text: string): { offset: number; message: string } | undefined {
  const indents: number[] = [];
  let flow = 0;
  let nodes = 0;
  let offset = 0;
  let atLineStart = true;
  let indent = 0;
  let lineDepth = 0;
  let lineHasContent = false;
  for (const token of new Lexer().lex(text)) {
    const at = offset;
    if (LEXER_MARKERS.has(token)) {
      if (token === '\x1f') nodes++;
      continue;
    }
    offset += token.length;
    if (token === '') continue;
    const blank = /^[ \t]+$/.test(token);
    if (atLineStart) {
      atLineStart = false;
      lineHasContent = false;
      indent = blank ? token.length : 0;
      if (blank) continue;
    }
    if (token.endsWith('\n')) {
      atLineStart = true;
      continue;
    }
    if (blank || token.startsWith('#')) continue;
    if (!lineHasContent) {
      lineHasContent = true;
      if (flow === 0) {
        while (indents.length > 0 && indents[indents.length - 1] >= indent) indents.pop();
        indents.push(indent);
        lineDepth = indents.length;
      }
    }
    const first = token[0];
    if (first === '[' || first === '{') {
      flow++;
      nodes++;
    } else if (first === ']' || first === '}') {
      flow = Math.max(0, flow - 1);
    } else if ((token === '-' || token === '?') && flow === 0) {
      lineDepth++;
      nodes++;
    } else if (first === '"' || first === "'" || first === '*') {
      nodes++;
    }
    if (lineDepth + flow > MAX_YAML_DEPTH) {
      return { offset: at, message: `the YAML is nested more than ${MAX_YAML_DEPTH} levels deep here; vipush reads at most ${MAX_YAML_DEPTH}` };
    }
    if (nodes > MAX_INPUT_VALUES) {
      return { offset: at, message: tooManyValues('the YAML') };
    }
  }
  return undefined;
}

export function tooManyValues(what: string): string {
  return `${what} has more than ${MAX_INPUT_VALUES} values by here; vipush reads at most ${MAX_INPUT_VALUES} per file`;
}

/**
 * Keys that are lists or mappings (`{{ x }}: 1` unquoted is one), and
 * duplicate keys, found in one pass (the parser's own duplicate check
 * compares every key with every other, which takes minutes on a large map).
 * Keys compare as the parser compares them: scalars by value and type.
 */
function keyProblems(y: YamlFile): Diagnostic[] {
  const found: Diagnostic[] = [];
  visit(y.doc, {
    Map(_, map) {
      const seen = new Map<string, unknown>();
      for (const pair of map.items) {
        const key = isAlias(pair.key) ? resolveAlias(y, pair.key) : pair.key;
        if (isMap(key) || isSeq(key)) {
          found.push({ loc: locate(y, pair.key), message: 'a key must be a plain value, not a list or a mapping (quote it if it is text)' });
          continue;
        }
        if (!isScalar(pair.key)) continue;
        const value = pair.key.value;
        if (value !== null && typeof value === 'object') continue;
        const id = `${typeof value}\0${String(value)}`;
        const first = seen.get(id);
        if (first === undefined) {
          seen.set(id, pair.key);
          continue;
        }
        const where = locate(y, first);
        found.push({
          loc: locate(y, pair.key),
          message: `duplicate key ${JSON.stringify(String(value))} (first written at line ${where.line}); keys in a mapping must be unique`,
        });
      }
    },
  });
  return found;
}

export function parseYamlText(text: string, file: string): YamlFile {
  const shape = yamlShapeProblem(text);
  if (shape) throw new UserInputError([{ loc: { file, ...positionOf(text, shape.offset) }, message: shape.message }]);
  const lineCounter = new LineCounter();
  let doc: Document.Parsed;
  try {
    // logLevel 'error': the parser must not print warnings of its own on stderr
    doc = parseDocument(text, {
      version: YAML_VERSION,
      customTags: pyyamlTags,
      lineCounter,
      prettyErrors: false,
      uniqueKeys: false,
      strict: true,
      logLevel: 'error',
    });
  } catch (e) {
    throw new UserInputError(oneLineEach([{ loc: { file, line: 1, col: 1 }, message: `cannot parse YAML: ${(e as Error).message}` }]));
  }
  const y: YamlFile = { file, doc, lineCounter };
  if (doc.errors.length > 0) {
    const diags: Diagnostic[] = doc.errors.slice(0, MAX_SYNTAX_ERRORS).map((err) => {
      const pos = lineCounter.linePos(err.pos[0]);
      const msg = err.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
      return { loc: { file, line: pos.line, col: pos.col }, message: `YAML syntax error: ${msg}` };
    });
    const more = doc.errors.length - MAX_SYNTAX_ERRORS;
    if (more > 0) diags.push({ loc: diags[diags.length - 1].loc, message: `${more} more YAML syntax errors after this one are not shown` });
    // the parser quotes the offending source, which may hold any character
    throw new UserInputError(oneLineEach(diags));
  }
  const badKeys = keyProblems(y);
  if (badKeys.length > 0) throw new UserInputError(oneLineEach(badKeys.slice(0, MAX_SYNTAX_ERRORS)));
  return y;
}

/**
 * The text of an input file, refusing what is not a regular file (a
 * directory, a FIFO, /dev/zero) and anything over MAX_YAML_BYTES, reading
 * no more than that even if the file grows meanwhile.
 */
export async function readInputFile(path: string, kind: string): Promise<string> {
  const tooBig = (size: number | string) =>
    new UserInputError([{ loc: { file: path, line: 1, col: 1 }, message: `file is ${size} bytes; vipush reads ${kind} of at most ${MAX_YAML_BYTES} bytes` }]);
  let size: number;
  try {
    const st = await stat(path);
    if (!st.isFile()) throw new UserInputError(`${path}: not a regular file`);
    size = st.size;
  } catch (e) {
    if (e instanceof UserInputError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserInputError(code === 'ENOENT' || code === 'ENOTDIR' ? `${path}: file not found` : `${path}: cannot read it (${code ?? (e as Error).message})`);
  }
  if (size > MAX_YAML_BYTES) throw tooBig(size);
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, 'r');
  } catch (e) {
    throw new UserInputError(`${path}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    let buffer = Buffer.alloc(size + 1);
    let length = 0;
    for (;;) {
      if (length === buffer.length) {
        if (length > MAX_YAML_BYTES) throw tooBig(`more than ${MAX_YAML_BYTES}`);
        const bigger = Buffer.alloc(Math.min(buffer.length * 2, MAX_YAML_BYTES + 1));
        buffer.copy(bigger);
        buffer = bigger;
      }
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > MAX_YAML_BYTES) throw tooBig(`more than ${MAX_YAML_BYTES}`);
    return buffer.toString('utf8', 0, length);
  } finally {
    await handle.close();
  }
}

export async function readYamlFile(path: string): Promise<YamlFile> {
  return parseYamlText(await readInputFile(path, 'YAML files'), path);
}

const aliasTargets = new WeakMap<YamlFile, Map<Alias, Node | undefined>>();

/**
 * The node an alias refers to: the last node before it with that anchor, as
 * the parser decides. The parser's own Alias.resolve() walks the whole
 * document on every call; this walks it once per file.
 */
export function resolveAlias(y: YamlFile, alias: Alias): Node | undefined {
  let targets = aliasTargets.get(y);
  if (!targets) {
    const built = new Map<Alias, Node | undefined>();
    const anchors = new Map<string, Node>();
    visit(y.doc, {
      Node(_, node) {
        if (isAlias(node)) built.set(node, anchors.get(node.source));
        else if (node.anchor) anchors.set(node.anchor, node);
      },
    });
    aliasTargets.set(y, built);
    targets = built;
  }
  return targets.get(alias);
}

/**
 * Values a file may expand to through aliases, over all the conversions made
 * from it. The parser's own limit stops exponential bombs; this stops the
 * linear kind, a large anchor referred to from thousands of places, each of
 * which the inventory reader would otherwise copy.
 */
export const MAX_EXPANDED_VALUES = 1_000_000;

const expandedSoFar = new WeakMap<YamlFile, number>();
const expandedSizes = new WeakMap<object, number>();

/** How many values `node` stands for once every alias in it is replaced by what it refers to. */
function expandedSize(y: YamlFile, node: unknown, open: Set<unknown>): number {
  if (node === null || typeof node !== 'object') return 1;
  const known = expandedSizes.get(node);
  if (known !== undefined) return known;
  // an alias inside its own anchor: toJS shares the object instead of copying it
  if (open.has(node)) return 1;
  open.add(node);
  let size = 1;
  if (isAlias(node)) {
    size = expandedSize(y, resolveAlias(y, node), open);
  } else if (isMap(node) || isSeq(node)) {
    for (const item of node.items) size += isPair(item) ? expandedSize(y, item.key, open) + expandedSize(y, item.value, open) : expandedSize(y, item, open);
  }
  open.delete(node);
  expandedSizes.set(node, size);
  return size;
}

/**
 * Counts `node`, aliases expanded, against the file's MAX_EXPANDED_VALUES;
 * says why it cannot be expanded, or undefined if it can.
 */
export function expansionProblem(y: YamlFile, node: unknown): string | undefined {
  let size: number;
  try {
    size = expandedSize(y, node, new Set());
  } catch (e) {
    if (e instanceof RangeError) return 'aliases refer to aliases too deeply to expand';
    throw e;
  }
  const total = (expandedSoFar.get(y) ?? 0) + size;
  expandedSoFar.set(y, total);
  if (total > MAX_EXPANDED_VALUES) return `anchors and aliases expand this file to more than ${MAX_EXPANDED_VALUES} values; vipush expands at most that many`;
  return undefined;
}

/**
 * Converts a node to plain JS, refusing alias expansion beyond MAX_ALIAS_COUNT
 * or MAX_EXPANDED_VALUES and reporting it at the node.
 */
export function toPlain(y: YamlFile, node: unknown): unknown {
  if (node === null || node === undefined) return null;
  const problem = expansionProblem(y, node);
  if (problem) throw new UserInputError([{ loc: locate(y, node), message: problem }]);
  try {
    return (node as Node).toJS(y.doc, { maxAliasCount: MAX_ALIAS_COUNT });
  } catch (e) {
    throw new UserInputError(
      oneLineEach([{ loc: locate(y, node), message: `${(e as Error).message} (anchors and aliases are limited to ${MAX_ALIAS_COUNT} expansions)` }]),
    );
  }
}

/** The key of a map entry as ajv and toJS see it (a string). */
export function keyText(key: unknown): string {
  return String(isScalar(key) ? key.value : key);
}

/**
 * Where the value at `segments` (map keys and sequence indexes, as in a JSON
 * pointer) below `root` is written; with `key`, where that key of the map found
 * there is written. Stops at the deepest node it can reach, so a path into a
 * merged or alias-expanded value still points somewhere near.
 */
export function locatePath(y: YamlFile, root: unknown, segments: readonly string[], key?: string): Location {
  let current: unknown = root;
  const resolve = (node: unknown): unknown => (isAlias(node) ? (resolveAlias(y, node) ?? node) : node);
  const entry = (map: unknown, name: string) => (isMap(map) ? map.items.find((pair) => keyText(pair.key) === name) : undefined);
  for (const segment of segments) {
    const node = resolve(current);
    if (isMap(node)) {
      const pair = entry(node, segment);
      if (!pair) break;
      current = pair.value ?? pair.key;
    } else if (isSeq(node) && /^\d+$/.test(segment) && Number(segment) < node.items.length) {
      current = node.items[Number(segment)];
    } else {
      break;
    }
  }
  if (key !== undefined) {
    const pair = entry(resolve(current), key);
    if (pair) return locate(y, pair.key);
  }
  return locate(y, current);
}

/** The node at `segments` below `root` (aliases followed), or undefined if there is none. */
export function nodeAtPath(y: YamlFile, root: unknown, segments: readonly string[]): unknown {
  let current: unknown = root;
  for (const segment of segments) {
    const node = isAlias(current) ? resolveAlias(y, current) : current;
    if (isMap(node)) {
      const pair = node.items.find((p) => keyText(p.key) === segment);
      if (!pair) return undefined;
      current = pair.value;
    } else if (isSeq(node) && /^\d+$/.test(segment)) {
      current = node.items[Number(segment)];
    } else {
      return undefined;
    }
    if (current === undefined) return undefined;
  }
  return current;
}

/**
 * Where every value inside `node` is written, by JSON pointer relative to
 * `node` ("" is `node` itself). An entry without a value (`label:`) is
 * placed at its key.
 */
export function valueLocations(y: YamlFile, node: unknown, fallback?: Location): Map<string, Location> {
  const out = new Map<string, Location>();
  const walk = (current: unknown, pointer: string, at: Location | undefined): void => {
    const hasRange = (current as { range?: unknown } | null | undefined)?.range !== undefined;
    out.set(pointer, hasRange || !at ? locate(y, current) : at);
    const resolved = isAlias(current) ? resolveAlias(y, current) : current;
    if (isMap(resolved)) {
      for (const pair of resolved.items) walk(pair.value, joinPointer(pointer, keyText(pair.key)), locate(y, pair.key));
    } else if (isSeq(resolved)) {
      for (const [i, item] of resolved.items.entries()) walk(item, joinPointer(pointer, i), undefined);
    }
  };
  walk(node, '', fallback);
  return out;
}

export { isAlias, isMap, isSeq, isScalar, isPair };
