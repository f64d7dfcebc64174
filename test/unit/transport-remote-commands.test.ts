import { spawnSync } from 'node:child_process';
import { chownSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { shQuote } from '../../src/transport/quote.js';
import { commandLine, formatMode, sudoNeedsPassword, withBecome, withRemoteTimeout, writeFileScript } from '../../src/transport/remote-commands.js';

/**
 * The scripts the SSH transport sends, run here by a local sh exactly as
 * sshd would run them: `sh -c <script>`, file bytes on stdin.
 */
function runScript(script: string, stdin?: Buffer, umask = '022') {
  const r = spawnSync('sh', ['-c', `umask ${umask}; sh -c ${shQuote(script)}`], { input: stdin ?? Buffer.alloc(0) });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}

const dir = mkdtempSync(join(tmpdir(), 'vipush-remote-commands-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const isRoot = process.getuid?.() === 0;
const everyByte = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
/** A name a careless script would split, glob or run: spaces, quotes, $(), a newline, a leading dash. */
const hostileName = `-x 'q' "d" $(touch pwned) \`b\` *\nend`;

function tempFilesIn(path: string): string[] {
  return readdirSync(path).filter((n) => n.startsWith('.vipush-tmp.'));
}

describe('commandLine and withBecome', () => {
  it('quotes argv and passes a script as one sh -c word', () => {
    expect(commandLine({ argv: ['sysctl', '-n', 'net.ipv4.conf.all.arp_ignore'] })).toBe('sysctl -n net.ipv4.conf.all.arp_ignore');
    expect(commandLine({ argv: ['echo', "it's $(x)"] })).toBe(`echo 'it'\\''s $(x)'`);
    expect(commandLine({ script: 'a && b' })).toBe(`sh -c 'a && b'`);
    expect(() => commandLine({ argv: [] })).toThrow(/empty/);
  });

  it('wraps in sudo -n only when the user differs', () => {
    expect(withBecome('id -u', { enabled: true, user: 'root', connectedUser: 'deploy' })).toEqual({ line: `sudo -n -u root -- sh -c 'id -u'`, sudo: true });
    expect(withBecome('id -u', { enabled: true, user: 'root', connectedUser: 'root' })).toEqual({ line: 'id -u', sudo: false });
    expect(withBecome('id -u', { enabled: false, user: 'root', connectedUser: 'deploy' })).toEqual({ line: 'id -u', sudo: false });
  });

  it('keeps argv intact through the sudo wrapper (sudo replaced by env to run it here)', () => {
    const argv = ['printf', '%s|', 'a b', "it's", '$(id)', '`x`', 'new\nline'];
    const { line } = withBecome(commandLine({ argv }), { enabled: true, user: 'nobody', connectedUser: 'root' });
    expect(line.startsWith('sudo -n -u nobody -- sh -c ')).toBe(true);
    const asEnv = line.replace(/^sudo -n -u nobody -- /, 'env -- ');
    expect(runScript(asEnv).stdout.toString()).toBe(argv.slice(2).map((a) => `${a}|`).join(''));
  });

  it('gives a command its own deadline on the host, one second after the transport\'s', () => {
    expect(withRemoteTimeout('true', 0)).toBe('true');
    const line = withRemoteTimeout(`sh -c 'sleep 30; echo after'`, 400);
    expect(line).toContain('exec timeout -k 2 2 sh -c ');
    const started = Date.now();
    const r = runScript(line);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(r.code).toBe(124);
    expect(r.stdout.toString()).toBe('');
    expect(runScript(withRemoteTimeout(commandLine({ argv: ['printf', '%s', "a 'b' $(c)"] }), 5_000)).stdout.toString()).toBe("a 'b' $(c)");
  });

  it("recognises sudo -n's password messages", () => {
    expect(sudoNeedsPassword('sudo: a password is required\n')).toBe(true);
    expect(sudoNeedsPassword('sudo: a terminal is required to read the password; either use the -S option')).toBe(true);
    expect(sudoNeedsPassword('sudo: unknown user nobody2')).toBe(false);
  });

  it('formats modes as four octal digits and refuses nonsense', () => {
    expect(formatMode(0o640)).toBe('0640');
    expect(formatMode(0o4755)).toBe('4755');
    expect(() => formatMode(0o10000)).toThrow();
    expect(() => formatMode(1.5)).toThrow();
  });
});

describe('writeFileScript', () => {
  it('creates a new file with the bytes from stdin and umask-style mode', () => {
    const file = join(dir, 'new-file');
    const r = runScript(writeFileScript(file), everyByte, '027');
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(readFileSync(file).equals(everyByte)).toBe(true);
    expect(statSync(file).mode & 0o7777).toBe(0o640);
    expect(tempFilesIn(dir)).toEqual([]);
  });

  it('applies the mode given for a new file', () => {
    const file = join(dir, 'new-with-mode');
    expect(runScript(writeFileScript(file, { mode: 0o600 }), Buffer.from('x')).code).toBe(0);
    expect(statSync(file).mode & 0o7777).toBe(0o600);
  });

  it('writes an empty file', () => {
    const file = join(dir, 'empty');
    writeFileSync(file, 'old');
    expect(runScript(writeFileScript(file)).code).toBe(0);
    expect(readFileSync(file).length).toBe(0);
  });

  it.runIf(isRoot)('keeps the mode and owner of an existing file', () => {
    const file = join(dir, 'existing');
    writeFileSync(file, 'old\n', { mode: 0o640 });
    chownSync(file, 65534, 65534);
    const before = statSync(file);
    expect(runScript(writeFileScript(file), Buffer.from('new\n')).code).toBe(0);
    const after = statSync(file);
    expect(readFileSync(file, 'utf8')).toBe('new\n');
    expect(after.mode & 0o7777).toBe(0o640);
    expect([after.uid, after.gid]).toEqual([65534, 65534]);
    expect(after.ino).not.toBe(before.ino); // replaced by rename, not rewritten in place
  });

  it.runIf(isRoot)('applies an owner given as user:group', () => {
    const file = join(dir, 'owned');
    expect(runScript(writeFileScript(file, { owner: 'nobody:nogroup', mode: 0o644 }), Buffer.from('x')).code).toBe(0);
    expect([statSync(file).uid, statSync(file).gid]).toEqual([65534, 65534]);
  });

  it('replaces the file a symlink points to and keeps the link', () => {
    const target = join(dir, 'sysctl.conf');
    const link = join(dir, '99-sysctl.conf');
    writeFileSync(target, 'old\n', { mode: 0o644 });
    symlinkSync('sysctl.conf', link);
    expect(runScript(writeFileScript(link), Buffer.from('new\n')).code).toBe(0);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readlinkSync(link)).toBe('sysctl.conf');
    expect(readFileSync(target, 'utf8')).toBe('new\n');
  });

  it('leaves the target and no temp file behind when a step fails', () => {
    const file = join(dir, 'keep-on-failure');
    writeFileSync(file, 'precious\n');
    const r = runScript(writeFileScript(file, { owner: 'no-such-user-vipush' }), Buffer.from('new\n'));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/invalid user|no-such-user/);
    expect(readFileSync(file, 'utf8')).toBe('precious\n');
    expect(tempFilesIn(dir)).toEqual([]);
  });

  it('fails cleanly when the directory does not exist', () => {
    const r = runScript(writeFileScript(join(dir, 'no-such-dir', 'f')), Buffer.from('x'));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/mktemp/);
  });

  it('writes a file with a hostile name and runs nothing from it', () => {
    const sub = join(dir, 'hostile-write');
    mkdirSync(sub);
    expect(runScript(writeFileScript(join(sub, hostileName)), Buffer.from('ok')).code).toBe(0);
    expect(readdirSync(sub)).toEqual([hostileName]);
    expect(readFileSync(join(sub, hostileName), 'utf8')).toBe('ok');
  });

  it('refuses an owner that is not user or user:group', () => {
    expect(() => writeFileScript('/x', { owner: '-R root' })).toThrow(/owner/);
    expect(() => writeFileScript('/x', { owner: 'a:b:c' })).toThrow(/owner/);
  });
});
