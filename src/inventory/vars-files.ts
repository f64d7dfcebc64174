import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isMap, isScalar } from 'yaml';
import { UserInputError, type Diagnostic } from '../errors.js';
import { oneLineEach } from '../source/diagnostics.js';
import { joinPointer } from '../source/pointer.js';
import { keyText, locate, parseYamlText, readInputFile, toPlain, valueLocations } from '../source/yaml.js';
import type { Inventory, Vars, VarsFiles } from './types.js';
import { checkKnownVariable, checkVariableName } from './validate.js';

/** Ansible's YAML_FILENAME_EXTENSIONS, after the bare name, in the order find_vars_files tries them. */
const VARS_EXTENSIONS = ['', '.yml', '.yaml', '.json'];
/** A group_vars/NAME/ directory is read this deep and no deeper. */
const MAX_VARS_DIR_DEPTH = 16;

/**
 * Reads `group_vars/` and `host_vars/` in `dir` as Ansible's host_group_vars
 * plugin does: for each group and host of the inventory, the first of NAME,
 * NAME.yml, NAME.yaml, NAME.json that exists; a directory of that name is read
 * whole, its files (bare or with those extensions) in name order, skipping
 * hidden files and backups (`~`). Later files win, key by key. Files for
 * groups or hosts the inventory does not have are not read, as in Ansible.
 */
export async function readVarsFiles(dir: string, inv: Pick<Inventory, 'groups' | 'hosts'>, cache = new Map<string, Promise<Vars>>()): Promise<VarsFiles> {
  const problems: Diagnostic[] = [];
  const collect = async (subdir: 'group_vars' | 'host_vars', names: Iterable<string>): Promise<Map<string, Vars>> => {
    const out = new Map<string, Vars>();
    const base = join(dir, subdir);
    const entries = await listDir(base);
    if (!entries) return out;
    for (const name of names) {
      // Ansible skips names that look like absolute paths (chroot hosts).
      if (name.startsWith('/')) continue;
      const files = await findVarsFiles(base, name, entries);
      if (files.length === 0) continue;
      const merged: Vars = new Map();
      for (const file of files) {
        let loaded = cache.get(file);
        if (!loaded) {
          loaded = readVarsFile(file);
          cache.set(file, loaded);
        }
        try {
          for (const [k, v] of await loaded) merged.set(k, v);
        } catch (e) {
          if (!(e instanceof UserInputError)) throw e;
          problems.push(...e.diagnostics);
        }
      }
      out.set(name, merged);
    }
    return out;
  };
  const groups = await collect('group_vars', inv.groups.keys());
  const hosts = await collect('host_vars', inv.hosts.keys());
  if (problems.length > 0) throw new UserInputError(oneLineEach(dedupe(problems)));
  return { dir, groups, hosts };
}

function dedupe(problems: Diagnostic[]): Diagnostic[] {
  const seen = new Set<string>();
  return problems.filter((d) => {
    const key = `${d.loc?.file}:${d.loc?.line}:${d.loc?.col}:${d.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

async function listDir(path: string): Promise<Set<string> | undefined> {
  try {
    return new Set(await readdir(path));
  } catch {
    // Absent, or not a directory: Ansible skips it (warning about the latter).
    return undefined;
  }
}

async function findVarsFiles(base: string, name: string, entries: Set<string>): Promise<string[]> {
  for (const ext of VARS_EXTENSIONS) {
    if (!entries.has(name + ext)) continue;
    const path = join(base, name + ext);
    const st = await stat(path).catch(() => undefined);
    if (!st) continue;
    return st.isDirectory() ? dirVarsFiles(path, 0) : [path];
  }
  return [];
}

async function dirVarsFiles(path: string, depth: number): Promise<string[]> {
  if (depth > MAX_VARS_DIR_DEPTH) {
    throw new UserInputError([{ loc: { file: path, line: 1, col: 1 }, message: `variable directories are nested more than ${MAX_VARS_DIR_DEPTH} deep` }]);
  }
  const found: string[] = [];
  // Python's sorted() on names: by code point, which is what sort() does for these.
  for (const name of (await readdir(path)).sort()) {
    if (name.startsWith('.') || name.endsWith('~')) continue;
    const full = join(path, name);
    const ext = /(?<=[^.])\.[^.]*$/.exec(name)?.[0] ?? '';
    const st = await stat(full).catch(() => undefined);
    if (!st) continue;
    if (st.isDirectory() && !ext) found.push(...(await dirVarsFiles(full, depth + 1)));
    else if (st.isFile() && (!ext || VARS_EXTENSIONS.includes(ext))) found.push(full);
  }
  return found;
}

/** One variables file: a YAML (or JSON) mapping; an empty file has no variables. */
export async function readVarsFile(file: string): Promise<Vars> {
  const text = await readInputFile(file, 'variable files');
  const at = { file, line: 1, col: 1 };
  if (text.startsWith('$ANSIBLE_VAULT')) {
    throw new UserInputError([{ loc: at, message: 'Ansible Vault files are not supported; decrypt the file or pass secrets another way' }]);
  }
  const y = parseYamlText(text, file);
  const root = y.doc.contents;
  const vars: Vars = new Map();
  if (root === null || (isScalar(root) && (root.value === null || root.value === ''))) return vars;
  if (!isMap(root)) throw new UserInputError([{ loc: locate(y, root), message: 'a variables file must be a mapping of variable names to values' }]);
  const plain = toPlain(y, root) as Record<string, unknown>;
  const where = valueLocations(y, root);
  const problems: Diagnostic[] = [];
  const keyAt = new Map(root.items.map((p) => [keyText(p.key), locate(y, p.key)]));
  for (const [key, value] of Object.entries(plain)) {
    const source = where.get(joinPointer('', key)) ?? keyAt.get(key) ?? at;
    const templated = typeof value === 'string' && value.includes('{{');
    const problem = checkVariableName(key) ?? (templated ? undefined : checkKnownVariable(key, value));
    if (problem) problems.push({ loc: source, message: problem });
    else vars.set(key, { value, source });
  }
  if (problems.length > 0) throw new UserInputError(oneLineEach(problems));
  return vars;
}
