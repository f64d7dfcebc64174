import { suggest } from '../config/suggest.js';
import { ExitCode, UserInputError, formatDiagnostic } from '../errors.js';
import { parseCommandArgs, type Command } from './command.js';
import { inventoryCommand } from './commands/inventory.js';
import { mergeReportsCommand } from './commands/merge-reports.js';
import { rollbackCommand } from './commands/rollback.js';
import { driftCommand, runCommand } from './commands/run.js';
import { scheduleCommand } from './commands/schedule.js';
import { validateCommand } from './commands/validate.js';
import { exitCodeFor } from './exit.js';
import { MAIN_HELP } from './help.js';
import { RunLockedError } from './lock.js';
import { installSignalHandlers } from './signals.js';

/** Every subcommand. A mistyped name is suggested the nearest; ties go to the earlier one. */
const commands: readonly Command[] = [runCommand, driftCommand, validateCommand, scheduleCommand, mergeReportsCommand, rollbackCommand, inventoryCommand];

function help(text: string): number {
  process.stdout.write(text);
  return ExitCode.ok;
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') return help(MAIN_HELP);
  if (cmd === '--version') {
    process.stdout.write('vipush 0.1.0\n');
    return ExitCode.ok;
  }
  const command = commands.find((c) => c.name === cmd);
  if (!command) {
    const near = suggest(
      cmd,
      commands.map((c) => c.name),
    );
    throw new UserInputError(`unknown command "${cmd}"${near ? ` (did you mean "${near}"?)` : ''}; see vipush --help`);
  }
  const args = parseCommandArgs(command, rest);
  if (args.values.help) return help(command.help);
  return command.handler(args);
}

/** The one top-level catch: user errors become one line each and an exit code; bugs keep their stack. */
export async function cli(argv: string[]): Promise<void> {
  installSignalHandlers();
  let code: number;
  try {
    code = await main(argv);
  } catch (e) {
    code = exitCodeFor(e);
    if (e instanceof UserInputError) process.stderr.write(e.diagnostics.map((d) => `vipush: ${formatDiagnostic(d)}`).join('\n') + '\n');
    else if (e instanceof RunLockedError) process.stderr.write(`vipush: ${e.message}\n`);
    else process.stderr.write(`vipush: internal error (a bug; please report it):\n${(e as Error)?.stack ?? String(e)}\n`);
  }
  process.exitCode = code;
}
