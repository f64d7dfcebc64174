import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * known_hosts as OpenSSH reads it (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT"):
 * plain names and addresses, comma lists, `[host]:port`, hashed `|1|salt|hash`
 * names, `!negated` and `*`/`?` wildcard patterns, and the `@revoked` and
 * `@cert-authority` markers. vipush fails closed: only a key listed for the
 * host is accepted.
 */

export interface KnownHostsEntry {
  file: string;
  line: number;
  marker: 'revoked' | 'cert-authority' | null;
  hosts: { kind: 'hashed'; salt: Buffer; hash: Buffer } | { kind: 'patterns'; patterns: string[] };
  keyType: string;
  key: Buffer;
}

export interface KnownHostsProblem {
  file: string;
  line: number;
  message: string;
}

export type HostKeyVerdict =
  | { status: 'known'; entry: KnownHostsEntry }
  | { status: 'revoked'; entry: KnownHostsEntry }
  /** the host has a key of this type on file, and it is another key */
  | { status: 'changed'; entry: KnownHostsEntry }
  /** no key of this type on file for the host (it may have keys of other types) */
  | { status: 'unknown' };

/** The name known_hosts uses for a host: `addr` on port 22, `[addr]:port` otherwise (OpenSSH put_host_port). */
export function knownHostsName(address: string, port: number): string {
  const host = address.toLowerCase();
  return port === 22 ? host : `[${host}]:${port}`;
}

/** `SHA256:` and unpadded base64 of the key blob, as `ssh-keygen -l` and ssh print it. */
export function fingerprintSha256(keyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;
}

/** The type name at the start of an SSH public key blob (a uint32 length and the name). */
export function keyTypeOfBlob(keyBlob: Buffer): string {
  if (keyBlob.length < 4) throw new Error('public key blob is too short');
  const length = keyBlob.readUInt32BE(0);
  if (length === 0 || length > 64 || 4 + length > keyBlob.length) throw new Error('public key blob has a bad type field');
  return keyBlob.subarray(4, 4 + length).toString('latin1');
}

/** The host key algorithms to offer for keys of these types, fastest first. */
export function hostKeyAlgorithmsFor(keyTypes: Iterable<string>): string[] {
  const types = new Set(keyTypes);
  const algorithms: string[] = [];
  for (const [type, offered] of HOST_KEY_ALGORITHMS_BY_TYPE) {
    if (types.has(type)) algorithms.push(...offered);
  }
  return algorithms;
}

/** Key types ssh2 can verify, in the order vipush prefers them, with the signature algorithms each allows. */
const HOST_KEY_ALGORITHMS_BY_TYPE: [string, string[]][] = [
  ['ssh-ed25519', ['ssh-ed25519']],
  ['ecdsa-sha2-nistp256', ['ecdsa-sha2-nistp256']],
  ['ecdsa-sha2-nistp384', ['ecdsa-sha2-nistp384']],
  ['ecdsa-sha2-nistp521', ['ecdsa-sha2-nistp521']],
  ['ssh-rsa', ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']],
];

export const DEFAULT_HOST_KEY_ALGORITHMS: string[] = hostKeyAlgorithmsFor(HOST_KEY_ALGORITHMS_BY_TYPE.map(([type]) => type));

/**
 * One OpenSSH pattern (`*` any run, `?` one character) against a name.
 * Both sides are compared in lower case, as OpenSSH's match_hostname does.
 */
export function matchPattern(name: string, pattern: string): boolean {
  const s = name.toLowerCase();
  const p = pattern.toLowerCase();
  // Iterative glob with backtracking to the last `*`: linear in practice, no regex built from user text.
  let si = 0;
  let pi = 0;
  let starPi = -1;
  let starSi = 0;
  while (si < s.length) {
    if (pi < p.length && (p[pi] === '?' || p[pi] === s[si])) {
      si++;
      pi++;
    } else if (pi < p.length && p[pi] === '*') {
      starPi = pi++;
      starSi = si;
    } else if (starPi >= 0) {
      pi = starPi + 1;
      si = ++starSi;
    } else {
      return false;
    }
  }
  while (pi < p.length && p[pi] === '*') pi++;
  return pi === p.length;
}

/**
 * A pattern list as OpenSSH's match_pattern_list reads it: a matching negated
 * pattern rules the name out whatever else matches; otherwise one matching
 * positive pattern is needed.
 */
export function matchPatternList(name: string, patterns: readonly string[]): boolean {
  let positive = false;
  for (const raw of patterns) {
    if (raw.startsWith('!')) {
      if (matchPattern(name, raw.slice(1))) return false;
    } else if (matchPattern(name, raw)) {
      positive = true;
    }
  }
  return positive;
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

function parseHostsField(field: string): KnownHostsEntry['hosts'] | string {
  if (field.startsWith('|')) {
    const parts = field.split('|');
    // "|1|salt|hash" splits into ["", "1", salt, hash]
    if (parts.length !== 4 || parts[1] !== '1') return `unsupported hashed host name "${field}"`;
    if (!BASE64.test(parts[2]) || !BASE64.test(parts[3])) return 'hashed host name is not base64';
    const salt = Buffer.from(parts[2], 'base64');
    const hash = Buffer.from(parts[3], 'base64');
    if (salt.length !== 20 || hash.length !== 20) return 'hashed host name has a salt or hash of the wrong length';
    return { kind: 'hashed', salt, hash };
  }
  const patterns = field.split(',').filter((p) => p !== '');
  if (patterns.length === 0) return 'no host names';
  return { kind: 'patterns', patterns };
}

/** Parses one known_hosts file. Lines that can't be read are reported and skipped, never fatal. */
export function parseKnownHosts(text: string, file: string): { entries: KnownHostsEntry[]; problems: KnownHostsProblem[] } {
  const entries: KnownHostsEntry[] = [];
  const problems: KnownHostsProblem[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const content = lines[i].replace(/\r$/, '').trim();
    if (content === '' || content.startsWith('#')) continue;
    const fields = content.split(/\s+/);
    let marker: KnownHostsEntry['marker'] = null;
    if (fields[0].startsWith('@')) {
      const name = fields.shift()!;
      if (name === '@revoked') marker = 'revoked';
      else if (name === '@cert-authority') marker = 'cert-authority';
      else {
        problems.push({ file, line: lineNo, message: `unknown marker ${name}` });
        continue;
      }
    }
    if (fields.length < 3) {
      problems.push({ file, line: lineNo, message: 'expected "hosts keytype base64-key"' });
      continue;
    }
    const [hostsField, keyType, keyBase64] = fields;
    const hosts = parseHostsField(hostsField);
    if (typeof hosts === 'string') {
      problems.push({ file, line: lineNo, message: hosts });
      continue;
    }
    if (!BASE64.test(keyBase64)) {
      problems.push({ file, line: lineNo, message: 'key is not base64' });
      continue;
    }
    const key = Buffer.from(keyBase64, 'base64');
    let blobType: string;
    try {
      blobType = keyTypeOfBlob(key);
    } catch (e) {
      problems.push({ file, line: lineNo, message: (e as Error).message });
      continue;
    }
    // A certificate authority line names a *-cert type in the blob; plain lines must agree with their blob.
    if (blobType !== keyType && marker !== 'cert-authority') {
      problems.push({ file, line: lineNo, message: `key type ${keyType} does not match the key's own type ${blobType}` });
      continue;
    }
    entries.push({ file, line: lineNo, marker, hosts, keyType: blobType, key });
  }
  return { entries, problems };
}

export function entryMatchesHost(entry: KnownHostsEntry, name: string): boolean {
  if (entry.hosts.kind === 'hashed') {
    const digest = createHmac('sha1', entry.hosts.salt).update(name).digest();
    return timingSafeEqual(digest, entry.hosts.hash);
  }
  return matchPatternList(name, entry.hosts.patterns);
}

/** A known_hosts line naming one host by HMAC-SHA1, as `ssh-keygen -H` writes it. */
export function hashedHostName(name: string, salt: Buffer): string {
  const hash = createHmac('sha1', salt).update(name).digest();
  return `|1|${salt.toString('base64')}|${hash.toString('base64')}`;
}

function isErrno(e: unknown, code: string): boolean {
  return typeof e === 'object' && e !== null && (e as NodeJS.ErrnoException).code === code;
}

/** Appends to one file are serialised within the process, so concurrent hosts never interleave lines. */
const appendQueues = new Map<string, Promise<unknown>>();

/** Appends one line, adding a newline first if the file lacks a final one; returns the new line's number. */
async function appendLine(file: string, line: string): Promise<number> {
  const previous = appendQueues.get(file) ?? Promise.resolve();
  const next = previous.then(async () => {
    await mkdir(dirname(file), { recursive: true, mode: 0o700 });
    let existing = '';
    try {
      existing = await readFile(file, 'utf8');
    } catch (e) {
      if (!isErrno(e, 'ENOENT')) throw e;
    }
    const lines = existing.split('\n');
    // another connection in this run (or another vipush) may have recorded the same key already
    const present = lines.findIndex((l) => l.trim() === line);
    if (present >= 0) return present + 1;
    const needsNewline = existing !== '' && !existing.endsWith('\n');
    await appendFile(file, (needsNewline ? '\n' : '') + line + '\n', { mode: 0o600 });
    return lines.length + (needsNewline ? 1 : 0);
  });
  const settled = next.then(
    () => undefined,
    () => undefined,
  );
  appendQueues.set(file, settled);
  void settled.then(() => {
    if (appendQueues.get(file) === settled) appendQueues.delete(file);
  });
  return next;
}

/**
 * The host keys vipush trusts: the entries of some known_hosts files, read
 * once. Missing files count as empty. New keys (with --accept-new-host-keys)
 * go to the first file and into memory at once.
 */
export class KnownHostsVerifier {
  readonly files: readonly string[];
  readonly problems: KnownHostsProblem[];
  private readonly entries: KnownHostsEntry[];

  constructor(files: readonly string[], entries: KnownHostsEntry[], problems: KnownHostsProblem[] = []) {
    this.files = files;
    this.entries = entries;
    this.problems = problems;
  }

  static async load(files: readonly string[]): Promise<KnownHostsVerifier> {
    const entries: KnownHostsEntry[] = [];
    const problems: KnownHostsProblem[] = [];
    for (const file of files) {
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (e) {
        if (isErrno(e, 'ENOENT') || isErrno(e, 'ENOTDIR')) continue;
        problems.push({ file, line: 0, message: `cannot read: ${(e as Error).message}` });
        continue;
      }
      const parsed = parseKnownHosts(text, file);
      entries.push(...parsed.entries);
      problems.push(...parsed.problems);
    }
    return new KnownHostsVerifier(files, entries, problems);
  }

  /** Plain (unmarked) entries for this host. Certificate authorities are not used: vipush checks plain keys only. */
  private plainEntriesFor(name: string): KnownHostsEntry[] {
    return this.entries.filter((e) => e.marker === null && entryMatchesHost(e, name));
  }

  /** The key types on file for the host: the only ones to offer in the handshake. Empty when the host is unknown. */
  knownKeyTypes(name: string): string[] {
    return [...new Set(this.plainEntriesFor(name).map((e) => e.keyType))];
  }

  check(name: string, keyBlob: Buffer): HostKeyVerdict {
    const keyType = keyTypeOfBlob(keyBlob);
    for (const entry of this.entries) {
      if (entry.marker === 'revoked' && entry.key.equals(keyBlob) && entryMatchesHost(entry, name)) {
        return { status: 'revoked', entry };
      }
    }
    let changed: KnownHostsEntry | undefined;
    for (const entry of this.plainEntriesFor(name)) {
      if (entry.keyType !== keyType) continue;
      if (entry.key.equals(keyBlob)) return { status: 'known', entry };
      changed ??= entry;
    }
    return changed ? { status: 'changed', entry: changed } : { status: 'unknown' };
  }

  /** Records a new host key in the first file (created 0600) and trusts it for the rest of the run. */
  async addHost(name: string, keyBlob: Buffer): Promise<KnownHostsEntry> {
    const file = this.files[0];
    if (!file) throw new Error('no known_hosts file to record the new host key in');
    const keyType = keyTypeOfBlob(keyBlob);
    const verdict = this.check(name, keyBlob);
    if (verdict.status === 'known') return verdict.entry;
    if (verdict.status !== 'unknown') throw new Error(`refusing to record a ${verdict.status} host key for ${name}`);
    const line = await appendLine(file, `${name} ${keyType} ${keyBlob.toString('base64')}`);
    const entry: KnownHostsEntry = { file, line, marker: null, hosts: { kind: 'patterns', patterns: [name] }, keyType, key: keyBlob };
    this.entries.push(entry);
    return entry;
  }
}
