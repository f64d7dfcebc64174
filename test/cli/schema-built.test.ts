import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { ValidateFunction } from 'ajv';
import { describe, expect, it } from 'vitest';
import { ALL_SCHEMAS } from '../../src/config/schema/all.js';
import { newAjv } from '../../src/config/schema/compile.js';
import { precompiledModuleSource } from '../../src/config/schema/standalone.js';
import { parse } from 'yaml';

const REPO = fileURLToPath(new URL('../..', import.meta.url));

// A run compiles the schemas without checking them against the meta-schema (start-up time);
// this is where they are checked.
describe('the validators generated at build time', () => {
  const built = join(REPO, 'dist', 'src', 'config', 'schema', 'precompiled.js');

  it('are the ones the current schemas generate (run `npm run build`)', () => {
    expect(readFileSync(built, 'utf8')).toBe(precompiledModuleSource());
  });

  it('give the same verdicts and errors as validators compiled at run time', async () => {
    const { PRECOMPILED } = (await import(pathToFileURL(built).href)) as { PRECOMPILED: Record<string, ValidateFunction> };
    const ajv = newAjv();

    // Every playbook fixture, good and bad, and every task's module and gate arguments in them.
    const samples: Array<[string, unknown]> = [];
    for (const kind of ['good', 'bad', '../hostile/playbooks']) {
      const dir = join(REPO, 'test', 'fixtures', 'playbooks', kind);
      for (const f of readdirSync(dir).filter((n) => /\.ya?ml$/.test(n))) {
        let data: unknown;
        try {
          data = parse(readFileSync(join(dir, f), 'utf8'), { version: '1.1', uniqueKeys: false });
        } catch {
          continue; // not YAML at all: never reaches a schema
        }
        samples.push(['playbook', data]);
        for (const play of Array.isArray(data) ? data : []) {
          for (const task of (play as { tasks?: unknown[] })?.tasks ?? []) {
            for (const [k, v] of Object.entries((task as Record<string, unknown>) ?? {})) {
              if (k in ALL_SCHEMAS) samples.push([k, v]);
            }
            for (const gate of ((task as { verify?: unknown[] })?.verify ?? []) as Record<string, unknown>[]) {
              for (const [k, v] of Object.entries(gate ?? {})) if (`gate:${k}` in ALL_SCHEMAS) samples.push([`gate:${k}`, v]);
            }
          }
        }
      }
    }
    // and values that break each rule of the module schemas
    samples.push(['sysctl', { set: { 'a.b': [1] }, file: 7, bogus: 1 }], ['address', { address: '10.0.0.1/33', dev: '', scope: 'x' }]);
    for (const name of Object.keys(ALL_SCHEMAS)) samples.push([name, null], [name, {}], [name, 'x']);
    expect(samples.length).toBeGreaterThan(50);

    let failing = 0;
    const compiled = new Map<string, ValidateFunction>();
    for (const [name, data] of samples) {
      const atRunTime = compiled.get(name) ?? ajv.compile((ALL_SCHEMAS as Record<string, object>)[name]!);
      compiled.set(name, atRunTime);
      const ahead = PRECOMPILED[name]!;
      const verdict = atRunTime(data);
      expect(ahead(data), name).toBe(verdict);
      expect(ahead.errors ?? null, name).toEqual(atRunTime.errors ?? null);
      if (!verdict) failing++;
    }
    expect(failing).toBeGreaterThan(20); // the corpus exercises the error paths
  });
});
