#!/usr/bin/env node
// One bundled module (built by `npm run build`; see esbuild.mjs): it starts faster.
import { cli } from '../dist/vipush.mjs';

// A crash is a bug: say so, and never exit 1, which means "a host failed".
const crash = (e) => {
  process.stderr.write(`vipush: internal error (a bug; please report it):\n${e?.stack ?? String(e)}\n`);
  process.exit(70);
};
process.on('uncaughtException', crash);
process.on('unhandledRejection', crash);

await cli(process.argv.slice(2));
