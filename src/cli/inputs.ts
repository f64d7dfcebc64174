import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { loadPlaybook } from '../config/playbook.js';
import type { Connector } from '../engine/run.js';
import { UserInputError } from '../errors.js';
import { loadInventory } from '../inventory/load.js';
import { escapeField } from '../report/escape.js';
import type { Inventory } from '../inventory/types.js';
import { KnownHostsVerifier } from '../transport/known-hosts.js';
import { connectHost, RunConnections, type TransportLogger } from '../transport/ssh/index.js';
import { CONFIG_PRIVATE_KEY, CONFIG_USER } from './ansible-cfg.js';
import type { Values } from './options.js';

/** Loads the playbook and the inventory (with the playbook's group_vars/ and host_vars/); errors from both are reported together. */
export async function loadInputs(playbookPath: string, inventorySources: readonly string[]) {
  const [pb, inv] = await Promise.allSettled([loadPlaybook(playbookPath), loadInventory(inventorySources, { playbookDir: dirname(playbookPath) })]);
  const errors = [pb, inv].filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as unknown);
  if (errors.length > 0) {
    const diags = errors.flatMap((e) => (e instanceof UserInputError ? e.diagnostics : []));
    if (diags.length !== errors.length || errors.some((e) => !(e instanceof UserInputError))) {
      const bug = errors.find((e) => !(e instanceof UserInputError));
      if (bug) throw bug;
    }
    throw new UserInputError(diags);
  }
  return {
    playbook: (pb as PromiseFulfilledResult<Awaited<ReturnType<typeof loadPlaybook>>>).value,
    inventory: (inv as PromiseFulfilledResult<Inventory>).value,
  };
}

/** Warnings about the inventory (a --limit term that matches nothing), each once, on stderr. */
export function inventoryWarner(): (message: string) => void {
  const said = new Set<string>();
  return (message) => {
    if (said.has(message)) return;
    said.add(message);
    process.stderr.write(`vipush: warning: ${escapeField(message)}\n`);
  };
}

/** The transport's log: warnings on stderr, escaped, since one may quote a host (the text of an sshd's DISCONNECT). */
export const transportLogger: TransportLogger = {
  debug: () => undefined,
  warn: (m) => void process.stderr.write(`vipush: warning: ${escapeField(m)}\n`),
};

/** One connector per run: known_hosts is parsed once, and jump host connections are shared, by every connection. */
export async function makeConnector(values: Values, connectTimeoutMs: number, commandTimeoutMs: number): Promise<Connector> {
  const home = process.env.HOME || homedir();
  const knownHostsFiles = typeof values['known-hosts'] === 'string' ? [values['known-hosts']] : [join(home, '.ssh', 'known_hosts'), '/etc/ssh/ssh_known_hosts'];
  const knownHosts = await KnownHostsVerifier.load(knownHostsFiles);
  const connections = new RunConnections();
  return (conn) =>
    connectHost(conn, {
      knownHostsFiles,
      knownHosts,
      connections,
      acceptNewHostKeys: !!values['accept-new-host-keys'],
      privateKeyFile: values['private-key'] as string | undefined,
      user: values.user as string | undefined,
      configUser: values[CONFIG_USER] as string | undefined,
      configPrivateKeyFile: values[CONFIG_PRIVATE_KEY] as string | undefined,
      connectTimeoutMs,
      commandTimeoutMs,
      logger: transportLogger,
    });
}
