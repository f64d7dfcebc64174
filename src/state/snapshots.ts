import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Change } from '../changes/index.js';
import type { ConnectionVars } from '../inventory/types.js';
import { writePrivateFile } from './private-file.js';

/**
 * What a run changed on each host, with the "before" of every change, kept
 * on the controller so `vipush rollback --run ID` can undo it later. A
 * bounded number of runs is kept. Files are 0600: they hold file contents.
 */
export interface HostSnapshot {
  conn: ConnectionVars;
  /** the changes that took effect, in the order they ran */
  changes: Change[];
  /** set when vipush's own rollback of this host failed */
  revertFailed?: string;
}

export interface RunSnapshot {
  version: 1;
  runId: string;
  playbook: string;
  inventory: string;
  createdAt: string;
  hosts: Record<string, HostSnapshot>;
}

export const KEEP_RUNS = 20;

export function stateDir(): string {
  if (process.env.VIPUSH_STATE_DIR) return process.env.VIPUSH_STATE_DIR;
  return process.getuid?.() === 0 ? '/var/lib/vipush' : join(homedir(), '.local', 'state', 'vipush');
}

function encode(_key: string, value: unknown): unknown {
  if (value && typeof value === 'object' && (value as { type?: string }).type === 'Buffer' && Array.isArray((value as { data?: unknown }).data)) {
    return { $base64: Buffer.from((value as { data: number[] }).data).toString('base64') };
  }
  return value;
}

function decode(_key: string, value: unknown): unknown {
  if (value && typeof value === 'object' && typeof (value as { $base64?: unknown }).$base64 === 'string') {
    return Buffer.from((value as { $base64: string }).$base64, 'base64');
  }
  return value;
}

/** One host's part of a snapshot, as the JSON kept on that host when its rollback failed. */
export function serializeHostSnapshot(runId: string, host: string, h: HostSnapshot): string {
  return JSON.stringify({ version: 1, runId, host, createdAt: new Date().toISOString(), ...h }, encode, 2) + '\n';
}

/** Where a host keeps the snapshot of a run whose rollback failed there. */
export const HOST_SNAPSHOT_DIR = '/var/lib/vipush/snapshots';

export function snapshotPath(runId: string, dir = stateDir()): string {
  if (!/^[A-Za-z0-9-]+$/.test(runId)) throw new Error(`not a run id: ${runId}`);
  return join(dir, 'runs', runId, 'snapshot.json');
}

export async function saveSnapshot(s: RunSnapshot, dir = stateDir()): Promise<string> {
  const path = snapshotPath(s.runId, dir);
  await mkdir(join(dir, 'runs'), { recursive: true, mode: 0o700 });
  await writePrivateFile(path, JSON.stringify(s, encode) + '\n');
  await pruneSnapshots(dir);
  return path;
}

export async function loadSnapshot(runId: string, dir = stateDir()): Promise<RunSnapshot | undefined> {
  try {
    return JSON.parse(await readFile(snapshotPath(runId, dir), 'utf8'), decode) as RunSnapshot;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

export async function listSnapshots(dir = stateDir()): Promise<string[]> {
  try {
    return (await readdir(join(dir, 'runs'))).filter((n) => /^[A-Za-z0-9-]+$/.test(n)).sort();
  } catch {
    return [];
  }
}

async function pruneSnapshots(dir: string): Promise<void> {
  const runs = await listSnapshots(dir);
  // run ids start with a UTC timestamp, so name order is time order
  for (const old of runs.slice(0, Math.max(0, runs.length - KEEP_RUNS))) await rm(join(dir, 'runs', old), { recursive: true, force: true });
}
