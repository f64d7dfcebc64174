import { preparePlays } from '../../engine/run.js';
import { ExitCode } from '../../errors.js';
import { parseExtraVars } from '../../inventory/vars.js';
import type { Command } from '../command.js';
import { VALIDATE_HELP } from '../help.js';
import { inventoryWarner, loadInputs } from '../inputs.js';
import { connectionOptions, extraVarsOption, requireInventory, requirePlaybook } from '../options.js';

export const validateCommand: Command = {
  name: 'validate',
  help: VALIDATE_HELP,
  options: {
    inventory: connectionOptions.inventory,
    limit: connectionOptions.limit,
    'extra-vars': connectionOptions['extra-vars'],
    help: connectionOptions.help,
  },
  async handler({ values, positionals }) {
    const { playbook, inventory } = await loadInputs(requirePlaybook(positionals, 'validate'), requireInventory(values, 'validate'));
    const plays = preparePlays(playbook, inventory, {
      limit: values.limit as string | undefined,
      extraVars: parseExtraVars(extraVarsOption(values)),
      warn: inventoryWarner(),
    });
    const hosts = new Set(plays.flatMap((p) => p.hosts.map((h) => h.name)));
    const tasks = plays.reduce((n, p) => n + p.play.tasks.length, 0);
    process.stdout.write(`${playbook.file}: ${plays.length} play(s), ${tasks} task(s), ${hosts.size} host(s): valid\n`);
    return ExitCode.ok;
  },
};
