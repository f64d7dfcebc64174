import pLimit from 'p-limit';
import { summarise } from '../changes/index.js';
import { newNonce } from '../remote/markers.js';
import { lockedScript, parseOutcomes, revertLines } from '../remote/script.js';
import type { RunSnapshot } from '../state/snapshots.js';
import type { Transport } from '../transport/types.js';
import { stepLines, undoSteps } from './steps.js';

export interface RollbackResult {
  host: string;
  restored: string[];
  error?: string;
}

/** Undoes a saved run: per host, the inverse of each change in reverse order, as one script. */
export async function rollbackRun(
  snap: RunSnapshot,
  hosts: string[],
  opts: { forks: number; commandTimeoutMs: number; connect(host: string): Promise<Transport> },
): Promise<RollbackResult[]> {
  const limit = pLimit(opts.forks);
  return Promise.all(
    hosts.map((host) =>
      limit(async (): Promise<RollbackResult> => {
        const undo = undoSteps(snap.hosts[host].changes.map((change, index) => ({ index, taskIndex: 0, change })));
        let t: Transport | undefined;
        try {
          t = await opts.connect(host);
          const nonce = newNonce();
          const stdin = lockedScript({ nonce }, 30, revertLines(stepLines(undo)));
          const r = await t.exec({ argv: ['sh', '-s'] }, { stdin, become: snap.hosts[host].conn.become, timeoutMs: opts.commandTimeoutMs });
          const { outcomes } = parseOutcomes(r.stdoutBytes ?? r.stdout, nonce);
          const restored: string[] = [];
          const failed: string[] = [];
          for (const u of undo) {
            const o = outcomes.get(u.index);
            if (o?.ok) restored.push(summarise(u.change));
            else failed.push(`${summarise(u.change)}: ${o?.output.trim() || 'did not run'}`);
          }
          return { host, restored, error: failed.length ? failed.join('; ') : undefined };
        } catch (e) {
          return { host, restored: [], error: (e as Error).message };
        } finally {
          await t?.close().catch(() => undefined);
        }
      }),
    ),
  );
}
