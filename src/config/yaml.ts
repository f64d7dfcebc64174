import { readFile, stat } from 'node:fs/promises';
import { LineCounter, parseDocument, isAlias, isMap, isSeq, isScalar, isPair, type Document, type Node } from 'yaml';
import { UserInputError, type Diagnostic } from '../errors.js';
import type { Location } from './location.js';

/**
 * YAML is read as YAML 1.1, the version Ansible (PyYAML) reads, so that
 * `yes`/`no`/`on`/`off` are booleans there and here. Aliases are capped so an
 * anchor bomb ("billion laughs") is refused instead of expanded.
 */
export const YAML_VERSION = '1.1';
export const MAX_YAML_BYTES = 8 * 1024 * 1024;
const MAX_ALIAS_COUNT = 100;

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

export function parseYamlText(text: string, file: string): YamlFile {
  const lineCounter = new LineCounter();
  let doc: Document.Parsed;
  try {
    doc = parseDocument(text, { version: YAML_VERSION, lineCounter, prettyErrors: false, uniqueKeys: true, strict: true });
  } catch (e) {
    throw new UserInputError([{ loc: { file, line: 1, col: 1 }, message: `cannot parse YAML: ${(e as Error).message}` }]);
  }
  const y: YamlFile = { file, doc, lineCounter };
  if (doc.errors.length > 0) {
    const diags: Diagnostic[] = doc.errors.map((err) => {
      const pos = lineCounter.linePos(err.pos[0]);
      const msg = err.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
      return { loc: { file, line: pos.line, col: pos.col }, message: `YAML syntax error: ${msg}` };
    });
    throw new UserInputError(diags);
  }
  return y;
}

export async function readYamlFile(path: string): Promise<YamlFile> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch {
    throw new UserInputError(`${path}: file not found`);
  }
  if (size > MAX_YAML_BYTES) {
    throw new UserInputError([{ loc: { file: path, line: 1, col: 1 }, message: `file is ${size} bytes; vipush reads YAML files of at most ${MAX_YAML_BYTES} bytes` }]);
  }
  const text = await readFile(path, 'utf8');
  return parseYamlText(text, path);
}

/**
 * Converts a node to plain JS, refusing alias expansion beyond MAX_ALIAS_COUNT
 * and reporting it at the node.
 */
export function toPlain(y: YamlFile, node: unknown): unknown {
  try {
    if (node === null || node === undefined) return null;
    return (node as Node).toJS(y.doc, { maxAliasCount: MAX_ALIAS_COUNT });
  } catch (e) {
    throw new UserInputError([{ loc: locate(y, node), message: `${(e as Error).message} (anchors and aliases are limited to ${MAX_ALIAS_COUNT} expansions)` }]);
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
  const resolve = (node: unknown): unknown => (isAlias(node) ? node.resolve(y.doc) ?? node : node);
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
    const node = isAlias(current) ? current.resolve(y.doc) : current;
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
  const escape = (segment: string) => segment.replace(/~/g, '~0').replace(/\//g, '~1');
  const walk = (current: unknown, pointer: string, at: Location | undefined): void => {
    const hasRange = (current as { range?: unknown } | null | undefined)?.range !== undefined;
    out.set(pointer, hasRange || !at ? locate(y, current) : at);
    const resolved = isAlias(current) ? current.resolve(y.doc) : current;
    if (isMap(resolved)) {
      for (const pair of resolved.items) walk(pair.value, `${pointer}/${escape(keyText(pair.key))}`, locate(y, pair.key));
    } else if (isSeq(resolved)) {
      resolved.items.forEach((item, i) => walk(item, `${pointer}/${i}`, undefined));
    }
  };
  walk(node, '', fallback);
  return out;
}

export { isAlias, isMap, isSeq, isScalar, isPair };
