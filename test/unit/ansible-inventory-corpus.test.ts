import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { UserInputError } from '../../src/errors.js';
import { inventoryList } from '../../src/inventory/list.js';
import { loadInventory } from '../../src/inventory/load.js';
import { groupHostsInAnsibleOrder, limitHosts } from '../../src/inventory/pattern.js';
import type { Inventory } from '../../src/inventory/types.js';

/**
 * vipush against what real Ansible (ansible-core 2.14) answered for the same
 * inventories, recorded by test/fixtures/ansible-inventory/record.mjs. The
 * checks: the set of hosts; each group's hosts and children as
 * `ansible-inventory --list` prints them; each host's merged vars; each
 * `--limit` selection. differences.json lists the deliberate differences,
 * each with its reason; a listed check that matches fails the test too.
 */
const corpus = join(dirname(fileURLToPath(import.meta.url)), '../fixtures/ansible-inventory');
const cases = readdirSync(join(corpus, 'cases')).sort();
const differences = JSON.parse(readFileSync(join(corpus, 'differences.json'), 'utf8')) as Record<string, string>;

interface CaseSpec {
  sources: string[];
  playbookDir?: string;
}
interface Recorded {
  list?: Record<string, { hosts?: string[]; children?: string[]; hostvars?: Record<string, Record<string, unknown>> }>;
  error?: string;
  limits: { pattern: string; hosts: string[]; error?: string }[];
}
interface Check {
  id: string;
  ok: boolean;
  detail: string;
}

const json = (v: unknown): string => JSON.stringify(v);

async function checkCase(name: string): Promise<Check[]> {
  const dir = join(corpus, 'cases', name);
  const spec = JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8')) as CaseSpec;
  const recorded = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as Recorded;
  const sources = spec.sources.map((s) => (existsSync(join(dir, s)) ? join(dir, s) : s));
  let inv: Inventory | undefined;
  let refusal = '';
  try {
    inv = await loadInventory(sources, spec.playbookDir === undefined ? {} : { playbookDir: join(dir, spec.playbookDir) });
  } catch (e) {
    if (!(e instanceof UserInputError)) throw e;
    refusal = e.message;
  }
  if (recorded.error !== undefined || !recorded.list) {
    return [{ id: 'refused', ok: inv === undefined, detail: `ansible: ${recorded.error}; vipush: ${refusal || 'accepted it'}` }];
  }
  const expected = recorded.list;
  const meta = (expected._meta?.hostvars ?? {}) as Record<string, Record<string, unknown>>;
  const expectedHosts = new Set<string>(Object.keys(meta));
  for (const [g, entry] of Object.entries(expected)) if (g !== '_meta') for (const h of entry.hosts ?? []) expectedHosts.add(h);
  const groupNames = Object.keys(expected).filter((g) => g !== '_meta');
  const limitChecks = recorded.limits.map((l) => `limit ${json(l.pattern)}`);
  if (!inv) {
    const all = ['hosts', ...groupNames.map((g) => `group ${g}`), ...[...expectedHosts].map((h) => `vars ${h}`), ...limitChecks];
    return all.map((id) => ({ id, ok: false, detail: `vipush refused it: ${refusal}` }));
  }
  const checks: Check[] = [];
  const got = inventoryList(inv) as unknown as Record<string, { hosts?: string[]; children?: string[]; hostvars?: Record<string, Record<string, unknown>> }>;
  const gotHosts = [...inv.hosts.keys()].sort();
  checks.push({ id: 'hosts', ok: json(gotHosts) === json([...expectedHosts].sort()), detail: `vipush ${json(gotHosts)}` });
  for (const g of new Set([...groupNames, ...Object.keys(got).filter((k) => k !== '_meta')])) {
    const want = { hosts: expected[g]?.hosts ?? [], children: expected[g]?.children ?? [] };
    const have = { hosts: got[g]?.hosts ?? [], children: got[g]?.children ?? [] };
    checks.push({ id: `group ${g}`, ok: json(want) === json(have), detail: `ansible ${json(want)}, vipush ${json(have)}` });
  }
  const gotVars = (got._meta?.hostvars ?? {}) as Record<string, Record<string, unknown>>;
  for (const h of [...new Set([...expectedHosts, ...gotHosts])].sort()) {
    const want = meta[h] ?? {};
    const have = gotVars[h] ?? {};
    let ok = true;
    try {
      expect(have).toEqual(want);
    } catch {
      ok = false;
    }
    checks.push({ id: `vars ${h}`, ok, detail: `ansible ${json(want)}, vipush ${json(have)}` });
  }
  for (const limit of recorded.limits) {
    // `ansible --list-hosts` stops with this error where a playbook would run on no hosts: the selection is empty.
    if (limit.error !== undefined && /leaves us with no hosts to target/.test(limit.error)) limit.error = undefined;
    let have: string[] | string;
    try {
      have = limitHosts(inv, groupHostsInAnsibleOrder(inv, 'all'), limit.pattern);
    } catch (e) {
      if (!(e instanceof UserInputError)) throw e;
      have = `error: ${e.message}`;
    }
    const ok = limit.error !== undefined ? typeof have === 'string' : json(have) === json(limit.hosts);
    checks.push({ id: `limit ${json(limit.pattern)}`, ok, detail: `ansible ${limit.error ?? json(limit.hosts)}, vipush ${json(have)}` });
  }
  return checks;
}

describe('inventories compared with recorded ansible-inventory output', () => {
  it('matches Ansible on every check but the listed deliberate differences', async () => {
    let total = 0;
    let matched = 0;
    const unexpected: string[] = [];
    const stale: string[] = [];
    const seenKeys = new Set<string>();
    for (const name of cases) {
      for (const check of await checkCase(name)) {
        total++;
        const key = `${name} ${check.id}`;
        seenKeys.add(key);
        if (check.ok) matched++;
        if (check.ok && key in differences) stale.push(`${key}: listed as a difference but matches`);
        if (!check.ok && !(key in differences)) unexpected.push(`${key}: ${check.detail}`);
      }
    }
    const unknownKeys = Object.keys(differences).filter((k) => !seenKeys.has(k));
    process.stdout.write(
      `ansible-inventory corpus: ${matched} of ${total} checks match (${cases.length} cases; ${Object.keys(differences).length} deliberate differences)\n`,
    );
    expect(unexpected).toEqual([]);
    expect(stale).toEqual([]);
    expect(unknownKeys).toEqual([]);
    expect(total).toBeGreaterThan(cases.length);
  });
});
