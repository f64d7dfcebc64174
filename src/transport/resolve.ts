import { join } from 'node:path';
import { UserInputError } from '../errors.js';
import type { ConnectionVars } from '../inventory/types.js';
import type { KeySource } from './auth-keys.js';
import { expandTokens, parseProxyJump, sshConfigFor, type JumpHostSpec, type SshConfig } from './ssh-config.js';

/**
 * Where and as whom to connect, from the CLI, the inventory and ssh_config.
 *
 * Precedence, highest first: explicit CLI options (-u, --private-key) >
 * inventory vars (ansible_host, ansible_port, ansible_user,
 * ansible_ssh_private_key_file) > ~/.ssh/config > defaults (port 22, the
 * local user name, ~/.ssh/id_{ed25519,ecdsa,rsa}). This is what Ansible does
 * when it sets the options explicitly on the ssh command line.
 *
 * ssh_config Host patterns are matched against the address vipush connects
 * to (ansible_host, else the inventory name), as Ansible passes that name to
 * ssh. Its HostName is used only when the inventory gave no ansible_host.
 */

export type ConnectTarget = ConnectionVars & {
  /** ProxyJump value for this host (`[user@]host[:port]`, comma chain, or `none`); wins over ssh_config */
  proxyJump?: string;
};

export interface ResolveContext {
  home: string;
  localUser: string;
  /** -u */
  cliUser?: string;
  /** --private-key */
  cliPrivateKeyFile?: string;
  /** ansible.cfg remote_user (or ANSIBLE_REMOTE_USER): below the inventory's ansible_user, above ssh_config, as in Ansible */
  configUser?: string;
  /** ansible.cfg private_key_file (or ANSIBLE_PRIVATE_KEY_FILE): below the inventory's key, above ssh_config */
  configPrivateKeyFile?: string;
  sshConfig: SshConfig;
}

export interface Endpoint {
  /** for messages: the inventory name, or the jump host as written */
  label: string;
  address: string;
  port: number;
  user: string;
  keyFiles: KeySource[];
  /** try the default key files (after the agent) because none was named */
  useDefaultKeys: boolean;
}

export interface ResolvedTarget extends Endpoint {
  /** jump hosts, first one connected to directly */
  jumps: Endpoint[];
}

export function defaultKeyFiles(home: string): string[] {
  return ['id_ed25519', 'id_ecdsa', 'id_rsa'].map((name) => join(home, '.ssh', name));
}

function identityFiles(values: string[], host: string, originalHost: string, ctx: ResolveContext, user: string, port: number): KeySource[] {
  return values.map((v) => ({
    path: expandTokens(v, host, originalHost, { home: ctx.home, localUser: ctx.localUser, remoteUser: user, port }),
    explicit: false,
  }));
}

/** A jump host: the spec's user and port win over ssh_config; --private-key is tried before its IdentityFiles. */
export function resolveJumpHost(spec: JumpHostSpec, ctx: ResolveContext): Endpoint {
  const conf = sshConfigFor(ctx.sshConfig, spec.host);
  const address = conf.hostName !== undefined ? expandTokens(conf.hostName, spec.host, spec.host, { home: ctx.home, localUser: ctx.localUser }) : spec.host;
  const port = spec.port ?? conf.port ?? 22;
  const user = spec.user ?? conf.user ?? ctx.localUser;
  const keyFiles: KeySource[] = [];
  if (ctx.cliPrivateKeyFile) keyFiles.push({ path: ctx.cliPrivateKeyFile, explicit: true });
  keyFiles.push(...identityFiles(conf.identityFiles, address, spec.host, ctx, user, port));
  const label = `${spec.user ? `${spec.user}@` : ''}${spec.host}${spec.port ? `:${spec.port}` : ''}`;
  return { label, address, port, user, keyFiles, useDefaultKeys: keyFiles.length === 0 };
}

export function resolveTarget(target: ConnectTarget, ctx: ResolveContext): ResolvedTarget {
  const conf = sshConfigFor(ctx.sshConfig, target.address);
  const inventoryGaveAddress = target.address !== target.host;
  const address =
    !inventoryGaveAddress && conf.hostName !== undefined
      ? expandTokens(conf.hostName, target.address, target.address, { home: ctx.home, localUser: ctx.localUser })
      : target.address;
  const port = target.port ?? conf.port ?? 22;
  const user = ctx.cliUser ?? target.user ?? ctx.configUser ?? conf.user ?? ctx.localUser;
  let keyFiles: KeySource[];
  if (ctx.cliPrivateKeyFile) keyFiles = [{ path: ctx.cliPrivateKeyFile, explicit: true }];
  else if (target.privateKeyFile) keyFiles = [{ path: target.privateKeyFile, explicit: true }];
  else if (ctx.configPrivateKeyFile) keyFiles = [{ path: ctx.configPrivateKeyFile, explicit: true }];
  else keyFiles = identityFiles(conf.identityFiles, address, target.address, ctx, user, port);
  const jumpValue = target.proxyJump ?? conf.proxyJump;
  let specs: JumpHostSpec[] = [];
  try {
    specs = jumpValue === undefined ? [] : parseProxyJump(jumpValue);
  } catch (e) {
    throw new UserInputError(`${target.host}: ${(e as Error).message}`);
  }
  const jumps = specs.map((spec) => resolveJumpHost(spec, ctx));
  return { label: target.host, address, port, user, keyFiles, useDefaultKeys: keyFiles.length === 0, jumps };
}
