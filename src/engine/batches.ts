import type { SerialStep } from '../config/types.js';

/**
 * Splits hosts into batches the way Ansible's `serial` does: each step is a
 * count or a percentage of the play's hosts (rounded down, at least 1), and
 * the last step repeats until every host has a batch.
 */
export function batches<T>(hosts: T[], serial: SerialStep[]): T[][] {
  if (hosts.length === 0) return [];
  if (serial.length === 0) return [hosts];
  const out: T[][] = [];
  let i = 0;
  let step = 0;
  while (i < hosts.length) {
    const s = serial[Math.min(step, serial.length - 1)];
    const size = 'count' in s ? s.count : Math.max(1, Math.floor((s.percent / 100) * hosts.length));
    out.push(hosts.slice(i, i + size));
    i += size;
    step++;
  }
  return out;
}

/** Ansible's rule: the batch fails when its failure percentage *exceeds* max_fail_percentage. */
export function batchFailed(failed: number, size: number, maxFailPercentage: number, anyErrorsFatal: boolean): boolean {
  if (failed === 0) return false;
  if (anyErrorsFatal) return true;
  return (failed / size) * 100 > maxFailPercentage;
}
