import type { CommandArgs } from '../config/types.js';
import type { Module, TaskPlan } from './types.js';

/** Commands can't be planned beyond creates/removes; they run whenever those allow. */
export const commandModule: Module<CommandArgs> = {
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
