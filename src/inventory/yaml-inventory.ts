import { isAlias, isMap, isScalar, isSeq, type Pair } from 'yaml';
import { UserInputError } from '../errors.js';
import type { Location } from '../source/location.js';
import { expansionProblem, locate, resolveAlias, toPlain, type YamlFile } from '../source/yaml.js';
import { MAX_GROUP_DEPTH, type InventoryBuilder } from './builder.js';
import { parseHostEntry } from './host-pattern.js';
import type { Vars } from './types.js';
import { nearest, show } from './validate.js';

const GROUP_KEYS = ['hosts', 'children', 'vars'] as const;
const MAX_STRUCTURE_ALIASES = 100;

/**
 * Reads Ansible's YAML inventory: top-level keys are groups (usually just
 * `all`), each with optional `hosts`, `children` and `vars`. A group may be
 * written in several places; its definitions are merged.
 */
export function readYamlInventory(y: YamlFile, b: InventoryBuilder): void {
  new YamlInventoryReader(y, b).read();
}

class YamlInventoryReader {
  private aliasesResolved = 0;

  constructor(
    private readonly y: YamlFile,
    private readonly b: InventoryBuilder,
  ) {}

  read(): void {
    const root = this.deref(this.y.doc.contents);
    const start: Location = { file: this.y.file, line: 1, col: 1 };
    if (root === null || (isScalar(root) && root.value === null)) {
      this.b.error(start, 'inventory is empty: expected a mapping such as "all:" with hosts, children and vars');
      return;
    }
    if (!isMap(root)) {
      this.b.error(this.locate(root), 'inventory must be a mapping of group names (such as "all:"), not a list or a value');
      return;
    }
    for (const pair of root.items) {
      const name = this.keyName(pair);
      if (name === undefined) continue;
      if (name === 'plugin') {
        this.b.error(this.locate(pair.key), 'this is an inventory plugin configuration; vipush reads static YAML or INI inventories only');
        continue;
      }
      this.readGroup(name, pair, undefined, 1);
    }
  }

  private readGroup(name: string, pair: Pair, parent: string | undefined, depth: number): void {
    const keyLoc = this.locate(pair.key);
    if (depth > MAX_GROUP_DEPTH) {
      this.b.error(keyLoc, `groups are nested more than ${MAX_GROUP_DEPTH} levels deep`);
      return;
    }
    this.b.group(name, keyLoc);
    if (parent !== undefined) this.b.addChild(parent, name, keyLoc);
    const body = this.deref(pair.value);
    if (body === null || this.isEmpty(body)) return;
    if (!isMap(body)) {
      this.b.error(this.locate(body), `group ${show(name)} must be a mapping with hosts, children or vars`);
      return;
    }
    for (const section of body.items) {
      const key = this.keyName(section);
      if (key === undefined) continue;
      switch (key) {
        case 'hosts':
          this.readHosts(name, section);
          break;
        case 'children':
          this.readChildren(name, section, depth);
          break;
        case 'vars': {
          const vars = this.readVars(section.value, `"vars" of group ${show(name)}`);
          for (const [k, v] of vars) this.b.setGroupVar(name, k, v);
          break;
        }
        default:
          this.b.error(this.locate(section.key), unknownGroupKey(key, name));
      }
    }
  }

  private readHosts(group: string, section: Pair): void {
    for (const entry of this.sectionEntries(section, `"hosts" of group ${show(group)}`, 'web1:')) {
      const name = this.keyName(entry);
      if (name === undefined) continue;
      const loc = this.locate(entry.key);
      const parsed = parseHostEntry(name);
      if ('error' in parsed) {
        this.b.error(loc, parsed.error);
        continue;
      }
      const vars = this.readVars(entry.value, `host ${show(name)}`);
      if (parsed.port !== undefined && !vars.has('ansible_port')) {
        vars.set('ansible_port', { value: parsed.port, source: loc });
      }
      for (const host of parsed.names) this.b.addHost(group, host, vars, loc);
    }
  }

  private readChildren(group: string, section: Pair, depth: number): void {
    for (const entry of this.sectionEntries(section, `"children" of group ${show(group)}`, 'web:')) {
      const name = this.keyName(entry);
      if (name !== undefined) this.readGroup(name, entry, group, depth + 1);
    }
  }

  /**
   * The entries of a hosts or children section. Ansible also accepts a single
   * name written as a string (`hosts: web1`); a list is the usual mistake.
   */
  private sectionEntries(section: Pair, what: string, example: string): Pair[] {
    const value = this.deref(section.value);
    if (value === null || this.isEmpty(value)) return [];
    if (isMap(value)) return value.items as Pair[];
    if (isScalar(value) && typeof value.value === 'string') {
      return [{ key: value, value: null } as unknown as Pair];
    }
    const hint = isSeq(value) ? `; write each name as a key ("${example}"), not as a list item ("- ${example.slice(0, -1)}")` : '';
    this.b.error(this.locate(value), `${what} must be a mapping${hint}`);
    return [];
  }

  private readVars(node: unknown, what: string): Vars {
    const vars: Vars = new Map();
    const value = this.deref(node);
    if (value === null || this.isEmpty(value)) return vars;
    if (!isMap(value)) {
      this.b.error(this.locate(value), `${what} must be a mapping of variables, got ${describeNode(value)}`);
      return vars;
    }
    let plain: unknown;
    try {
      plain = toPlain(this.y, value);
    } catch (e) {
      if (!(e instanceof UserInputError)) throw e;
      for (const d of e.diagnostics) this.b.error(d.loc, d.message);
      return vars;
    }
    const record = plain as Record<string, unknown>;
    const pairs = new Map<string, Pair>();
    for (const p of value.items) if (isScalar(p.key) && !pairs.has(String(p.key.value))) pairs.set(String(p.key.value), p as Pair);
    for (const key of Object.keys(record)) {
      // Keys that came in through a `<<` merge have no pair of their own here.
      const own = pairs.get(key);
      const source = own ? this.valueLocation(own) : this.locate(value);
      vars.set(key, { value: record[key], source });
    }
    return vars;
  }

  private valueLocation(pair: Pair): Location {
    const v = pair.value as { range?: [number, number, number] } | null;
    if (v?.range && v.range[0] !== v.range[1]) return this.locate(v);
    return this.locate(pair.key);
  }

  private keyName(pair: Pair): string | undefined {
    const key = this.deref(pair.key);
    if (isScalar(key) && (typeof key.value === 'string' || typeof key.value === 'number')) return String(key.value);
    this.b.error(this.locate(pair.key ?? pair.value), 'expected a name here (a plain string key)');
    return undefined;
  }

  private deref(node: unknown): unknown {
    if (!isAlias(node)) return node ?? null;
    if (++this.aliasesResolved > MAX_STRUCTURE_ALIASES) {
      this.b.error(this.locate(node), `too many aliases (at most ${MAX_STRUCTURE_ALIASES} are expanded in an inventory)`);
      return null;
    }
    // what the alias stands for is read again in full, so it counts as expanded
    const problem = expansionProblem(this.y, node);
    if (problem) {
      this.b.error(this.locate(node), problem);
      return null;
    }
    return resolveAlias(this.y, node) ?? null;
  }

  private isEmpty(node: unknown): boolean {
    return isScalar(node) && node.value === null;
  }

  private locate(node: unknown): Location {
    return locate(this.y, node);
  }
}

function describeNode(node: unknown): string {
  if (isSeq(node)) return 'a list';
  if (isScalar(node)) return show(node.value);
  return 'something else';
}

function unknownGroupKey(key: string, group: string): string {
  const suggestion = nearest(key, GROUP_KEYS);
  if (suggestion) return `unknown key ${show(key)} in group ${show(group)}; did you mean \`${suggestion}\`?`;
  if (key.startsWith('ansible_')) {
    return `unknown key ${show(key)} in group ${show(group)}; variables go under \`vars\` (allowed keys: hosts, children, vars)`;
  }
  return `unknown key ${show(key)} in group ${show(group)}; allowed keys: hosts, children, vars`;
}
