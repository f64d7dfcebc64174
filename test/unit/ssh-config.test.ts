import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UserInputError } from '../../src/errors.js';
import { expandTokens, loadSshConfig, parseProxyJump, parseSshConfig, sshConfigFor } from '../../src/transport/ssh-config.js';

const home = '/home/alice';
const parse = (text: string, includes: Record<string, string> = {}) =>
  parseSshConfig(text, '/home/alice/.ssh/config', { home, readInclude: (p) => includes[p] ?? null });

describe('parseSshConfig / sshConfigFor', () => {
  const config = parse(`
# global options come first and apply to every host
Port 2200

Host web* !web9
    HostName %h.prod.example
    User deploy
    IdentityFile ~/.ssh/deploy_key
    IdentityFile "/keys/with space"

Host web1
    User ignored-because-first-value-wins
    Port 9999
    ProxyJump admin@bastion:2222

host=db?
  user=dba
  PORT = 2022

Host *
    User fallback
    IdentityFile %d/.ssh/id_%r
    UnknownOption whatever
`);

  it('takes the first value of each keyword, collecting IdentityFile', () => {
    expect(sshConfigFor(config, 'web1')).toEqual({
      hostName: '%h.prod.example',
      user: 'deploy',
      port: 2200,
      identityFiles: ['~/.ssh/deploy_key', '/keys/with space', '%d/.ssh/id_%r'],
      proxyJump: 'admin@bastion:2222',
    });
  });

  it('honours negated Host patterns', () => {
    const web9 = sshConfigFor(config, 'web9');
    expect(web9.user).toBe('fallback');
    expect(web9.hostName).toBeUndefined();
  });

  it('reads key=value, any keyword case, and ? wildcards', () => {
    expect(sshConfigFor(config, 'db1')).toMatchObject({ user: 'dba', port: 2200 });
    expect(sshConfigFor(config, 'db12')).toMatchObject({ user: 'fallback' });
  });

  it('ignores Match blocks until the next Host', () => {
    const c = parse(`Match user bob\n  User from-match\nHost *\n  User from-host\n`);
    expect(sshConfigFor(c, 'x').user).toBe('from-host');
  });

  it('follows Include, relative to ~/.ssh, inside the Host block it appears in', () => {
    const c = parse(`Host web*\n  Include conf.d/web.conf\nHost *\n  Include /etc/ssh/extra.conf\n`, {
      '/home/alice/.ssh/conf.d/web.conf': 'User web-user\nHost web2\n  Port 2202\n',
      '/etc/ssh/extra.conf': 'User everyone\n',
    });
    expect(sshConfigFor(c, 'web1')).toMatchObject({ user: 'web-user' });
    expect(sshConfigFor(c, 'web1').port).toBeUndefined();
    expect(sshConfigFor(c, 'web2')).toMatchObject({ user: 'web-user', port: 2202 });
    expect(sshConfigFor(c, 'db1')).toMatchObject({ user: 'everyone' });
  });

  it('stops Include loops', () => {
    expect(() => parse('Include loop.conf\n', { '/home/alice/.ssh/loop.conf': 'Include loop.conf\n' })).toThrow(/nested more than 16/);
  });

  it('reports a bad Port as file:line', () => {
    const c = parse('Host a\n  Port eighty\n');
    expect(() => sshConfigFor(c, 'a')).toThrow(UserInputError);
    expect(() => sshConfigFor(c, 'a')).toThrow(/^\/home\/alice\/\.ssh\/config:2:1: Port "eighty"/);
  });

  it('reports unbalanced quotes as file:line', () => {
    expect(() => parse('IdentityFile "/x\n')).toThrow(/config:1:1: IdentityFile: missing value or unbalanced quotes/);
  });
});

describe('loadSshConfig', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vipush-ssh-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('treats a missing file as empty', () => {
    expect(loadSshConfig(join(dir, 'nope'), dir).options).toEqual([]);
  });

  it('expands Include globs from the file system in sorted order', () => {
    mkdirSync(join(dir, '.ssh', 'config.d'), { recursive: true });
    writeFileSync(join(dir, '.ssh', 'config.d', '20-b.conf'), 'User second\n');
    writeFileSync(join(dir, '.ssh', 'config.d', '10-a.conf'), 'User first\n');
    writeFileSync(join(dir, '.ssh', 'config'), 'Include config.d/*.conf\n');
    expect(sshConfigFor(loadSshConfig(join(dir, '.ssh', 'config'), dir), 'any').user).toBe('first');
  });
});

describe('expandTokens', () => {
  it('expands ~ and the % tokens', () => {
    const t = { home, localUser: 'alice', remoteUser: 'deploy', port: 2222 };
    expect(expandTokens('~/.ssh/id_%r_%h', 'web1', 'w1', t)).toBe('/home/alice/.ssh/id_deploy_web1');
    expect(expandTokens('%d/%u/%n/%p/100%%', 'web1', 'w1', t)).toBe('/home/alice/alice/w1/2222/100%');
  });
});

describe('parseProxyJump', () => {
  it('reads user@host:port chains, ssh:// URIs, IPv6 and none', () => {
    expect(parseProxyJump('none')).toEqual([]);
    expect(parseProxyJump('bastion')).toEqual([{ user: undefined, host: 'bastion', port: undefined }]);
    expect(parseProxyJump('admin@jump1:2222,jump2')).toEqual([
      { user: 'admin', host: 'jump1', port: 2222 },
      { user: undefined, host: 'jump2', port: undefined },
    ]);
    expect(parseProxyJump('ssh://ops@[2001:db8::1]:22')).toEqual([{ user: 'ops', host: '2001:db8::1', port: 22 }]);
    expect(parseProxyJump('2001:db8::1')).toEqual([{ user: undefined, host: '2001:db8::1', port: undefined }]);
  });

  it('refuses bad ports and empty parts', () => {
    expect(() => parseProxyJump('jump:99999')).toThrow(/bad port/);
    expect(() => parseProxyJump('@jump')).toThrow(/user@/);
  });
});
