#!/usr/bin/env node
// One bundled file, loaded with its code cache (see bundle.js): it starts faster.
import { loadBundle } from './bundle.js';

// A crash is a bug: say so, and never exit 1, which means "a host failed".
const crash = (e) => {
  process.stderr.write(`vipush: internal error (a bug; please report it):\n${e?.stack ?? String(e)}\n`);
  process.exit(70);
};
process.on('uncaughtException', crash);
process.on('unhandledRejection', crash);

await loadBundle().cli(process.argv.slice(2));
