import { createHash } from 'node:crypto';
import { open, readFile, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Another vipush run with the same playbook and inventory is running. */
export class RunLockedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RunLockedError';
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A controller-side lock per (playbook, inventory, shard), so overlapping timer runs
 * don't collide. O_EXCL create; a lock left by a dead process is taken over.
 */
export async function acquireRunLock(
  run: { playbook: string; inventory: string /** "2/4": shards of one fleet may run at once, on one machine too */; shard?: string },
  dir = process.env.VIPUSH_LOCK_DIR ?? tmpdir(),
): Promise<{ path: string; release(): Promise<void> }> {
  const { playbook, inventory, shard } = run;
  const id = createHash('sha256')
    .update([playbook, inventory, ...(shard ? [shard] : [])].join('\0'))
    .digest('hex')
    .slice(0, 16);
  const path = join(dir, `vipush-${id}.lock`);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await open(path, 'wx', 0o600);
      await fh.writeFile(`${process.pid}\n`);
      await fh.close();
      return { path, release: () => unlink(path).catch(() => undefined) };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim());
      if (pid && alive(pid)) {
        const what = `${playbook} with ${inventory}${shard ? ` (shard ${shard})` : ''}`;
        throw new RunLockedError(`another vipush run (pid ${pid}) is using ${what}; lock ${path}. Wait for it, or remove the lock if that process is gone`);
      }
      await unlink(path).catch(() => undefined);
    }
  }
  throw new RunLockedError(`cannot take the run lock ${path}`);
}
