import { describeDiff, summarise, type Change } from '../../changes/index.js';
import { rollbackRun, type PlannedUndo, type RollbackResult } from '../../engine/rollback.js';
import { escapeBlock, escapeField } from '../../report/escape.js';
import { listSnapshots, loadSnapshot, stateDir } from '../../state/snapshots.js';
import { ExitCode, UserInputError } from '../../errors.js';
import { loadInventory } from '../../inventory/load.js';
import { limitHosts, selectHosts } from '../../inventory/pattern.js';
import { connectionVars, hostVars } from '../../inventory/vars.js';
import type { Command } from '../command.js';
import { ROLLBACK_HELP } from '../help.js';
import { makeConnector, inventoryWarner } from '../inputs.js';
import { connectionOptions, connectionTimeouts, intOption, requireInventory } from '../options.js';

export const rollbackCommand: Command = {
  name: 'rollback',
  help: ROLLBACK_HELP,
  options: { ...connectionOptions, run: { type: 'string' }, list: { type: 'boolean' }, check: { type: 'boolean', short: 'C' }, force: { type: 'boolean' } },
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
      const allowed = new Set(limitHosts(inventory, selectHosts(inventory, 'all'), values.limit, inventoryWarner()));
      hosts = hosts.filter((h) => allowed.has(h));
    }
    const { connectTimeoutMs, commandTimeoutMs } = connectionTimeouts(values);
    const connect = await makeConnector(values, connectTimeoutMs, commandTimeoutMs);
    const check = !!values.check;
    const force = !!values.force;
    const results = await rollbackRun(snap, hosts, {
      forks: intOption(values, 'forks', 50, 1, 10_000),
      commandTimeoutMs,
      check,
      force,
      // A host no longer in the inventory is reached as the run reached it.
      connect: (host) => connect(inventory.hosts.has(host) ? connectionVars(host, hostVars(inventory, host)) : snap.hosts[host].conn),
      // what each host will get, before anything is written there
      planned: (host, plan) => process.stdout.write(renderPlan(host, plan, force)),
    });
    let failed = 0;
    for (const r of results) {
      const line = check ? checkLine(r, force) : outcomeLine(r);
      if (line.failed) failed++;
      if (line.text) process.stdout.write(`${escapeField(r.host)}: ${line.text}\n`);
    }
    if (check) process.stdout.write(`rollback of ${runId} (check, nothing written): ${results.length - failed} host(s) can be restored, ${failed} cannot\n`);
    else process.stdout.write(`rollback of ${runId}: ${results.length - failed} host(s) restored, ${failed} failed\n`);
    return failed ? ExitCode.hostsFailed : ExitCode.ok;
  },
};

/** What an undo touches, in a few words. */
function item(c: Change): string {
  switch (c.kind) {
    case 'file':
      return c.path;
    case 'sysctl-live':
      return `sysctl ${c.key}`;
    case 'address':
      return `${c.cidr} on ${c.dev}`;
    default:
      return summarise(c);
  }
}

/** Lines of text from a host, each escaped and indented. */
function indented(text: string, by: string): string {
  return escapeBlock(text.replace(/\n$/, ''))
    .split('\n')
    .map((l) => `${by}${l}\n`)
    .join('');
}

/** What an undo does from what the host holds now: a file's diff under its path, a sysctl's "key: now -> restored", an address's ip command. */
function shown(c: Change): string {
  switch (c.kind) {
    case 'file': {
      // the patch from its first --- line (the lines before only repeat the path)
      const patch = describeDiff(c);
      const from = patch.indexOf('--- ');
      return `  ${escapeField(c.path)}:\n${indented(from > 0 ? patch.slice(from) : patch, '    ')}`;
    }
    case 'address':
      return `  ip addr ${escapeField(summarise(c))}\n`;
    default:
      return indented(describeDiff(c), '  ');
  }
}

/** One host's plan: what each undo does from what the host holds now, or why it is left alone. */
function renderPlan(host: string, plan: PlannedUndo[], force: boolean): string {
  let out = `${escapeField(host)}:${plan.length ? '' : ' nothing to undo'}\n`;
  for (const p of plan) {
    const what = escapeField(item(p.step.change));
    if (p.verdict === 'done') out += `  ${what}: already as before\n`;
    else if (p.verdict === 'changed' && !force) out += `  ${what}: not restored: changed since the run\n`;
    else {
      if (p.verdict === 'changed') out += `  ${what}: changed since the run; --force restores it anyway\n`;
      out += shown(p.shown);
    }
  }
  return out;
}

/** The line of a host after its rollback. */
function outcomeLine(r: RollbackResult): { text: string; failed: boolean } {
  if (r.error) return { text: `FAILED: ${escapeField(r.error)}`, failed: true };
  const restored = r.restored.filter((p) => p.verdict !== 'done').map((p) => escapeField(summarise(p.step.change)));
  if (r.failed.length === 0) return { text: `restored ${restored.length ? restored.join('; ') : 'nothing (already as before)'}`, failed: false };
  const why = r.failed.map((f) => `${escapeField(summarise(f.undo.step.change))}: ${escapeField(f.why)}`);
  return { text: `FAILED: ${why.join('; ')}${restored.length ? ` (restored: ${restored.join('; ')})` : ''}`, failed: true };
}

/** The line of a host under --check: only one that cannot be restored gets one (its plan says the rest). */
function checkLine(r: RollbackResult, force: boolean): { text: string; failed: boolean } {
  if (r.error) return { text: `FAILED: ${escapeField(r.error)}`, failed: true };
  return { text: '', failed: !force && r.plan.some((p) => p.verdict === 'changed') };
}
