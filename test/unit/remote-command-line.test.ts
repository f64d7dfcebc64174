import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { shQuote } from '../../src/remote/quote.js';
import { commandLine, sudoNeedsPassword, withBecome, withRemoteTimeout } from '../../src/remote/command-line.js';

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

const _isRoot = process.getuid?.() === 0;
const _everyByte = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
/** A name a careless script would split, glob or run: spaces, quotes, $(), a newline, a leading dash. */
const _hostileName = `-x 'q' "d" $(touch pwned) \`b\` *\nend`;

function _tempFilesIn(path: string): string[] {
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
    expect(runScript(asEnv).stdout.toString()).toBe(
      argv
        .slice(2)
        .map((a) => `${a}|`)
        .join(''),
    );
  });

  it("gives a command its own deadline on the host, one second after the transport's", () => {
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
});
