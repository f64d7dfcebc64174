import type { ModuleDefinition, TaskPlan } from '../types.js';
import { resolveCommand, type CommandArgs } from './resolve.js';
import { commandArgsSchema } from './schema.js';

export type { CommandArgs } from './resolve.js';

/** `command`: can't be planned beyond creates/removes; it runs whenever those allow. */
export const commandModule: ModuleDefinition<CommandArgs> = {
  schema: commandArgsSchema,
  takesChangedWhen: true,
  resolve: resolveCommand,
  needs(args) {
    return { paths: [args.creates, args.removes].filter((p): p is string => !!p) };
  },
  plan(args, state): TaskPlan {
    const none: TaskPlan = { changes: [], warnings: [], unfixable: [] };
    if (args.creates && state.paths.get(args.creates) === true) return none;
    if (args.removes && state.paths.get(args.removes) !== true) return none;
    return {
      changes: [{ kind: 'command', argv: args.argv, shell: args.shell, reportChanged: args.changedWhen, undo: args.undo, confirm: args.confirm }],
      warnings: [],
      unfixable: [],
    };
  },
};
