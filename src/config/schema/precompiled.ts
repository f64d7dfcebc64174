import type { ValidateFunction } from 'ajv';
import type { SchemaName } from './all.js';

/**
 * The schemas' validators as code generated ahead of time. This file is a stub: `npm run build`
 * (esbuild.mjs) replaces its compiled output with ajv's standalone code for every schema, so the CLI does
 * not compile schemas at start-up (~100 ms). Where the stub is in use (tests run from src), the validators
 * are compiled on first use instead; `test/unit/schema-meta.test.ts` checks that both give the same errors.
 */
export const PRECOMPILED: Readonly<Partial<Record<SchemaName, ValidateFunction>>> | undefined = undefined;
