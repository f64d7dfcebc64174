import { UserInputError, type Diagnostic } from '../errors.js';
import { oneLineEach } from '../source/diagnostics.js';
import type { Location } from '../source/location.js';
import type { Vars } from './types.js';
import { checkVariableName, show } from './validate.js';
import { splitWords } from './words.js';

export const COMMAND_LINE = '<command line>';

/**
 * The values of `-e`/`--extra-vars`, in order: each holds one or more
 * `KEY=VALUE` pairs separated by blanks, with shell-style quoting
 * (`-e 'msg="two words" n=1'`). Values stay strings, as in Ansible's key=value
 * form. A later pair wins. The location's col is the column of the pair
 * within its -e value.
 */
export function parseExtraVars(args: string[]): Vars {
  const vars: Vars = new Map();
  const problems: Diagnostic[] = [];
  const at = (col: number): Location => ({ file: COMMAND_LINE, line: 1, col });
  for (const arg of args) {
    if (arg.trim() === '') {
      problems.push({ loc: at(1), message: '-e needs KEY=VALUE, got nothing' });
      continue;
    }
    if (arg.startsWith('@')) {
      problems.push({ loc: at(1), message: `-e ${show(arg)}: reading vars from a file is not supported; pass KEY=VALUE pairs` });
      continue;
    }
    // An -e value may be a secret (ansible_become_pass=...): errors name the key and the column, never the value.
    const split = splitWords(arg, { comments: false });
    if ('error' in split) {
      const key = /^\s*([A-Za-z_][A-Za-z0-9_]*)=/.exec(arg)?.[1];
      problems.push({ loc: at(split.col), message: `-e ${key ? show(`${key}=…`) : 'value'}: ${split.error}` });
      continue;
    }
    for (const word of split.words) {
      if (word.equals === 0) {
        problems.push({ loc: at(word.col), message: '-e expects KEY=VALUE, got "=…" with no variable name before "="' });
        continue;
      }
      if (word.equals < 0) {
        problems.push({ loc: at(word.col), message: '-e expects KEY=VALUE, got a word without "=" (not shown: it may be a secret)' });
        continue;
      }
      const key = word.text.slice(0, word.equals);
      const badName = checkVariableName(key);
      if (badName) {
        problems.push({ loc: at(word.col), message: `-e ${badName}` });
        continue;
      }
      vars.set(key, { value: word.text.slice(word.equals + 1), source: at(word.col) });
    }
  }
  if (problems.length > 0) throw new UserInputError(oneLineEach(problems));
  return vars;
}
