// Bundles the compiled CLI (dist/src) into one ES module, dist/vipush.mjs, which
// bin/vipush.js loads. Why: Node 20 spends ~0.25 s resolving, reading and linking
// the ~300 separate modules of the CLI and its dependencies before it can contact
// a host; one file starts in about half that (see README, "Benchmark").
// ssh2 and node-ssh stay outside the bundle: ssh2 loads its optional native
// crypto binding relative to its own files.
//
// First, the schemas' validators are generated ahead of time (ajv standalone code) into
// dist/src/config/schema/precompiled.js, over tsc's stub, so no run compiles a schema.
import { writeFileSync } from 'node:fs';
import { build } from 'esbuild';
import { precompiledModuleSource } from './dist/src/config/schema/standalone.js';

writeFileSync('dist/src/config/schema/precompiled.js', precompiledModuleSource());

await build({
  entryPoints: ['dist/src/cli/main.js'],
  outfile: 'dist/vipush.mjs',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  external: ['ssh2', 'node-ssh', '*.node'],
  // CommonJS dependencies inside an ES module bundle still call require() for
  // Node's built-in modules.
  banner: { js: "import { createRequire as __vipushRequire } from 'node:module'; const require = __vipushRequire(import.meta.url);" },
  legalComments: 'none',
  logLevel: 'warning',
});
