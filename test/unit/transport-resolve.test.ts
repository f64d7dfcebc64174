import { describe, expect, it } from 'vitest';
import { UserInputError } from '../../src/errors.js';
import { resolveTarget, type ConnectTarget, type ResolveContext } from '../../src/transport/resolve.js';
import { parseSshConfig } from '../../src/transport/ssh-config.js';

const home = '/home/alice';
const sshConfig = parseSshConfig(
  `
Host web1 web2 bastion
  HostName %h.internal
  User cfg-user
  Port 2222
  IdentityFile ~/.ssh/cfg_%r
Host web2
  ProxyJump ops@bastion,jump2:2200
Host 198.18.1.*
  User by-address
`,
  '/home/alice/.ssh/config',
  { home },
);

function ctx(over: Partial<ResolveContext> = {}): ResolveContext {
  return { home, localUser: 'alice', sshConfig, ...over };
}

function target(over: Partial<ConnectTarget> & { host: string }): ConnectTarget {
  return { address: over.host, become: false, ...over };
}

describe('resolveTarget precedence: CLI > inventory > ssh_config > defaults', () => {
  it('uses ssh_config when the inventory says nothing', () => {
    const r = resolveTarget(target({ host: 'web1' }), ctx());
    expect(r).toMatchObject({ label: 'web1', address: 'web1.internal', port: 2222, user: 'cfg-user', useDefaultKeys: false, jumps: [] });
    expect(r.keyFiles).toEqual([{ path: '/home/alice/.ssh/cfg_cfg-user', explicit: false }]);
  });

  it('puts ansible.cfg remote_user and private_key_file below the inventory and above ssh_config', () => {
    const cfg = ctx({ configUser: 'cfg-remote', configPrivateKeyFile: '/keys/cfg' });
    const fromCfg = resolveTarget(target({ host: 'web1' }), cfg);
    expect(fromCfg.user).toBe('cfg-remote');
    expect(fromCfg.keyFiles).toEqual([{ path: '/keys/cfg', explicit: true }]);
    const fromInventory = resolveTarget(target({ host: 'web1', user: 'inv-user', privateKeyFile: '/keys/inv' }), cfg);
    expect(fromInventory.user).toBe('inv-user');
    expect(fromInventory.keyFiles).toEqual([{ path: '/keys/inv', explicit: true }]);
    expect(resolveTarget(target({ host: 'web1', user: 'inv-user' }), { ...cfg, cliUser: 'cli' }).user).toBe('cli');
  });

  it('lets inventory vars win over ssh_config', () => {
    const r = resolveTarget(target({ host: 'web1', port: 22, user: 'inv-user', privateKeyFile: '/keys/inv' }), ctx());
    expect(r).toMatchObject({ port: 22, user: 'inv-user' });
    expect(r.keyFiles).toEqual([{ path: '/keys/inv', explicit: true }]);
  });

  it('lets CLI options win over the inventory', () => {
    const r = resolveTarget(
      target({ host: 'web1', user: 'inv-user', privateKeyFile: '/keys/inv' }),
      ctx({ cliUser: 'cli-user', cliPrivateKeyFile: '/keys/cli' }),
    );
    expect(r.user).toBe('cli-user');
    expect(r.keyFiles).toEqual([{ path: '/keys/cli', explicit: true }]);
  });

  it('matches ssh_config against ansible_host and keeps ansible_host over HostName', () => {
    const r = resolveTarget(target({ host: 'web1', address: '198.18.1.11' }), ctx());
    expect(r).toMatchObject({ label: 'web1', address: '198.18.1.11', port: 22, user: 'by-address', useDefaultKeys: true });
  });

  it('falls back to port 22, the local user and the default keys', () => {
    const r = resolveTarget(target({ host: 'db1' }), ctx());
    expect(r).toMatchObject({ address: 'db1', port: 22, user: 'alice', keyFiles: [], useDefaultKeys: true });
  });

  it('resolves ProxyJump chains, each hop through ssh_config', () => {
    const r = resolveTarget(target({ host: 'web2' }), ctx({ cliPrivateKeyFile: '/keys/cli' }));
    expect(r.jumps.map((j) => ({ label: j.label, address: j.address, port: j.port, user: j.user }))).toEqual([
      { label: 'ops@bastion', address: 'bastion.internal', port: 2222, user: 'ops' },
      { label: 'jump2:2200', address: 'jump2', port: 2200, user: 'alice' },
    ]);
    expect(r.jumps[0].keyFiles.map((k) => k.path)).toEqual(['/keys/cli', '/home/alice/.ssh/cfg_ops']);
  });

  it('takes the inventory ProxyJump over ssh_config, and none turns it off', () => {
    expect(resolveTarget(target({ host: 'web2', proxyJump: 'none' }), ctx()).jumps).toEqual([]);
    expect(resolveTarget(target({ host: 'web2', proxyJump: 'root@198.18.1.11' }), ctx()).jumps.map((j) => j.address)).toEqual(['198.18.1.11']);
  });

  it('reports a bad ProxyJump as the user input error it is', () => {
    expect(() => resolveTarget(target({ host: 'web1', proxyJump: 'jump:0' }), ctx())).toThrow(UserInputError);
  });
});
