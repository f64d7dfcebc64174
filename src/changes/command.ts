import { shJoin } from '../remote/quote.js';
import type { ChangeKind, CommandChange, ExecChange } from './types.js';

/** A user's command: it runs whenever the module plans it, and only its `undo` can revert it. */
export const commandKind: ChangeKind<CommandChange> = {
  simulate() {},
  inverse(c) {
    return c.undo ? { kind: 'command', argv: c.undo.argv, shell: c.undo.shell, reportChanged: true } : undefined;
  },
  stepArgv(c) {
    return c.argv ? ['vp_sub', ...c.argv] : ['sh', '-c', c.shell ?? 'true'];
  },
  mayHang: true,
  diff(c) {
    return `run: ${c.argv ? shJoin(c.argv) : c.shell}\n`;
  },
  summary(c) {
    return `run ${c.argv ? shJoin(c.argv) : c.shell}`;
  },
  drift() {
    return undefined;
  },
};

/** A program vipush itself runs for a module (a network stack's reload, say): nothing to undo. */
export const execKind: ChangeKind<ExecChange> = {
  simulate() {},
  inverse() {
    return undefined;
  },
  stepArgv(c) {
    return ['vp_sub', ...c.argv];
  },
  mayHang: true,
  diff(c) {
    return `run: ${shJoin(c.argv)} (${c.why})\n`;
  },
  summary(c) {
    return `run ${shJoin(c.argv)}`;
  },
  drift() {
    return undefined;
  },
};
