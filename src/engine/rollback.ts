import pLimit from 'p-limit';
import { inverse, summarise } from '../modules/changes.js';
import type { Transport } from '../transport/types.js';
import { parseOutcomes, revertScript, type Step } from './script.js';
import type { RunSnapshot } from './snapshots.js';

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
        const undo: Step[] = [];
        for (const c of [...snap.hosts[host].changes].reverse()) {
          const inv = inverse(c);
          if (inv) undo.push({ index: undo.length, taskIndex: 0, change: inv });
        }
        let t: Transport | undefined;
        try {
          t = await opts.connect(host);
          const r = await t.exec({ argv: ['sh', '-s'] }, { stdin: revertScript(undo), become: snap.hosts[host].conn.become, timeoutMs: opts.commandTimeoutMs });
          const { outcomes } = parseOutcomes(r.stdout);
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
