import { execFileSync } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  fingerprintSha256,
  hashedHostName,
  hostKeyAlgorithmsFor,
  keyTypeOfBlob,
  KnownHostsVerifier,
  knownHostsName,
  matchPattern,
  matchPatternList,
  parseKnownHosts,
} from '../../src/transport/known-hosts.js';

const dir = mkdtempSync(join(tmpdir(), 'vipush-known-hosts-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let keyCount = 0;
/** A real public key made by ssh-keygen: [type, base64, blob, path of the .pub]. */
function makeKey(type: 'ed25519' | 'ecdsa' | 'rsa' = 'ed25519'): { type: string; base64: string; blob: Buffer; pubFile: string } {
  const file = join(dir, `key${keyCount++}`);
  execFileSync('ssh-keygen', ['-q', '-t', type, ...(type === 'rsa' ? ['-b', '2048'] : []), '-N', '', '-C', 'test', '-f', file]);
  const [keyType, base64] = readFileSync(`${file}.pub`, 'utf8').trim().split(/\s+/);
  return { type: keyType, base64, blob: Buffer.from(base64, 'base64'), pubFile: `${file}.pub` };
}

const web1 = makeKey();
const web1Rsa = makeKey('rsa');
const other = makeKey();
const third = makeKey('ecdsa');

function verifierFor(text: string, file = 'known_hosts'): KnownHostsVerifier {
  const { entries, problems } = parseKnownHosts(text, file);
  return new KnownHostsVerifier([file], entries, problems);
}

describe('fingerprints and key blobs', () => {
  it('prints SHA256 fingerprints as ssh-keygen -lf does', () => {
    for (const key of [web1, web1Rsa, third]) {
      const out = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', key.pubFile], { encoding: 'utf8' });
      const expected = out.split(/\s+/)[1];
      expect(expected).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
      expect(fingerprintSha256(key.blob)).toBe(expected);
    }
  });

  it('reads the key type from the blob', () => {
    expect(keyTypeOfBlob(web1.blob)).toBe('ssh-ed25519');
    expect(keyTypeOfBlob(web1Rsa.blob)).toBe('ssh-rsa');
    expect(keyTypeOfBlob(third.blob)).toBe('ecdsa-sha2-nistp256');
    expect(() => keyTypeOfBlob(Buffer.from([0, 0]))).toThrow();
    expect(() => keyTypeOfBlob(Buffer.from([0, 0, 1, 0, 65]))).toThrow();
  });

  it('names non-22 ports in brackets', () => {
    expect(knownHostsName('198.18.1.11', 22)).toBe('198.18.1.11');
    expect(knownHostsName('Web1.Example', 2222)).toBe('[web1.example]:2222');
  });

  it('offers only the algorithms of the key types on file', () => {
    expect(hostKeyAlgorithmsFor(['ssh-ed25519'])).toEqual(['ssh-ed25519']);
    expect(hostKeyAlgorithmsFor(['ssh-rsa', 'ssh-ed25519'])).toEqual(['ssh-ed25519', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']);
    expect(hostKeyAlgorithmsFor(['ssh-dss'])).toEqual([]);
  });
});

describe('OpenSSH patterns', () => {
  it('matches wildcards', () => {
    expect(matchPattern('web1.example.com', '*.example.com')).toBe(true);
    expect(matchPattern('example.com', '*.example.com')).toBe(false);
    expect(matchPattern('web1', 'web?')).toBe(true);
    expect(matchPattern('web12', 'web?')).toBe(false);
    expect(matchPattern('198.18.1.11', '198.18.1.*')).toBe(true);
    expect(matchPattern('WEB1', 'web1')).toBe(true);
    expect(matchPattern('abcabd', '*ab?')).toBe(true);
    expect(matchPattern('', '*')).toBe(true);
  });

  it('lets a negation rule a name out whatever else matches', () => {
    expect(matchPatternList('web1', ['web*', '!web1'])).toBe(false);
    expect(matchPatternList('web2', ['web*', '!web1'])).toBe(true);
    expect(matchPatternList('web1', ['!web2'])).toBe(false);
  });
});

describe('parseKnownHosts', () => {
  it('skips comments, blank lines and broken lines without failing', () => {
    const text = [
      '# a comment',
      '',
      '   ',
      `web1 ${web1.type} ${web1.base64} comment words`,
      'garbage',
      `@frobnicate web2 ${web1.type} ${web1.base64}`,
      `web3 ssh-rsa ${web1.base64}`,
      `web4 ssh-ed25519 !!!notbase64`,
      `|1|bad|hash ssh-ed25519 ${web1.base64}`,
      `@cert-authority *.example.com ${other.type} ${other.base64}`,
    ].join('\n');
    const { entries, problems } = parseKnownHosts(text, 'kh');
    expect(entries.map((e) => [e.line, e.marker])).toEqual([
      [4, null],
      [10, 'cert-authority'],
    ]);
    expect(problems.map((p) => p.line)).toEqual([5, 6, 7, 8, 9]);
  });

  it('tolerates CRLF line ends', () => {
    const { entries } = parseKnownHosts(`web1 ${web1.type} ${web1.base64}\r\n`, 'kh');
    expect(entries).toHaveLength(1);
  });
});

describe('KnownHostsVerifier.check', () => {
  it('accepts a plain name with the matching key', () => {
    const v = verifierFor(`198.18.1.11 ${web1.type} ${web1.base64}\n`);
    expect(v.check('198.18.1.11', web1.blob).status).toBe('known');
    expect(v.knownKeyTypes('198.18.1.11')).toEqual(['ssh-ed25519']);
  });

  it('matches comma lists', () => {
    const v = verifierFor(`web1,198.18.1.11 ${web1.type} ${web1.base64}\n`);
    expect(v.check('198.18.1.11', web1.blob).status).toBe('known');
    expect(v.check('web1', web1.blob).status).toBe('known');
    expect(v.check('web2', web1.blob).status).toBe('unknown');
  });

  it('keeps [host]:port apart from the same host on port 22', () => {
    const v = verifierFor(`[198.18.1.11]:2222 ${web1.type} ${web1.base64}\n198.18.1.11 ${other.type} ${other.base64}\n`);
    expect(v.check(knownHostsName('198.18.1.11', 2222), web1.blob).status).toBe('known');
    expect(v.check(knownHostsName('198.18.1.11', 22), web1.blob).status).toBe('changed');
    expect(v.check(knownHostsName('198.18.1.11', 22), other.blob).status).toBe('known');
    expect(v.check(knownHostsName('198.18.1.11', 2200), web1.blob).status).toBe('unknown');
  });

  it('matches hashed names (HMAC-SHA1 of the name)', () => {
    const salt = randomBytes(20);
    const hashed = hashedHostName('[198.18.1.11]:2222', salt);
    // built here with node:crypto, independent of the code under test
    expect(hashed).toBe(`|1|${salt.toString('base64')}|${createHmac('sha1', salt).update('[198.18.1.11]:2222').digest('base64')}`);
    const v = verifierFor(`${hashed} ${web1.type} ${web1.base64}\n`);
    expect(v.check('[198.18.1.11]:2222', web1.blob).status).toBe('known');
    expect(v.check('198.18.1.11', web1.blob).status).toBe('unknown');
    expect(v.check('[198.18.1.11]:2222', other.blob).status).toBe('changed');
  });

  it('matches hashed lines written by ssh-keygen -H', () => {
    const file = join(dir, 'hashed_known_hosts');
    writeFileSync(file, `198.18.1.12 ${web1.type} ${web1.base64}\n`);
    execFileSync('ssh-keygen', ['-q', '-H', '-f', file], { stdio: 'ignore' });
    const text = readFileSync(file, 'utf8');
    expect(text.startsWith('|1|')).toBe(true);
    const v = verifierFor(text);
    expect(v.check('198.18.1.12', web1.blob).status).toBe('known');
  });

  it('refuses a @revoked key even when a plain line lists it', () => {
    const v = verifierFor(`web1 ${web1.type} ${web1.base64}\n@revoked * ${web1.type} ${web1.base64}\n`);
    const verdict = v.check('web1', web1.blob);
    expect(verdict.status).toBe('revoked');
    expect(verdict.status === 'revoked' && verdict.entry.line).toBe(2);
    expect(v.check('web1', other.blob).status).toBe('changed');
  });

  it('matches wildcard patterns and honours negations', () => {
    const v = verifierFor(`198.18.1.*,!198.18.1.13 ${web1.type} ${web1.base64}\n`);
    expect(v.check('198.18.1.11', web1.blob).status).toBe('known');
    expect(v.check('198.18.1.13', web1.blob).status).toBe('unknown');
    expect(v.check('198.18.2.11', web1.blob).status).toBe('unknown');
  });

  it('reports a changed key of the same type with the line that has the old one', () => {
    const v = verifierFor(`# header\nweb1 ${web1.type} ${web1.base64}\n`);
    const verdict = v.check('web1', other.blob);
    expect(verdict.status).toBe('changed');
    if (verdict.status === 'changed') {
      expect(verdict.entry.line).toBe(2);
      expect(fingerprintSha256(verdict.entry.key)).toBe(fingerprintSha256(web1.blob));
    }
  });

  it('accepts any listed key of the right type, as OpenSSH does for hosts with several lines', () => {
    const v = verifierFor(`web1 ${other.type} ${other.base64}\nweb1 ${web1.type} ${web1.base64}\n`);
    expect(v.check('web1', web1.blob).status).toBe('known');
  });

  it('treats a key of a type not on file as unknown, and lists the types that are', () => {
    const v = verifierFor(`web1 ${web1.type} ${web1.base64}\n`);
    expect(v.check('web1', web1Rsa.blob).status).toBe('unknown');
    expect(v.knownKeyTypes('web1')).toEqual(['ssh-ed25519']);
  });

  it('ignores @cert-authority lines for plain keys', () => {
    const v = verifierFor(`@cert-authority web1 ${other.type} ${other.base64}\n`);
    expect(v.check('web1', other.blob).status).toBe('unknown');
    expect(v.knownKeyTypes('web1')).toEqual([]);
  });
});

describe('KnownHostsVerifier files', () => {
  it('loads several files, missing ones count as empty', async () => {
    const a = join(dir, 'kh-a');
    writeFileSync(a, `web1 ${web1.type} ${web1.base64}\n`);
    const v = await KnownHostsVerifier.load([join(dir, 'nope', 'known_hosts'), a]);
    expect(v.check('web1', web1.blob).status).toBe('known');
    expect(v.problems).toEqual([]);
  });

  it('appends new keys to the first file, creating it 0600, one whole line per concurrent add', async () => {
    const file = join(dir, 'new', 'known_hosts');
    const v = await KnownHostsVerifier.load([file]);
    const keys = [web1, other, third, web1Rsa];
    const entries = await Promise.all(keys.map((k, i) => v.addHost(`198.18.1.${20 + i}`, k.blob)));
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    expect(lines.sort()).toEqual(keys.map((k, i) => `198.18.1.${20 + i} ${k.type} ${k.base64}`).sort());
    expect(entries.map((e) => e.line).sort()).toEqual([1, 2, 3, 4]);
    const reloaded = await KnownHostsVerifier.load([file]);
    for (const [i, k] of keys.entries()) expect(reloaded.check(`198.18.1.${20 + i}`, k.blob).status).toBe('known');
    expect(v.check('198.18.1.20', web1.blob).status).toBe('known');
  });

  it('adds a newline first when the file lacks a final one', async () => {
    const file = join(dir, 'no-final-newline');
    writeFileSync(file, `web1 ${web1.type} ${web1.base64}`);
    const v = await KnownHostsVerifier.load([file]);
    const entry = await v.addHost('web2', other.blob);
    expect(entry.line).toBe(2);
    expect(readFileSync(file, 'utf8')).toBe(`web1 ${web1.type} ${web1.base64}\nweb2 ${other.type} ${other.base64}\n`);
  });

  it('records a key once when two verifiers of the same file add it at the same time', async () => {
    const file = join(dir, 'kh-twice');
    const [a, b] = await Promise.all([KnownHostsVerifier.load([file]), KnownHostsVerifier.load([file])]);
    const [ea, eb] = await Promise.all([a.addHost('198.18.1.30', web1.blob), b.addHost('198.18.1.30', web1.blob)]);
    expect(readFileSync(file, 'utf8')).toBe(`198.18.1.30 ${web1.type} ${web1.base64}\n`);
    expect([ea.line, eb.line]).toEqual([1, 1]);
  });

  it('never records a changed key', async () => {
    const file = join(dir, 'kh-changed');
    writeFileSync(file, `web1 ${web1.type} ${web1.base64}\n`);
    const v = await KnownHostsVerifier.load([file]);
    await expect(v.addHost('web1', other.blob)).rejects.toThrow(/changed/);
    expect(readFileSync(file, 'utf8')).toBe(`web1 ${web1.type} ${web1.base64}\n`);
  });
});
