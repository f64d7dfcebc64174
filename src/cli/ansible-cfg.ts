import { constants, statSync } from 'node:fs';
import { access, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { UserInputError } from '../errors.js';
import { oneLine } from '../source/diagnostics.js';
import type { Values } from './options.js';

/**
 * Where remote_user and private_key_file go: not into -u/--private-key, which
 * beat the inventory, but below the inventory's ansible_user and key, as in Ansible.
 */
export const CONFIG_USER = 'ansible.cfg remote_user';
export const CONFIG_PRIVATE_KEY = 'ansible.cfg private_key_file';

/** The [defaults] keys vipush reads, and the option each one fills when the command line does not. */
const KEYS = {
  inventory: 'inventory',
  remote_user: CONFIG_USER,
  private_key_file: CONFIG_PRIVATE_KEY,
  forks: 'forks',
  timeout: 'connect-timeout',
} as const;
const MAX_CFG_BYTES = 1024 * 1024;

export interface AnsibleConfig {
  file: string;
  /** option name -> value, as the command line would give it */
  values: Map<string, string | string[]>;
  /** [defaults] keys present that vipush does not use */
  ignored: string[];
}

/**
 * Where Ansible (2.14, find_ini_config_file) looks for its configuration, first
 * found wins: $ANSIBLE_CONFIG (a file, or a directory holding ansible.cfg), then
 * ./ansible.cfg unless the current directory is world-writable, then
 * ~/.ansible.cfg, then /etc/ansible/ansible.cfg.
 */
export async function findAnsibleConfig(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Promise<string | undefined> {
  const candidates: string[] = [];
  const fromEnv = env.ANSIBLE_CONFIG;
  if (fromEnv !== undefined) {
    const path = resolve(cwd, expandHome(fromEnv, env));
    candidates.push(isDirectory(path) ? join(path, 'ansible.cfg') : path);
  }
  const cwdMode = statMode(cwd);
  if (cwdMode !== undefined && (cwdMode & 0o002) === 0) candidates.push(join(cwd, 'ansible.cfg'));
  candidates.push(join(env.HOME || homedir(), '.ansible.cfg'), '/etc/ansible/ansible.cfg');
  for (const path of candidates) {
    if (
      await access(path, constants.R_OK).then(
        () => !isDirectory(path),
        () => false,
      )
    )
      return path;
  }
  return undefined;
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function statMode(path: string): number | undefined {
  try {
    return statSync(path).mode;
  } catch {
    return undefined;
  }
}

function expandHome(path: string, env: NodeJS.ProcessEnv): string {
  return path === '~' || path.startsWith('~/') ? (env.HOME || homedir()) + path.slice(1) : path;
}

/**
 * A setting's value as the command line would give it, from ansible.cfg or the environment: inventory a comma
 * list of paths and private_key_file a path (both relative to `base`, `~` expanded), forks and timeout whole
 * numbers (else a one-line error naming `where`), remote_user as it is.
 */
function settingValue(option: string, value: string, base: string, env: NodeJS.ProcessEnv, where: () => string): string | string[] {
  const path = (p: string) => {
    const expanded = expandHome(p.trim(), env);
    return isAbsolute(expanded) ? expanded : resolve(base, expanded);
  };
  if (option === 'inventory')
    return value
      .split(',')
      .filter((p) => p.trim() !== '')
      .map(path);
  if (option === CONFIG_PRIVATE_KEY) return path(value);
  if ((option === 'forks' || option === 'connect-timeout') && !/^[0-9]+$/.test(value)) {
    throw new UserInputError(`${where()} must be a whole number, not ${oneLine(JSON.stringify(value))}`);
  }
  return value;
}

/**
 * Reads the [defaults] section of an ansible.cfg (INI as Python's configparser
 * reads it: `key = value` or `key: value`, `#`/`;` comment lines, `;` inline
 * comments after a blank, keys case-insensitive). Relative paths are taken
 * from the file's directory, as Ansible does.
 */
export function parseAnsibleConfig(text: string, file: string, env: NodeJS.ProcessEnv = process.env): AnsibleConfig {
  const values = new Map<string, string | string[]>();
  const ignored: string[] = [];
  let section = '';
  const lines = text.split(/\r?\n/);
  const at = (n: number) => `${file}:${n + 1}:1`;
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n];
    const content = line.trim();
    if (content === '' || content.startsWith('#') || content.startsWith(';')) continue;
    const header = /^\[([^\]]+)\]$/.exec(content);
    if (header) {
      section = header[1].trim();
      continue;
    }
    if (/^\s/.test(line)) continue; // a continuation line of a value vipush does not read
    const m = /^([^=:]+?)\s*[=:]\s*(.*)$/.exec(content);
    if (!m) throw new UserInputError(`${at(n)}: expected key = value in ${oneLine(JSON.stringify(file))}, got ${oneLine(JSON.stringify(content))}`);
    if (section !== 'defaults') continue;
    const key = m[1].toLowerCase();
    const value = m[2].replace(/\s;.*$/, '').trim();
    if (!(key in KEYS)) {
      ignored.push(key);
      continue;
    }
    const option = KEYS[key as keyof typeof KEYS];
    values.set(
      option,
      settingValue(option, value, dirname(file), env, () => `${at(n)}: ${key}`),
    );
  }
  return { file, values, ignored };
}

/** The environment variables Ansible reads for the same settings; they beat ansible.cfg, the command line beats them. */
const ENV_KEYS = {
  ANSIBLE_INVENTORY: 'inventory',
  ANSIBLE_REMOTE_USER: CONFIG_USER,
  ANSIBLE_PRIVATE_KEY_FILE: CONFIG_PRIVATE_KEY,
  ANSIBLE_FORKS: 'forks',
  ANSIBLE_TIMEOUT: 'connect-timeout',
} as const;

/**
 * The settings Ansible takes from its environment variables (ANSIBLE_INVENTORY, a comma list of paths;
 * ANSIBLE_REMOTE_USER, ANSIBLE_PRIVATE_KEY_FILE, ANSIBLE_FORKS, ANSIBLE_TIMEOUT), relative paths from the
 * current directory. An empty variable is unset, as in Ansible.
 */
export function ansibleEnvironment(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Map<string, string | string[]> {
  const values = new Map<string, string | string[]>();
  for (const [name, option] of Object.entries(ENV_KEYS)) {
    const value = env[name]?.trim();
    if (value)
      values.set(
        option,
        settingValue(option, value, cwd, env, () => `environment variable ${name}`),
      );
  }
  return values;
}

/**
 * Fills the options a command takes from Ansible's environment variables and ansible.cfg where the command
 * line left them unset (command line, then environment, then ansible.cfg, as in Ansible), and says in one
 * line which [defaults] keys it ignored. Returns the ansible.cfg read, if any.
 */
export async function applyAnsibleConfig(values: Values, takes: Record<string, unknown>, note: (line: string) => void): Promise<string | undefined> {
  const file = await findAnsibleConfig();
  let cfg: AnsibleConfig | undefined;
  if (file) {
    const st = statSync(file);
    if (st.size > MAX_CFG_BYTES) throw new UserInputError(`${file}: ansible.cfg is ${st.size} bytes; vipush reads at most ${MAX_CFG_BYTES}`);
    cfg = parseAnsibleConfig(await readFile(file, 'utf8'), file);
  }
  const merged = new Map([...(cfg?.values ?? []), ...ansibleEnvironment()]);
  for (const [option, value] of merged) {
    const carrier = option === CONFIG_USER ? 'user' : option === CONFIG_PRIVATE_KEY ? 'private-key' : option;
    if (!(carrier in takes)) continue;
    const given = values[option];
    if (given === undefined || (Array.isArray(given) && given.length === 0)) values[option] = value;
  }
  if (cfg && cfg.ignored.length > 0)
    note(
      `${cfg.file}: [defaults] ${cfg.ignored.map((k) => oneLine(k)).join(', ')} ignored (vipush reads inventory, remote_user, private_key_file, forks, timeout)`,
    );
  return file;
}
