import { parseArgs, type ParseArgsConfig } from 'node:util';
import { suggest } from '../config/suggest.js';
import { UserInputError } from '../errors.js';
import type { Values } from './options.js';

/** What a handler gets: the parsed options and positionals, and the arguments as they were given. */
export interface CommandArgs {
  values: Values;
  positionals: string[];
  argv: string[];
}

/**
 * A subcommand as data: main.ts parses `options`, answers --help with `help`,
 * and otherwise calls `handler`, whose number is the exit code. A handler
 * throws UserInputError for what the user can fix; cli() reports it.
 */
export interface Command {
  name: string;
  options: NonNullable<ParseArgsConfig['options']>;
  help: string;
  handler(args: CommandArgs): Promise<number>;
}

/** Parses a command's arguments; an unknown option gets a suggestion from that command's own options. */
export function parseCommandArgs(command: Command, argv: string[]): CommandArgs {
  const { name, options } = command;
  try {
    const r = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    return { values: r.values as Values, positionals: r.positionals, argv };
  } catch (e) {
    const msg = (e as Error).message;
    const m = /Unknown option '(-{1,2}[^']+)'/.exec(msg);
    if (m) {
      const near = suggest(m[1].replace(/^-+/, ''), Object.keys(options));
      throw new UserInputError(`vipush ${name}: unknown option ${m[1]}${near ? ` (did you mean --${near}?)` : ''}; see vipush ${name} --help`);
    }
    throw new UserInputError(`vipush ${name}: ${msg.split('\n')[0]}; see vipush ${name} --help`);
  }
}
