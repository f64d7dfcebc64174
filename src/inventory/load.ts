import { constants } from 'node:fs';
import { access, readdir, stat } from 'node:fs/promises';
import { dirname, extname, join } from 'node:path';
import { UserInputError } from '../errors.js';
import { isMap } from 'yaml';
import { parseYamlText, readInputFile, type YamlFile } from '../source/yaml.js';
import { InventoryBuilder } from './builder.js';
import { parseHostEntry } from './host-pattern.js';
import { readIniInventory } from './ini-inventory.js';
import type { Inventory, Vars, VarsFiles } from './types.js';
import { readVarsFiles } from './vars-files.js';
import { readYamlInventory } from './yaml-inventory.js';

export type InventoryFormat = 'yaml' | 'ini';

/**
 * What Ansible skips in an inventory directory (ansible-core 2.14): hidden
 * names, group_vars/host_vars/vars_plugins, and INVENTORY_IGNORE_EXTS, which is
 * REJECT_EXTS plus .orig, .ini, .cfg and .retry. Yes, `.ini` files in an
 * inventory directory are skipped (name one with -i to read it).
 */
/** Ansible's yaml_extensions (case-sensitive, as os.path.splitext gives them). */
const YAML_EXTENSIONS = ['.yml', '.yaml', '.json'];

const IGNORED_IN_DIRECTORY = /^\.|^host_vars$|^group_vars$|^vars_plugins$|(?:\.pyc|\.pyo|\.swp|\.bak|~|\.rpm|\.md|\.txt|\.rst|\.orig|\.ini|\.cfg|\.retry)$/;
/** Inventory directories are read this deep and no deeper. */
const MAX_INVENTORY_DIR_DEPTH = 16;

/**
 * The format of an inventory: by extension when it says (.yml/.yaml/.json vs
 * .ini/.cfg), otherwise by its first meaningful line, as Ansible's files are
 * often called just `hosts`.
 */
export function detectInventoryFormat(path: string, text: string): InventoryFormat {
  const ext = extname(path).toLowerCase();
  if (ext === '.yml' || ext === '.yaml' || ext === '.json') return 'yaml';
  if (ext === '.ini' || ext === '.cfg') return 'ini';
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    if (line === '---' || line.startsWith('{')) return 'yaml';
    if (/^\[[^\]]*\]\s*(?:[#;].*)?$/.test(line)) return 'ini';
    // `all:` or `web: {hosts: ...}`; an INI line is a host name with key=value words.
    if (!line.includes('=') && /^[^\s#;][^\s]*:(?:\s|$)/.test(line)) return 'yaml';
    return 'ini';
  }
  return 'ini';
}

export interface InventoryLoadOptions {
  /** the playbook's directory: its group_vars/ and host_vars/ are read too, above the inventory's */
  playbookDir?: string;
}

/**
 * Loads the inventory as Ansible does from `-i` options, merged in order:
 * each source is a file (YAML or INI), a directory of such files (read in name
 * order, recursively, skipping what Ansible skips) or a comma-separated host
 * list (`web1,web2,` or `localhost,`). Then group_vars/ and host_vars/ beside
 * each file source (inside each directory source), and beside the playbook
 * when `playbookDir` is given.
 */
export async function loadInventory(sources: string | readonly string[], opts: InventoryLoadOptions = {}): Promise<Inventory> {
  const list = typeof sources === 'string' ? [sources] : [...sources];
  if (list.length === 0) throw new UserInputError('no inventory given: use -i INVENTORY');
  const builder = new InventoryBuilder(list.join(', '));
  const varsDirs: string[] = [];
  for (const source of list) {
    const kind = await sourceKind(source);
    if (kind === 'hosts') {
      readHostList(source, builder);
    } else if (kind === 'dir') {
      await readInventoryDir(source, builder, 0);
      varsDirs.push(source);
    } else {
      await readInventoryFile(source, builder);
      varsDirs.push(dirname(source));
    }
  }
  const inv = builder.finish();
  const cache = new Map<string, Promise<Vars>>();
  inv.inventoryVarsFiles = await readEach(varsDirs, inv, cache);
  if (opts.playbookDir !== undefined) inv.playbookVarsFiles = await readEach([opts.playbookDir], inv, cache);
  return inv;
}

/** The playbook's group_vars/ and host_vars/, added to an inventory already loaded. */
export async function withPlaybookVars(inv: Inventory, playbookDir: string): Promise<Inventory> {
  return { ...inv, playbookVarsFiles: await readEach([playbookDir], inv) };
}

async function readEach(dirs: string[], inv: Inventory, cache = new Map<string, Promise<Vars>>()): Promise<VarsFiles[]> {
  const out: VarsFiles[] = [];
  for (const dir of dirs) out.push(await readVarsFiles(dir, inv, cache));
  return out;
}

async function sourceKind(source: string): Promise<'hosts' | 'dir' | 'file'> {
  const st = await stat(source).catch(() => undefined);
  if (st?.isDirectory()) return 'dir';
  // As in Ansible's host_list plugin: a comma makes a host list unless a file has that name.
  if (!st && source.includes(',')) return 'hosts';
  return 'file';
}

/** `-i 'web1,web2:2222,'`: ungrouped hosts, each name as written (no ranges). */
function readHostList(source: string, b: InventoryBuilder): void {
  const file = '-i';
  let col = 1;
  for (const part of source.split(',')) {
    const name = part.trim();
    const at = { file, line: 1, col: col + (part.length - part.trimStart().length) };
    col += part.length + 1;
    if (name === '') continue;
    // Ansible's parse_address without ranges: `[v6]:port` is read, another `[` is part of the name.
    const entry = name.includes('[') && !/^\[[^\]]+\]:[0-9]+$/.test(name) ? { names: [name] } : parseHostEntry(name);
    if ('error' in entry) {
      b.error(at, entry.error);
      continue;
    }
    const vars: Vars = new Map();
    if (entry.port !== undefined) vars.set('ansible_port', { value: entry.port, source: at });
    for (const host of entry.names) b.addHost('ungrouped', host, vars, at);
  }
}

async function readInventoryDir(dir: string, b: InventoryBuilder, depth: number): Promise<void> {
  if (depth > MAX_INVENTORY_DIR_DEPTH) {
    b.error({ file: dir, line: 1, col: 1 }, `inventory directories are nested more than ${MAX_INVENTORY_DIR_DEPTH} deep`);
    return;
  }
  for (const name of (await readdir(dir)).sort()) {
    if (IGNORED_IN_DIRECTORY.test(name)) continue;
    const path = join(dir, name);
    const st = await stat(path).catch(() => undefined);
    if (!st) continue;
    if (st.isDirectory()) await readInventoryDir(path, b, depth + 1);
    else await readInventoryFile(path, b);
  }
}

async function readInventoryFile(path: string, b: InventoryBuilder): Promise<void> {
  const at = { file: path, line: 1, col: 1 };
  if (extname(path).toLowerCase() === '.toml') {
    b.error(at, 'TOML inventories are not supported; write the inventory as YAML or INI');
    return;
  }
  let text: string;
  try {
    text = await readInputFile(path, 'inventories');
  } catch (e) {
    if (!(e instanceof UserInputError)) throw e;
    for (const d of e.diagnostics) b.error(d.loc, d.message);
    return;
  }
  if (
    text.startsWith('#!') &&
    (await access(path, constants.X_OK).then(
      () => true,
      () => false,
    ))
  ) {
    b.error(at, 'inventory scripts are not supported; save the output of the script as a YAML or JSON inventory');
    return;
  }
  if (text.startsWith('$ANSIBLE_VAULT')) {
    b.error(at, 'Ansible Vault files are not supported; decrypt the inventory');
    return;
  }
  readInventoryText(text, path, b);
}

/**
 * Ansible's plugin order for a file: the YAML plugin takes a file with no
 * extension or .yml/.yaml/.json, and the INI plugin whatever the YAML plugin
 * could not read (so an INI file called `hosts` or even `hosts.yml` works).
 * When neither reads it, the errors shown are those of the format the file
 * looks like.
 */
function readInventoryText(text: string, file: string, b: InventoryBuilder): void {
  const ext = extname(file);
  if (ext !== '' && !YAML_EXTENSIONS.includes(ext)) {
    readIniInventory(text, file, b);
    return;
  }
  let yaml: YamlFile | undefined;
  let yamlError: UserInputError | undefined;
  try {
    yaml = parseYamlText(text, file);
  } catch (e) {
    if (!(e instanceof UserInputError)) throw e;
    yamlError = e;
  }
  if (yaml && isMap(yaml.doc.contents)) {
    readYamlInventory(yaml, b);
    return;
  }
  const trial = new InventoryBuilder(file);
  readIniInventory(text, file, trial);
  if (!trial.hasErrors() || detectInventoryFormat(file, text) === 'ini') {
    readIniInventory(text, file, b);
  } else if (yaml) readYamlInventory(yaml, b);
  else for (const d of yamlError?.diagnostics ?? []) b.error(d.loc, d.message);
}

/** For callers (and tests) that already hold the text; `file` is used in locations. */
export function parseInventoryText(text: string, file: string, format = detectInventoryFormat(file, text)): Inventory {
  const builder = new InventoryBuilder(file);
  if (format === 'yaml') readYamlInventory(parseYamlText(text, file), builder);
  else readIniInventory(text, file, builder);
  return builder.finish();
}
