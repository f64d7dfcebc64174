import type { PersistedVip, StackBackend, StackFacts } from './types.js';

/** How one network stack stores VIPs. Pure: paths and text, no I/O. */
export interface PersistFormat {
  backend: StackBackend;
  /**
   * `per-vip`: one file per VIP. `per-dev`: one file per device listing every
   * vipush VIP on it, for stacks where a second file for the same device would
   * be ignored (networkd applies only the first .network file that matches)
   * or would compete with the first (NetworkManager activates one profile per device).
   */
  layout: 'per-vip' | 'per-dev';
  mode: number;
  /** where this VIP's file lives */
  pathFor(vip: PersistedVip): string;
  /** whether an existing file at this path may be one of ours (its content decides) */
  mayBeOurs(path: string): boolean;
  /** why this stack cannot persist this VIP here, or null */
  refuse(vip: PersistedVip, f: StackFacts): string | null;
  /** problems of the host that stop this file from being read at boot */
  fileProblems(path: string, vips: readonly PersistedVip[], f: StackFacts): string[];
  /** the file's text after the vipush preamble; vips are sorted and non-empty */
  render(vips: readonly PersistedVip[], f: StackFacts): string;
  /**
   * Files that must exist exactly while the file at `path` does (a unit's enabling drop-in): their
   * content comes after the vipush header, and they hold no VIP markers.
   */
  companions?(path: string): { path: string; content: string; mode: number; createDir?: boolean }[];
  /** whether an existing file at this path may be a companion of one of ours */
  isCompanion?(path: string): boolean;
  /** commands that make the running stack read changed files, when that disturbs nothing else */
  applyNow(changedPaths: readonly string[], f: StackFacts): string[][];
}

export function serviceActive(f: StackFacts, unit: keyof StackFacts['services']): boolean {
  return f.systemd && f.services[unit]?.active === 'active';
}

export function serviceEnabled(f: StackFacts, unit: keyof StackFacts['services']): boolean {
  const state = f.services[unit]?.enabled;
  return f.systemd && (state === 'enabled' || state === 'enabled-runtime' || state === 'generated' || state === 'alias');
}

export function basename(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

export function dirname(path: string): string {
  return path.slice(0, path.lastIndexOf('/')) || '/';
}
