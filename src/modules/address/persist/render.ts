import type { AddressArgs } from '../resolve.js';
import type { PersistFormat } from './format.js';
import { ifcfgFormat } from './ifcfg.js';
import { ifupdownFormat } from './ifupdown.js';
import { compareVips, HEADER, isManaged, managedPreamble, readMarkers, toPersistedVip, vipKey, vipProblem } from './managed.js';
import { netplanFormat } from './netplan.js';
import { networkdFormat } from './networkd.js';
import { networkManagerFormat } from './networkmanager.js';
import { systemdFormat } from './systemd.js';
import type { PersistedVip, PersistFile, PersistPlan, StackBackend, StackFacts } from './types.js';

export const PERSIST_FORMATS: Readonly<Record<StackBackend, PersistFormat>> = {
  ifupdown: ifupdownFormat,
  netplan: netplanFormat,
  networkd: networkdFormat,
  networkmanager: networkManagerFormat,
  ifcfg: ifcfgFormat,
  systemd: systemdFormat,
};

/**
 * The files to read (when they exist) before renderPersistAll, and to put in
 * `facts.existing`: every file these tasks would write, and every file of this
 * backend that may already be vipush's, so that a VIP that moved (new label)
 * is taken out of its old file.
 */
export function persistPathsToRead(backend: StackBackend, addrs: readonly AddressArgs[], f: StackFacts): string[] {
  const fmt = PERSIST_FORMATS[backend];
  const paths = new Set<string>();
  for (const a of addrs) {
    const vip = toPersistedVip(a);
    if (vipProblem(vip) === null) paths.add(fmt.pathFor(vip));
  }
  for (const p of f.presentFiles) if (fmt.mayBeOurs(p)) paths.add(p);
  for (const p of [...paths]) for (const c of fmt.companions?.(p) ?? []) paths.add(c.path);
  return [...paths].sort();
}

/**
 * What the persistence files of one host must look like for these address
 * tasks (all of them, or only some: files keep the VIPs of tasks not given
 * here). Pure; same input, same bytes.
 *
 * Each present task's VIP goes into its file, and out of any other vipush
 * file of this backend that held it; each absent task's VIP goes out of
 * every file. A file left without VIPs is removed.
 */
export function renderPersistAll(backend: StackBackend, addrs: readonly AddressArgs[], f: StackFacts): PersistPlan {
  const fmt = PERSIST_FORMATS[backend];
  const problems: string[] = [];
  const tasks: { vip: PersistedVip; present: boolean }[] = [];
  for (const a of addrs) {
    const vip = toPersistedVip(a);
    const invalid = vipProblem(vip);
    if (invalid) {
      problems.push(`${a.address}: ${invalid}`);
      continue;
    }
    if (a.state === 'present') {
      const refusal = fmt.refuse(vip, f);
      if (refusal) problems.push(`${a.address}: ${refusal}`);
    }
    tasks.push({ vip, present: a.state === 'present' });
  }

  // What each existing file of ours holds now.
  const before = new Map<string, PersistedVip[]>();
  const foreign = new Set<string>();
  const candidates = new Set([...tasks.map((t) => fmt.pathFor(t.vip)), ...f.presentFiles.filter((p) => fmt.mayBeOurs(p))]);
  for (const path of [...candidates].sort()) {
    const content = f.existing[path];
    if (content === undefined) {
      if (f.presentFiles.includes(path)) problems.push(`${path} exists but its content was not read before planning`);
      continue;
    }
    if (isManaged(content)) before.set(path, readMarkers(content));
    else foreign.add(path);
  }

  const after = new Map<string, Map<string, PersistedVip>>();
  for (const [path, vips] of before) after.set(path, new Map(vips.map((v) => [vipKey(v), v])));
  for (const { vip } of tasks) for (const held of after.values()) held.delete(vipKey(vip));

  const ownedPaths = new Set<string>();
  for (const [path, vips] of before) if (vips.some((v) => tasks.some((t) => vipKey(t.vip) === vipKey(v)))) ownedPaths.add(path);

  const claimedBy = new Map<string, PersistedVip>();
  for (const { vip, present } of tasks) {
    if (!present) continue;
    const path = fmt.pathFor(vip);
    if (foreign.has(path)) {
      problems.push(`${vip.address}: ${path} exists and is not managed by vipush; vipush will not overwrite it`);
      continue;
    }
    ownedPaths.add(path);
    if (fmt.layout === 'per-vip') {
      const other = claimedBy.get(path);
      if (other) {
        problems.push(`${vip.address} and ${other.address} would both be written to ${path}; give them different labels`);
        continue;
      }
      claimedBy.set(path, vip);
      // The file is this VIP's: whatever it held before (an older address under the same label) goes.
      after.set(path, new Map([[vipKey(vip), vip]]));
    } else {
      const held = after.get(path) ?? new Map<string, PersistedVip>();
      held.set(vipKey(vip), vip);
      after.set(path, held);
    }
  }

  const files: PersistFile[] = [];
  const remove: string[] = [];
  const changed: string[] = [];
  for (const path of [...after.keys()].sort()) {
    const vips = [...after.get(path)!.values()].sort(compareVips);
    const previous = f.existing[path];
    // Files that hold none of these tasks' VIPs are left as they are.
    if (!ownedPaths.has(path)) continue;
    if (vips.length === 0) {
      remove.push(path);
      changed.push(path);
      continue;
    }
    for (const problem of fmt.fileProblems(path, vips, f)) problems.push(problem);
    const content = managedPreamble(vips) + fmt.render(vips, f);
    const untouched = previous === content;
    files.push({ path, content, mode: fmt.mode });
    if (!untouched) changed.push(path);
  }

  // A file's companions are written with it and removed with it.
  for (const file of [...files]) {
    for (const c of fmt.companions?.(file.path) ?? []) {
      const previous = f.existing[c.path];
      if (previous === undefined && f.presentFiles.includes(c.path)) problems.push(`${c.path} exists but its content was not read before planning`);
      if (previous !== undefined && !isManaged(previous)) {
        problems.push(`${c.path} exists and is not managed by vipush; vipush will not overwrite it`);
        continue;
      }
      const content = `${HEADER}\n${c.content}`;
      files.push({ path: c.path, content, mode: c.mode, ...(c.createDir ? { createDir: true } : {}) });
      if (previous !== content) changed.push(c.path);
    }
  }
  for (const path of [...remove]) {
    for (const c of fmt.companions?.(path) ?? []) {
      const previous = f.existing[c.path];
      if (previous === undefined || !isManaged(previous)) continue;
      remove.push(c.path);
      changed.push(c.path);
    }
  }

  const plan: PersistPlan = { files, remove, ownedPaths: [...ownedPaths].sort(), problems: [...new Set(problems)] };
  if (plan.problems.length > 0) return { ...plan, files: [], remove: [] };
  const applyNow = changed.length > 0 ? fmt.applyNow(changed, f) : [];
  if (applyNow.length > 0) plan.applyNow = applyNow;
  return plan;
}

/**
 * One task alone. Safe for shared files (they keep the VIPs of other tasks),
 * as long as `f.existing` shows the files as they are now: after a plan is
 * carried out, plan the next task with withPlanApplied(f, plan).
 */
export function renderPersist(backend: StackBackend, addr: AddressArgs, f: StackFacts): PersistPlan {
  return renderPersistAll(backend, [addr], f);
}

/** The facts as they will be once a plan's files are written and its removals done. */
export function withPlanApplied(f: StackFacts, plan: PersistPlan): StackFacts {
  const existing = { ...f.existing };
  for (const path of plan.remove) delete existing[path];
  for (const file of plan.files) existing[file.path] = file.content;
  const present = new Set([...f.presentFiles.filter((p) => !plan.remove.includes(p)), ...plan.files.map((file) => file.path)]);
  return { ...f, existing, presentFiles: [...present].sort() };
}
