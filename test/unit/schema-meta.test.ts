import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ALL_SCHEMAS } from '../../src/config/schema/all.js';
import { newAjv } from '../../src/config/schema/compile.js';

const _REPO = fileURLToPath(new URL('../..', import.meta.url));

// A run compiles the schemas without checking them against the meta-schema (start-up time);
// this is where they are checked.
describe('the schemas against JSON Schema draft-07', () => {
  const ajv = newAjv({ validateSchema: true });

  for (const [name, schema] of Object.entries(ALL_SCHEMAS)) {
    it(`${name} is a valid schema`, () => {
      expect(ajv.validateSchema(schema), JSON.stringify(ajv.errors)).toBe(true);
      expect(() => ajv.compile(schema)).not.toThrow();
    });
  }

  it('a broken schema is caught here', () => {
    expect(ajv.validateSchema({ type: 'objekt' })).toBe(false);
    expect(ajv.validateSchema({ properties: { a: { minLength: -1 } } })).toBe(false);
  });
});

// The CLI uses validators generated at build time (ajv standalone code); they must report exactly
// what validators compiled at run time report.
