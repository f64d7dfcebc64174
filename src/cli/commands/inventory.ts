import { ExitCode, UserInputError } from '../../errors.js';
import { inventoryList } from '../../inventory/list.js';
import { loadInventory } from '../../inventory/load.js';
import { limitHosts, selectHosts } from '../../inventory/pattern.js';
import type { Command } from '../command.js';
import { INVENTORY_HELP } from '../help.js';
import { inventoryWarner } from '../inputs.js';
import { connectionOptions, requireInventory } from '../options.js';

export const inventoryCommand: Command = {
  name: 'inventory',
  help: INVENTORY_HELP,
  options: {
    inventory: connectionOptions.inventory,
    limit: connectionOptions.limit,
    list: { type: 'boolean' },
    'playbook-dir': { type: 'string' },
    help: connectionOptions.help,
  },
  async handler({ values, positionals }) {
    if (positionals.length) throw new UserInputError(`vipush inventory: unexpected argument "${positionals[0]}"; see vipush inventory --help`);
    const inv = await loadInventory(requireInventory(values, 'inventory'), {
      playbookDir: typeof values['playbook-dir'] === 'string' ? values['playbook-dir'] : undefined,
    });
    if (values.list) {
      process.stdout.write(JSON.stringify(inventoryList(inv, values.limit as string | undefined, inventoryWarner()), null, 4) + '\n');
      return ExitCode.ok;
    }
    let hosts = selectHosts(inv, 'all');
    if (typeof values.limit === 'string') hosts = limitHosts(inv, hosts, values.limit, inventoryWarner());
    process.stdout.write(hosts.map((h) => `${h}\n`).join(''));
    return ExitCode.ok;
  },
};
