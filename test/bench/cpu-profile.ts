import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Where the controller's CPU went, from a V8 `--cpu-prof` file: self time
 * summed by where the code lives (a package under node_modules, a folder of
 * vipush, Node's internals, GC, idle), so the lead sees which part to look at.
 */
export interface CpuBucket {
  bucket: string;
  ms: number;
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export function bucketOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1];
  // node:internal/modules/esm/... -> node:internal/modules: module loading is worth seeing apart.
  if (url.startsWith('node:')) {
    const parts = url.slice(5).split('/');
    return `node:${parts[0] === 'internal' && parts.length > 2 ? `${parts[0]}/${parts[1]}` : parts[0]}`;
  }
  const own = /\/dist\/(src\/[^/]+|test\/[^/]+|bin)/.exec(url) ?? /\/(bin)\//.exec(url);
  if (own) return `vipush ${own[1]}`;
  return url;
}

/** Self time by bucket, largest first; `totalMs` is the profile's span. */
export function summariseCpuProfile(file: string, top = 12): { totalMs: number; buckets: CpuBucket[] } {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const bucketById = new Map(p.nodes.map((n) => [n.id, bucketOf(n.callFrame.url, n.callFrame.functionName)]));
  const ms = new Map<string, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const b = bucketById.get(p.samples[i]) ?? '(unknown)';
    // timeDeltas[i] is the time before sample i; attribute it to that sample.
    ms.set(b, (ms.get(b) ?? 0) + (p.timeDeltas[i] ?? 0) / 1000);
  }
  const buckets = [...ms.entries()].map(([bucket, v]) => ({ bucket, ms: Math.round(v) })).sort((a, b) => b.ms - a.ms);
  return { totalMs: Math.round((p.endTime - p.startTime) / 1000), buckets: buckets.slice(0, top) };
}

export function onlyCpuProfile(dir: string): string | null {
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  return files.length > 0 ? join(dir, files[0]) : null;
}
