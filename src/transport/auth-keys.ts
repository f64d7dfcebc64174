import { readFile, stat } from 'node:fs/promises';
import ssh2 from 'ssh2';
import type { ParsedKey } from 'ssh2';

/**
 * Private keys for public-key authentication. An encrypted key is opened
 * with the passphrase from VIPUSH_KEY_PASSPHRASE or, failing that, the
 * injected prompt; each key file is opened once per process, so a run over
 * a hundred hosts asks at most once per key. A passphrase is never logged or
 * put in a message.
 */

export const PASSPHRASE_ENV = 'VIPUSH_KEY_PASSPHRASE';

export type PassphrasePrompt = (keyFile: string) => Promise<string>;

export interface KeySource {
  path: string;
  /** named on the CLI or in the inventory: a missing file is an error, not a skip */
  explicit: boolean;
}

export type KeyLoad =
  | { status: 'ok'; path: string; key: ParsedKey }
  | { status: 'missing'; path: string }
  /** encrypted and no passphrase source: skipped, with a hint in the auth error */
  | { status: 'locked'; path: string }
  | { status: 'bad-passphrase'; path: string; source: 'env' | 'prompt' }
  | { status: 'unreadable'; path: string; reason: string };

const { parseKey } = ssh2.utils;
const loads = new Map<string, Promise<KeyLoad>>();

function isEncryptedKeyError(err: Error): boolean {
  return /encrypted/i.test(err.message) && /passphrase/i.test(err.message);
}

async function loadKeyUncached(path: string, env: NodeJS.ProcessEnv, prompt: PassphrasePrompt | undefined): Promise<KeyLoad> {
  let data: Buffer;
  try {
    data = await readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { status: 'missing', path };
    return { status: 'unreadable', path, reason: code ?? 'read error' };
  }
  let parsed = parseKey(data);
  if (parsed instanceof Error && isEncryptedKeyError(parsed)) {
    const fromEnv = env[PASSPHRASE_ENV];
    let passphrase = fromEnv;
    if (passphrase === undefined && prompt) {
      try {
        passphrase = await prompt(path);
      } catch {
        // the user declined: the key is skipped for the rest of the run, not asked for again
        return { status: 'locked', path };
      }
    }
    if (passphrase === undefined) return { status: 'locked', path };
    parsed = parseKey(data, passphrase);
    if (parsed instanceof Error) return { status: 'bad-passphrase', path, source: fromEnv === undefined ? 'prompt' : 'env' };
  }
  if (parsed instanceof Error) return { status: 'unreadable', path, reason: 'not a private key ssh2 can read' };
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!key?.isPrivateKey()) return { status: 'unreadable', path, reason: 'not a private key' };
  return { status: 'ok', path, key };
}

/** Loads a key once per file version (path, size, mtime) for the life of the process. */
export async function loadPrivateKey(path: string, env: NodeJS.ProcessEnv, prompt?: PassphrasePrompt): Promise<KeyLoad> {
  let version = 'absent';
  try {
    const st = await stat(path);
    version = `${st.size}:${st.mtimeMs}`;
  } catch {
    // loadKeyUncached reports why
  }
  const cacheKey = `${path}\0${version}\0${env[PASSPHRASE_ENV] === undefined ? 'prompt' : 'env'}`;
  let load = loads.get(cacheKey);
  if (!load) {
    load = loadKeyUncached(path, env, prompt);
    loads.set(cacheKey, load);
  }
  return load;
}

/** The agent socket to use, if SSH_AUTH_SOCK names a socket that exists. */
export async function agentSocket(env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const sock = env.SSH_AUTH_SOCK;
  if (!sock) return undefined;
  try {
    return (await stat(sock)).isSocket() ? sock : undefined;
  } catch {
    return undefined;
  }
}
