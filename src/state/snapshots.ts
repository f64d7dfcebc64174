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

export interface RunHeader {
  version: 1;
  runId: string;
  playbook: string;
  inventory: string;
  createdAt: string;
}

export interface RunSnapshot extends RunHeader {
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

/** One host's part of a snapshot: its file on the controller, and the JSON kept on that host when its rollback failed. */
export function serializeHostSnapshot(runId: string, host: string, h: HostSnapshot): string {
  return JSON.stringify({ version: 1, runId, host, createdAt: new Date().toISOString(), ...h }, encode, 2) + '\n';
}

/** Where a host keeps the snapshot of a run whose rollback failed there. */
export const HOST_SNAPSHOT_DIR = '/var/lib/vipush/snapshots';

function runDir(runId: string, dir: string): string {
  if (!/^[A-Za-z0-9-]+$/.test(runId)) throw new Error(`not a run id: ${runId}`);
  return join(dir, 'runs', runId);
}

/** A host's file name: its inventory name, with anything a file name should not hold as %XX (so no two names share one). */
function hostFile(runId: string, host: string, dir: string): string {
  const name = host.replace(/[^A-Za-z0-9_.:-]/gu, (c) => [...Buffer.from(c)].map((b) => `%${b.toString(16).padStart(2, '0')}`).join(''));
  return join(runDir(runId, dir), 'hosts', `${name}.json`);
}

/**
 * A run's record is a header, written when the run starts, and one file per host, written as soon
 * as that host has applied (and again when it is rolled back), so a controller that dies mid-run
 * still leaves what each host changed. Returns the run's directory.
 */
export async function saveRunHeader(h: RunHeader, dir = stateDir()): Promise<string> {
  await mkdir(join(dir, 'runs'), { recursive: true, mode: 0o700 });
  await writePrivateFile(join(runDir(h.runId, dir), 'run.json'), JSON.stringify(h) + '\n');
  await pruneSnapshots(dir);
  return runDir(h.runId, dir);
}

/** One host's part, or, when nothing of the run is left on that host, no file for it. */
export async function saveHostSnapshot(runId: string, host: string, part: HostSnapshot | undefined, dir = stateDir()): Promise<void> {
  const path = hostFile(runId, host, dir);
  if (part) await writePrivateFile(path, serializeHostSnapshot(runId, host, part));
  else await rm(path, { force: true });
}

/** Drops the record of a run that left nothing to undo. */
export async function removeRun(runId: string, dir = stateDir()): Promise<void> {
  await rm(runDir(runId, dir), { recursive: true, force: true });
}

async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8'), decode) as T;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

export async function loadSnapshot(runId: string, dir = stateDir()): Promise<RunSnapshot | undefined> {
  const root = runDir(runId, dir);
  const header = await readJson<RunHeader>(join(root, 'run.json'));
  // runs saved before the record was split keep one file
  if (!header) return readJson<RunSnapshot>(join(root, 'snapshot.json'));
  const hosts: Record<string, HostSnapshot> = {};
  let names: string[] = [];
  try {
    names = (await readdir(join(root, 'hosts'))).filter((n) => n.endsWith('.json')); // not the writer's temp files (.tmp)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  for (const n of names.sort()) {
    const part = await readJson<HostSnapshot & { host: string }>(join(root, 'hosts', n));
    if (part) hosts[part.host] = { conn: part.conn, changes: part.changes, ...(part.revertFailed !== undefined ? { revertFailed: part.revertFailed } : {}) };
  }
  return { ...header, hosts };
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
