import { rollbackRun } from '../../engine/rollback.js';
import { listSnapshots, loadSnapshot, stateDir } from '../../state/snapshots.js';
import { ExitCode, UserInputError } from '../../errors.js';
import { loadInventory } from '../../inventory/load.js';
import { limitHosts, selectHosts } from '../../inventory/pattern.js';
import { connectionVars, hostVars } from '../../inventory/vars.js';
import { escapeField } from '../../report/escape.js';
import type { Command } from '../command.js';
import { ROLLBACK_HELP } from '../help.js';
import { makeConnector } from '../inputs.js';
import { connectionOptions, connectionTimeouts, intOption, requireInventory } from '../options.js';

export const rollbackCommand: Command = {
  name: 'rollback',
  help: ROLLBACK_HELP,
  options: { ...connectionOptions, run: { type: 'string' }, list: { type: 'boolean' } },
  async handler({ values, positionals }) {
    if (positionals.length) throw new UserInputError(`vipush rollback: unexpected argument "${positionals[0]}"; see vipush rollback --help`);
    if (values.list) {
      const runs = await listSnapshots();
      process.stdout.write(runs.length ? runs.map((r) => `${r}\n`).join('') : `no saved runs in ${stateDir()}\n`);
      return ExitCode.ok;
    }
    const runId = values.run;
    if (typeof runId !== 'string' || !/^[A-Za-z0-9-]+$/.test(runId)) {
      throw new UserInputError('vipush rollback: --run RUN_ID is required (see vipush rollback --list)');
    }
    const inventoryPath = requireInventory(values, 'rollback');
    const inventory = await loadInventory(inventoryPath);
    const snap = await loadSnapshot(runId);
    if (!snap) throw new UserInputError(`vipush rollback: no saved run ${runId} in ${stateDir()} (see vipush rollback --list)`);
    let hosts = Object.keys(snap.hosts);
    if (typeof values.limit === 'string') {
      const allowed = new Set(limitHosts(inventory, selectHosts(inventory, 'all'), values.limit));
      hosts = hosts.filter((h) => allowed.has(h));
    }
    const { connectTimeoutMs, commandTimeoutMs } = connectionTimeouts(values);
    const connect = await makeConnector(values, connectTimeoutMs, commandTimeoutMs);
    const results = await rollbackRun(snap, hosts, {
      forks: intOption(values, 'forks', 50, 1, 10_000),
      commandTimeoutMs,
      // A host no longer in the inventory is reached as the run reached it.
      connect: (host) => connect(inventory.hosts.has(host) ? connectionVars(host, hostVars(inventory, host)) : snap.hosts[host].conn),
    });
    let failed = 0;
    for (const r of results) {
      if (r.error) failed++;
      const outcome = r.error
        ? `FAILED: ${escapeField(r.error)}`
        : `restored ${r.restored.length ? r.restored.map(escapeField).join('; ') : 'nothing (already as before)'}`;
      process.stdout.write(`${escapeField(r.host)}: ${outcome}\n`);
    }
    process.stdout.write(`rollback of ${runId}: ${results.length - failed} host(s) restored, ${failed} failed\n`);
    return failed ? ExitCode.hostsFailed : ExitCode.ok;
  },
};
