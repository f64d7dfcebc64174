import type { Location } from '../source/location.js';
import { MAX_INPUT_VALUES, tooManyValues } from '../source/yaml.js';
import type { InventoryBuilder } from './builder.js';
import { parseHostEntry } from './host-pattern.js';
import { pythonLiteral } from './python-literal.js';
import type { Vars } from './types.js';
import { checkHostName, show } from './validate.js';
import { splitWords } from './words.js';

const SECTION = /^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:[#;].*)?$/;
const CHILD_LINE = /^([^:\]\s#;]+)\s*(?:[#;].*)?$/;
type SectionKind = 'hosts' | 'vars' | 'children' | 'skip';

/**
 * A value from an INI inventory, typed as Ansible's INI plugin types it:
 * through Python's ast.literal_eval, keeping the text when that fails. So
 * `True`, `42`, `[1, 2]`, `{'k': 1}` and `"quoted"` are typed; `yes`, `true`,
 * `02:30` and `{{ x }}` stay strings (Ansible's test_ini_variables_stringify).
 */
export function parseIniValue(raw: string): unknown {
  const literal = pythonLiteral(raw);
  return literal === undefined ? raw : literal.value;
}

/**
 * Reads Ansible's INI inventory: `[group]` sections of host lines with inline
 * `key=value` vars, `[group:vars]` and `[group:children]`. Hosts before the
 * first section are ungrouped. As in Ansible, a group named in `:children` or
 * given `:vars` must have a section of its own somewhere in the file.
 */
export function readIniInventory(text: string, file: string, b: InventoryBuilder): void {
  const pendingVars = new Map<string, Location>();
  const pendingChildren = new Map<string, { parent: string; loc: Location }[]>();
  let group = 'ungrouped';
  let kind: SectionKind = 'hosts';

  const lines = text.split(/\r?\n/);
  const tooBig = lineWithTooManyValues(lines);
  if (tooBig !== undefined) {
    b.error({ file, line: tooBig + 1, col: 1 }, tooManyValues('the inventory'));
    return;
  }
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n];
    const indent = line.length - line.trimStart().length;
    const content = line.trim();
    const at = (col: number): Location => ({ file, line: n + 1, col });
    if (content === '' || content.startsWith('#') || content.startsWith(';')) continue;

    if (content.startsWith('[')) {
      const m = SECTION.exec(content);
      if (!m) {
        b.error(at(indent + 1), `invalid section header ${show(content)}: expected [group], [group:vars] or [group:children] with no spaces`);
        kind = 'skip';
        continue;
      }
      const [, name, type] = m;
      if (type !== undefined && type !== 'vars' && type !== 'children') {
        b.error(at(indent + 2 + name.length), `unknown section type ":${type}" in ${show(content)}: expected :vars or :children`);
        kind = 'skip';
        continue;
      }
      group = name;
      kind = (type as SectionKind | undefined) ?? 'hosts';
      if (kind === 'vars' && !b.hasGroup(name) && !pendingChildren.has(name)) pendingVars.set(name, at(indent + 2));
      b.group(name, at(indent + 2));
      if (kind !== 'vars') {
        pendingVars.delete(name);
        for (const edge of pendingChildren.get(name) ?? []) b.addChild(edge.parent, name, edge.loc);
        pendingChildren.delete(name);
      }
      continue;
    }

    if (kind === 'skip') continue;
    if (kind === 'children') {
      const m = CHILD_LINE.exec(content);
      if (!m) {
        b.error(at(indent + 1), `expected a group name in [${group}:children], got ${show(content)}`);
        continue;
      }
      const child = m[1];
      if (b.hasGroup(child)) b.addChild(group, child, at(indent + 1));
      else pendingChildren.set(child, [...(pendingChildren.get(child) ?? []), { parent: group, loc: at(indent + 1) }]);
      continue;
    }
    if (kind === 'vars') {
      const eq = line.indexOf('=');
      const key = eq < 0 ? '' : line.slice(0, eq).trim();
      if (eq < 0 || key === '') {
        b.error(at(indent + 1), `expected key=value in [${group}:vars], got ${show(content)}`);
        continue;
      }
      const rawValue = line.slice(eq + 1);
      const valueStart = eq + 1 + (rawValue.length - rawValue.trimStart().length);
      const value = parseIniValue(rawValue.trim());
      b.setGroupVar(group, key, { value, source: at(valueStart + 1) });
      continue;
    }
    readHostLine(line, group, at, b);
  }

  for (const [name, loc] of pendingVars) {
    b.error(loc, `section [${name}:vars] is for group ${show(name)}, which has no [${name}] or [${name}:children] section`);
  }
  for (const [child, edges] of pendingChildren) {
    for (const edge of edges) {
      b.error(edge.loc, `section [${edge.parent}:children] names group ${show(child)}, which has no [${child}] or [${child}:children] section`);
    }
  }
}

/**
 * The index of the line where the file passes MAX_INPUT_VALUES, counting a
 * name and each key=value as the same line would count in YAML; a quick pass
 * before anything is built, so an oversized file is refused at once.
 */
function lineWithTooManyValues(lines: string[]): number | undefined {
  let values = 0;
  for (let n = 0; n < lines.length; n++) {
    const content = lines[n].trim();
    if (content === '' || content.startsWith('#') || content.startsWith(';')) continue;
    values += 1 + 2 * (content.split('=').length - 1);
    if (values > MAX_INPUT_VALUES) return n;
  }
  return undefined;
}

function readHostLine(line: string, group: string, at: (col: number) => Location, b: InventoryBuilder): void {
  const split = splitWords(line, { comments: true });
  if ('error' in split) {
    b.error(at(split.col), split.error);
    return;
  }
  const [first, ...rest] = split.words;
  if (!first) return;
  if (first.equals >= 0) {
    const hint = group === 'ungrouped' ? '' : ` (variables for the whole group go under [${group}:vars])`;
    b.error(at(first.col), `expected a host name, got ${show(first.text)}${hint}`);
    return;
  }
  const entry = parseHostEntry(first.text);
  if ('error' in entry) {
    b.error(at(first.col), entry.error);
    return;
  }
  // A hostile name usually spills into further words (`web1;rm -rf /`); one message for the line is enough.
  const badName = entry.names.map(checkHostName).find((p) => p !== undefined);
  if (badName) {
    b.error(at(first.col), badName);
    return;
  }
  const vars: Vars = new Map();
  for (const word of rest) {
    if (word.equals <= 0) {
      b.error(at(word.col), `expected key=value after the host name, got ${show(word.text)}`);
      continue;
    }
    const key = word.text.slice(0, word.equals);
    vars.set(key, { value: parseIniValue(word.text.slice(word.equals + 1)), source: at(word.valueCol) });
  }
  if (entry.port !== undefined && !vars.has('ansible_port')) {
    vars.set('ansible_port', { value: entry.port, source: at(first.col) });
  }
  for (const host of entry.names) b.addHost(group, host, vars, at(first.col));
}
