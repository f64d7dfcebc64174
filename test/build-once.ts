import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Vitest global set-up of the projects that run the built CLI (cli, e2e): builds it when dist/ is
 * missing or older than a source file, so `npx vitest run --project cli` works on a fresh clone and
 * `npm test` builds once however many projects need it.
 */
const root = join(import.meta.dirname, '..');
const BUILT = join(root, 'dist', 'vipush.cjs');

/** Dot entries are skipped: test/lab/.cache holds the systemd tier's rootfs, no source. */
function newest(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  return Math.max(
    st.mtimeMs,
    ...readdirSync(path)
      .filter((n) => !n.startsWith('.'))
      .map((n) => newest(join(path, n))),
  );
}

export default function setup(): void {
  let built = 0;
  try {
    built = statSync(BUILT).mtimeMs;
  } catch {
    built = 0;
  }
  const sources = Math.max(...['src', 'bin', 'test/lab', 'test/bench', 'esbuild.mjs', 'package.json', 'tsconfig.json'].map((p) => newest(join(root, p))));
  if (built > sources) return;
  execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
}
