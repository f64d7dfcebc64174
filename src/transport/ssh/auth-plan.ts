import type { AnyAuthMethod } from 'ssh2';
import { HostError } from '../../errors.js';
import { agentSocket, loadPrivateKey, PASSPHRASE_ENV, type PassphrasePrompt } from '../auth-keys.js';
import { defaultKeyFiles, type Endpoint } from '../resolve.js';

/** Where keys come from: HOME for the default key files, SSH_AUTH_SOCK and the passphrase in env. */
export interface KeySources {
  env: NodeJS.ProcessEnv;
  home: string;
  prompt?: PassphrasePrompt;
}

export interface AuthPlan {
  methods: { label: string; method: AnyAuthMethod }[];
  /** keys that could not be offered, and why */
  skipped: string[];
}

/** Key files first (named ones), then ssh-agent, then the default key files if none was named. */
export async function planAuth(endpoint: Endpoint, keys: KeySources, host: string): Promise<AuthPlan> {
  const plan: AuthPlan = { methods: [], skipped: [] };
  const addKey = async (path: string, explicit: boolean) => {
    const load = await loadPrivateKey(path, keys.env, keys.prompt);
    switch (load.status) {
      case 'ok':
        plan.methods.push({ label: path, method: { type: 'publickey', username: endpoint.user, key: load.key } });
        return;
      case 'missing':
        if (explicit) throw new HostError(host, 'auth', `private key file ${path} does not exist`);
        return;
      case 'locked':
        plan.skipped.push(`${path} (encrypted: set ${PASSPHRASE_ENV} or run where vipush can prompt)`);
        return;
      case 'bad-passphrase':
        throw new HostError(host, 'auth', `cannot decrypt private key ${path}: wrong passphrase${load.source === 'env' ? ` (from ${PASSPHRASE_ENV})` : ''}`);
      case 'unreadable':
        if (explicit) throw new HostError(host, 'auth', `cannot use private key ${path}: ${load.reason}`);
        plan.skipped.push(`${path} (${load.reason})`);
    }
  };
  for (const source of endpoint.keyFiles) await addKey(source.path, source.explicit);
  const agent = await agentSocket(keys.env);
  if (agent) plan.methods.push({ label: 'ssh-agent (SSH_AUTH_SOCK)', method: { type: 'agent', username: endpoint.user, agent } });
  if (endpoint.useDefaultKeys) for (const path of defaultKeyFiles(keys.home)) await addKey(path, false);
  return plan;
}
