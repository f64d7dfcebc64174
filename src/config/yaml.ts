import { readFile, stat } from 'node:fs/promises';
import { LineCounter, parseDocument, isMap, isSeq, isScalar, isPair, type Document, type Node } from 'yaml';
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

export { isMap, isSeq, isScalar, isPair };
