// Loads the CLI's one-file bundle, dist/vipush.cjs (built by `npm run build`, see esbuild.mjs), with the
// V8 code cache the build made for it: V8 then neither parses nor compiles the functions a run of the
// shipped example compiled (~1/3 of the CLI's start-up on Node 20, which has no compile cache of its own).
// A cache that does not match the bundle, or that this Node rejects, costs nothing but that time.
import { createHash } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';

const BUNDLE = fileURLToPath(new URL('../dist/vipush.cjs', import.meta.url));
const CODE_CACHE = `${BUNDLE}.cache`;

export function loadBundle() {
  const source = readFileSync(BUNDLE, 'utf8');
  // V8 checks only the length of the source a cache was made from: the digest ties it to these bytes.
  const digest = createHash('sha256').update(source).digest();
  let cachedData;
  try {
    const cache = readFileSync(CODE_CACHE);
    if (cache.subarray(0, digest.length).equals(digest)) cachedData = cache.subarray(digest.length);
  } catch {
    // no cache: compile as usual
  }
  const script = new Script(Module.wrap(source), { filename: BUNDLE, cachedData });
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(BUNDLE), module, BUNDLE, dirname(BUNDLE));
  return {
    /** @type {(argv: string[]) => Promise<void>} */
    cli: module.exports.cli,
    cacheRejected: cachedData === undefined || script.cachedDataRejected === true,
    /** For the build: the cache of everything compiled so far (renamed into place: a run never reads half of it). */
    writeCodeCache: () => {
      writeFileSync(`${CODE_CACHE}.${process.pid}`, Buffer.concat([digest, script.createCachedData()]));
      renameSync(`${CODE_CACHE}.${process.pid}`, CODE_CACHE);
    },
  };
}
