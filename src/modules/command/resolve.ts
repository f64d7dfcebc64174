import { pathProblem } from '../../net/values.js';
import type { ArgProblems, TaskKeywords } from '../types.js';

export interface CommandArgs {
  argv?: string[];
  shell?: string;
  creates?: string;
  removes?: string;
  /** how to undo this command: used by rollback and the dead-man switch */
  undo?: { argv?: string[]; shell?: string };
  /** the command can cut vipush off: arm the dead-man switch around it */
  confirm?: boolean;
  changedWhen: boolean;
}

export function argvOf(list: unknown[]): string[] {
  return list.map((item) => String(item));
}

export function resolveCommand(args: unknown, problems: ArgProblems, keywords: TaskKeywords): CommandArgs {
  const changed = keywords.changedWhen ?? true;
  if (Array.isArray(args)) return { argv: argvOf(args), changedWhen: changed };
  if (typeof args === 'string') return { shell: args, changedWhen: changed };
  const map = args as { argv?: unknown[]; shell?: string; creates?: string; removes?: string; undo?: unknown[] | string; confirm?: boolean };
  if (map.confirm && map.undo === undefined)
    problems.error('/confirm', '`confirm: true` needs `undo`: the command that reverts this one if vipush cannot reconnect');
  if (map.argv === undefined && map.shell === undefined) problems.error('', '`command` needs `argv` (a list) or `shell` (a string)');
  if (map.argv !== undefined && map.shell !== undefined) problems.error('/shell', '`command` takes `argv` or `shell`, not both');
  for (const key of ['creates', 'removes'] as const) {
    const path = map[key];
    const problem = path === undefined ? undefined : pathProblem(path);
    if (problem) problems.error(`/${key}`, `\`${key}\` ${problem}`);
  }
  return {
    ...(map.argv !== undefined ? { argv: argvOf(map.argv) } : {}),
    ...(map.shell !== undefined ? { shell: map.shell } : {}),
    ...(map.creates !== undefined ? { creates: map.creates } : {}),
    ...(map.removes !== undefined ? { removes: map.removes } : {}),
    ...(Array.isArray(map.undo) ? { undo: { argv: argvOf(map.undo) } } : typeof map.undo === 'string' ? { undo: { shell: map.undo } } : {}),
    confirm: map.confirm ?? false,
    changedWhen: changed,
  };
}
