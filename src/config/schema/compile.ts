import { Ajv, type Options, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { ALL_SCHEMAS, type SchemaName } from './all.js';
import { ANNOTATION_KEYWORDS } from './keywords.js';

/** The one Ajv set-up every validator is compiled with: at run time, at build time and in the tests. */
export function newAjv(extra: Omit<Options, 'strict' | 'allErrors' | 'verbose' | 'allowUnionTypes'> = {}): Ajv {
  const ajv = new Ajv({ strict: true, allErrors: true, verbose: true, allowUnionTypes: true, ...extra });
  addFormats.default(ajv, ['ipv4', 'ipv6']);
  ajv.addVocabulary([...ANNOTATION_KEYWORDS]);
  return ajv;
}

let ajv: Ajv | undefined;

/**
 * A schema's validator compiled at run time: only where the build's precompiled validators are not
 * in use (tests run from src). The CLI's bundle has them all, and carries a stand-in for this module
 * instead of Ajv's compiler (esbuild.mjs): ~200 KB less code for every run to load.
 */
export function compileSchema(name: SchemaName): ValidateFunction {
  // The schemas are ours and fixed, so a run does not check them against JSON Schema's meta-schema (compiling
  // it costs ~70 ms): test/unit/schema-meta.test.ts does.
  ajv ??= newAjv({ validateSchema: false });
  return ajv.compile(ALL_SCHEMAS[name]);
}
