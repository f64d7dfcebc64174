// Bundles the compiled CLI (dist/src) into one CommonJS file, dist/vipush.cjs, and makes V8's code
// cache for it; bin/vipush.js loads both (bin/bundle.js). Why: Node 20 spends ~0.25 s resolving,
// reading and linking the ~300 separate modules of the CLI and its dependencies before it can contact
// a host; one file starts in about half that, and one whose code comes from the cache in a third less
// again (see README, "Benchmark").
// ssh2 and node-ssh stay outside the bundle: ssh2 loads its optional native crypto binding relative
// to its own files.
//
// First, the schemas' validators are generated ahead of time (ajv standalone code) into
// dist/src/config/schema/precompiled.js, over tsc's stub, so no run compiles a schema.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { build } from 'esbuild';
import { precompiledModuleSource } from './dist/src/config/schema/standalone.js';

writeFileSync('dist/src/config/schema/precompiled.js', precompiledModuleSource());

// Every schema has a precompiled validator, so the bundle carries a stand-in for the run-time
// compiler (src/config/schema/compile.ts) instead of Ajv's compiler.
const noRunTimeSchemaCompiler = {
  name: 'no-run-time-schema-compiler',
  setup(b) {
    b.onResolve({ filter: /\/schema\/compile\.js$/ }, (a) => ({ path: a.path, namespace: 'vipush-stub' }));
    b.onLoad({ filter: /.*/, namespace: 'vipush-stub' }, () => ({
      contents: 'export function compileSchema(name) { throw new Error(`no precompiled validator for schema ${name}: run npm run build`); }',
      loader: 'js',
    }));
  },
};

await build({
  entryPoints: ['dist/src/cli/main.js'],
  outfile: 'dist/vipush.cjs',
  bundle: true,
  platform: 'node',
  target: 'node20',
  // CommonJS, run through vm.Script: on Node 20 only a script (not an ES module) takes a code cache.
  format: 'cjs',
  external: ['ssh2', 'node-ssh', '*.node'],
  define: { 'import.meta.url': 'vipushBundleUrl' },
  banner: { js: "const vipushBundleUrl = require('node:url').pathToFileURL(__filename).href;" },
  plugins: [noRunTimeSchemaCompiler],
  legalComments: 'none',
  logLevel: 'warning',
});

// The code cache holds what one run compiled: a validate of the shipped example (no host contacted).
execFileSync(
  process.execPath,
  [
    '--input-type=module',
    '-e',
    "const b = (await import('./bin/bundle.js')).loadBundle(); await b.cli(['validate', 'playbooks/hidden-arp.yml', '-i', 'inventory/example.yml']); b.writeCodeCache();",
  ],
  { stdio: ['ignore', 'ignore', 'inherit'] },
);
