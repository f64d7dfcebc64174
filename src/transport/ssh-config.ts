import { readFileSync, readdirSync } from 'node:fs';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { UserInputError } from '../errors.js';
import { matchPatternList } from './known-hosts.js';

/**
 * The part of ssh_config(5) that vipush reads: Host blocks (patterns and
 * negations), Include, and HostName, User, Port, IdentityFile, ProxyJump.
 * As in OpenSSH, the first value found for a keyword wins, except
 * IdentityFile, which collects every value. `Match` blocks are not
 * evaluated: their options never apply.
 */

export interface SshConfigOption {
  keyword: string; // lower case
  value: string;
  file: string;
  line: number;
  /** Host pattern lists that must all match (nested by Include inside a Host block). */
  conditions: string[][];
}

export interface SshConfig {
  file: string;
  options: SshConfigOption[];
}

export interface SshConfigHostOptions {
  hostName?: string;
  user?: string;
  port?: number;
  identityFiles: string[];
  proxyJump?: string;
}

const KNOWN_KEYWORDS = new Set(['hostname', 'user', 'port', 'identityfile', 'proxyjump']);
const MAX_INCLUDE_DEPTH = 16;

/** Splits an ssh_config line into arguments: whitespace separates, double quotes group. */
function splitArguments(text: string): string[] | null {
  const args: string[] = [];
  let current = '';
  let inQuotes = false;
  let hasToken = false;
  for (const ch of text) {
    if (ch === '"') {
      inQuotes = !inQuotes;
      hasToken = true;
    } else if (!inQuotes && /\s/.test(ch)) {
      if (hasToken) args.push(current);
      current = '';
      hasToken = false;
    } else {
      current += ch;
      hasToken = true;
    }
  }
  if (inQuotes) return null;
  if (hasToken) args.push(current);
  return args;
}

function expandHome(path: string, home: string): string {
  if (path === '~') return home;
  if (path.startsWith('~/')) return join(home, path.slice(2));
  return path;
}

/** Include arguments: `~` expanded, relative to ~/.ssh, with `*`/`?` globs in the last path component. */
function includeFiles(pattern: string, home: string): string[] {
  let path = expandHome(pattern, home);
  if (!isAbsolute(path)) path = join(home, '.ssh', path);
  const dir = dirname(path);
  const name = basename(path);
  if (!/[*?]/.test(name)) return [path];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => !n.startsWith('.') && matchPatternList(n, [name]))
    .sort()
    .map((n) => join(dir, n));
}

export interface ParseSshConfigOptions {
  home: string;
  /** how to read an Include'd file (tests pass a map); default: the file system */
  readInclude?: (path: string) => string | null;
}

function readIfExists(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

export function parseSshConfig(text: string, file: string, opts: ParseSshConfigOptions): SshConfig {
  const options: SshConfigOption[] = [];
  const readInclude = opts.readInclude ?? readIfExists;
  const walk = (content: string, path: string, outer: string[][], depth: number): void => {
    let conditions = outer;
    let inMatch = false;
    const lines = content.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const lineNo = i + 1;
      const raw = lines[i].replace(/\r$/, '').trim();
      if (raw === '' || raw.startsWith('#')) continue;
      const m = /^(\S+?)(?:\s*=\s*|\s+)(.*)$/.exec(raw);
      const where = { file: path, line: lineNo, col: 1 };
      if (!m) throw new UserInputError([{ loc: where, message: `"${raw}" has no value` }]);
      const keyword = m[1].toLowerCase();
      const args = splitArguments(m[2]);
      if (!args || args.length === 0) throw new UserInputError([{ loc: where, message: `${m[1]}: missing value or unbalanced quotes` }]);
      if (keyword === 'host') {
        conditions = [...outer, args];
        inMatch = false;
      } else if (keyword === 'match') {
        inMatch = true;
      } else if (inMatch) {
      } else if (keyword === 'include') {
        if (depth >= MAX_INCLUDE_DEPTH) throw new UserInputError([{ loc: where, message: `Include nested more than ${MAX_INCLUDE_DEPTH} deep` }]);
        for (const pattern of args) {
          for (const included of includeFiles(pattern, opts.home)) {
            const body = readInclude(included);
            if (body !== null) walk(body, included, conditions, depth + 1);
          }
        }
      } else if (KNOWN_KEYWORDS.has(keyword)) {
        options.push({ keyword, value: args.join(' '), file: path, line: lineNo, conditions });
      }
    }
  };
  walk(text, file, [], 0);
  return { file, options };
}

/** Reads and parses an ssh_config file; a missing file is an empty config. */
export function loadSshConfig(file: string, home: string): SshConfig {
  const text = readIfExists(file);
  return text === null ? { file, options: [] } : parseSshConfig(text, file, { home });
}

export interface SshConfigTokens {
  home: string;
  localUser: string;
  /** the remote user, for %r; filled in after User is resolved */
  remoteUser?: string;
  port?: number;
}

/** ssh_config's % tokens that make sense here (%% %d %h %n %p %r %u) and a leading `~`. */
export function expandTokens(value: string, host: string, originalHost: string, tokens: SshConfigTokens): string {
  const expanded = value.replace(/%([%dhnpru])/g, (_, t: string) => {
    switch (t) {
      case '%':
        return '%';
      case 'd':
        return tokens.home;
      case 'h':
        return host;
      case 'n':
        return originalHost;
      case 'p':
        return String(tokens.port ?? 22);
      case 'r':
        return tokens.remoteUser ?? tokens.localUser;
      default:
        return tokens.localUser;
    }
  });
  return expandHome(expanded, tokens.home);
}

function parsePort(option: SshConfigOption): number {
  const port = Number(option.value);
  if (!/^\d+$/.test(option.value) || port < 1 || port > 65535) {
    throw new UserInputError([{ loc: { file: option.file, line: option.line, col: 1 }, message: `Port "${option.value}" is not a port number (1-65535)` }]);
  }
  return port;
}

/**
 * The options that apply to `host` (the name vipush would pass to ssh). The
 * values are raw, but for Port; IdentityFile and HostName still hold their
 * `%` tokens, see expandTokens.
 */
export function sshConfigFor(config: SshConfig, host: string): SshConfigHostOptions {
  const result: SshConfigHostOptions = { identityFiles: [] };
  for (const option of config.options) {
    if (!option.conditions.every((patterns) => matchPatternList(host, patterns))) continue;
    switch (option.keyword) {
      case 'hostname':
        result.hostName ??= option.value;
        break;
      case 'user':
        result.user ??= option.value;
        break;
      case 'port':
        result.port ??= parsePort(option);
        break;
      case 'identityfile':
        result.identityFiles.push(option.value);
        break;
      case 'proxyjump':
        result.proxyJump ??= option.value;
        break;
    }
  }
  return result;
}

export interface JumpHostSpec {
  user?: string;
  host: string;
  port?: number;
}

/**
 * ProxyJump's value: `none`, or a comma list of `[user@]host[:port]` or
 * `ssh://[user@]host[:port]`; IPv6 addresses in brackets. The first hop is
 * the one vipush connects to directly.
 */
export function parseProxyJump(value: string): JumpHostSpec[] {
  const trimmed = value.trim();
  if (trimmed === '' || trimmed.toLowerCase() === 'none') return [];
  return trimmed.split(',').map((raw) => {
    let text = raw.trim();
    if (text.startsWith('ssh://')) text = text.slice('ssh://'.length).replace(/\/$/, '');
    let user: string | undefined;
    const at = text.lastIndexOf('@');
    if (at >= 0) {
      user = text.slice(0, at);
      text = text.slice(at + 1);
    }
    let host = text;
    let portText: string | undefined;
    const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
    if (bracketed) {
      host = bracketed[1];
      portText = bracketed[2];
    } else if ((text.match(/:/g) ?? []).length === 1) {
      [host, portText] = text.split(':');
    }
    if (host === '' || (user !== undefined && user === '')) throw new Error(`ProxyJump "${raw.trim()}" is not [user@]host[:port]`);
    let port: number | undefined;
    if (portText !== undefined) {
      port = Number(portText);
      if (!/^\d+$/.test(portText) || port < 1 || port > 65535) throw new Error(`ProxyJump "${raw.trim()}" has a bad port`);
    }
    return { user, host, port };
  });
}
