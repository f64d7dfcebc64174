import { suggest } from '../config/suggest.js';
import { applyAnsibleConfig } from './ansible-cfg.js';
import { ExitCode, UserInputError, formatDiagnostic } from '../errors.js';
import { escapeBlock, escapeField } from '../report/escape.js';
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
  if ('inventory' in command.options) {
    await applyAnsibleConfig(args.values, command.options, (line) => void process.stderr.write(`vipush: note: ${line}\n`));
  }
  return command.handler(args);
}

/**
 * A bug's stack, shown escaped: its message may quote a host. The message stays on one line, so that a
 * newline in it cannot forge a line; the frames below it keep theirs.
 */
function internalError(e: unknown): string {
  if (!(e instanceof Error)) return escapeField(String(e));
  const head = `${e.name}: ${e.message}`;
  const stack = e.stack ?? head;
  return stack.startsWith(head) ? escapeField(head) + escapeBlock(stack.slice(head.length)) : escapeBlock(stack);
}

/** What stderr says about an error that ended the command: user errors one line each, bugs with their stack; all of it escaped. */
export function errorText(e: unknown): string {
  // escapeBlock: each line of a diagnostic escaped (schedule --install's has a cron line under it on purpose)
  if (e instanceof UserInputError) return e.diagnostics.map((d) => `vipush: ${escapeBlock(formatDiagnostic(d))}`).join('\n') + '\n';
  if (e instanceof RunLockedError) return `vipush: ${escapeField(e.message)}\n`;
  return `vipush: internal error (a bug; please report it):\n${internalError(e)}\n`;
}

/** The one top-level catch: an error becomes its text on stderr and an exit code. */
export async function cli(argv: string[]): Promise<void> {
  installSignalHandlers();
  let code: number;
  try {
    code = await main(argv);
  } catch (e) {
    code = exitCodeFor(e);
    process.stderr.write(errorText(e));
  }
  process.exitCode = code;
}
