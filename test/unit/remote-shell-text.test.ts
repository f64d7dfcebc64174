import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

describe('src/remote/shell-text.generated.ts', () => {
  it('holds the shell files as they are (npm run build makes it again)', () => {
    // exits 1 with a line saying what to run when a .sh file changed and the text was not made again
    expect(() => execFileSync(process.execPath, ['src/remote/embed.mjs', '--check'], { stdio: 'pipe' })).not.toThrow();
  });
});
