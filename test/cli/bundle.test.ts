import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const EXAMPLE = ['validate', join(REPO, 'playbooks/hidden-arp.yml'), '-i', join(REPO, 'inventory/example.yml')];

/** A copy of bin/ and the built bundle in a directory of its own, with the cache `cache` (or none). */
function install(cache: Buffer | undefined): string {
  const dir = mkdtempSync(join(tmpdir(), 'vipush-bundle-'));
  mkdirSync(join(dir, 'bin'));
  mkdirSync(join(dir, 'dist'));
  for (const f of ['vipush.js', 'bundle.js']) copyFileSync(join(REPO, 'bin', f), join(dir, 'bin', f));
  copyFileSync(join(REPO, 'dist/vipush.cjs'), join(dir, 'dist/vipush.cjs'));
  if (cache) writeFileSync(join(dir, 'dist/vipush.cjs.cache'), cache);
  symlinkSync(join(REPO, 'node_modules'), join(dir, 'node_modules'));
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}\n');
  return dir;
}

/** Runs the example's validate through loadBundle in `dir`; says whether the code cache was taken. */
function validateIn(dir: string): { stdout: string; cacheRejected: boolean } {
  const script = `const b = (await import(${JSON.stringify(join(dir, 'bin/bundle.js'))})).loadBundle(); await b.cli(${JSON.stringify(EXAMPLE)}); console.log('cacheRejected=' + b.cacheRejected); process.exitCode ||= 0;`;
  const stdout = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  return { stdout, cacheRejected: /cacheRejected=true/.test(stdout) };
}

describe('the CLI bundle (npm run build)', () => {
  const cache = readFileSync(join(REPO, 'dist/vipush.cjs.cache'));

  it('carries the precompiled validators, not Ajv compiler', () => {
    const bundle = readFileSync(join(REPO, 'dist/vipush.cjs'), 'utf8');
    expect(bundle).toContain('no precompiled validator for schema');
    // Ajv's compiler: its code generator and the class the compile path constructs
    expect(bundle).not.toMatch(/ajv\/dist\/compile\/codegen|class Ajv\b|new Ajv\(/);
  });

  it("takes the build's code cache", () => {
    const r = validateIn(install(cache));
    expect(r.stdout).toContain('hidden-arp.yml: 1 play(s), 2 task(s), 3 host(s): valid');
    expect(r.cacheRejected).toBe(false);
  });

  it('ignores a cache made for other bytes, and works without one', () => {
    const otherBytes = Buffer.from(cache);
    otherBytes[0] ^= 0xff; // the bundle's digest no longer matches
    for (const c of [otherBytes, undefined, Buffer.alloc(10)]) {
      const r = validateIn(install(c));
      expect(r.stdout).toContain('3 host(s): valid');
      expect(r.cacheRejected).toBe(true);
    }
  });

  it('bin/vipush.js runs the bundle, exit codes included', () => {
    const dir = install(cache);
    expect(execFileSync(process.execPath, [join(dir, 'bin/vipush.js'), '--version'], { encoding: 'utf8' })).toMatch(/^vipush \d+\.\d+\.\d+/);
    let code = 0;
    try {
      execFileSync(process.execPath, [join(dir, 'bin/vipush.js'), 'validate', join(REPO, 'playbooks/nope.yml'), '-i', join(REPO, 'inventory/example.yml')], {
        stdio: 'pipe',
      });
    } catch (e) {
      code = (e as { status: number }).status;
    }
    expect(code).toBe(3);
  });
});
