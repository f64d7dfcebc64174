import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { ParseArgsConfig } from 'node:util';
import type { Shard } from '../engine/run.js';
import { UserInputError } from '../errors.js';

/** The options of the commands that contact hosts (run, drift, rollback); the others pick from them. */
export const connectionOptions = {
  inventory: { type: 'string', short: 'i', multiple: true },
  limit: { type: 'string', short: 'l' },
  'extra-vars': { type: 'string', short: 'e', multiple: true },
  user: { type: 'string', short: 'u' },
  'private-key': { type: 'string' },
  'known-hosts': { type: 'string' },
  'accept-new-host-keys': { type: 'boolean' },
  'connect-timeout': { type: 'string' },
  'command-timeout': { type: 'string' },
  forks: { type: 'string', short: 'f' },
  shard: { type: 'string' },
  report: { type: 'string' },
  history: { type: 'string' },
  'history-keep': { type: 'string' },
  'log-format': { type: 'string' },
  quiet: { type: 'boolean', short: 'q' },
  verbose: { type: 'boolean', short: 'v' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

export type Values = Record<string, string | boolean | string[] | undefined>;

export function intOption(values: Values, key: string, def: number, min: number, max: number): number {
  const v = values[key];
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new UserInputError(`--${key} must be a whole number from ${min} to ${max}, not "${String(v)}"`);
  return n;
}

/** --connect-timeout and --command-timeout in milliseconds, with the defaults the help text states. */
export function connectionTimeouts(values: Values): { connectTimeoutMs: number; commandTimeoutMs: number } {
  return {
    connectTimeoutMs: intOption(values, 'connect-timeout', 10, 1, 3600) * 1000,
    commandTimeoutMs: intOption(values, 'command-timeout', 120, 1, 86_400) * 1000,
  };
}

export function parseShard(v: Values[string]): Shard | undefined {
  if (v === undefined) return undefined;
  const m = typeof v === 'string' ? /^(\d+)\/(\d+)$/.exec(v) : null;
  const shard = m ? { index: Number(m[1]), count: Number(m[2]) } : undefined;
  if (!shard || shard.count < 1 || shard.index < 1 || shard.index > shard.count) {
    throw new UserInputError(`--shard must be K/N with 1 <= K <= N, such as 2/8, not "${String(v)}"`);
  }
  return shard;
}

/** The -i sources in order (files, directories, `host1,host2,` lists), or $ANSIBLE_INVENTORY's, or ansible.cfg's `inventory`. */
export function requireInventory(values: Values, cmd: string): string[] {
  const inv = values.inventory;
  const sources = typeof inv === 'string' ? [inv] : Array.isArray(inv) ? inv : [];
  if (sources.length === 0)
    throw new UserInputError(`vipush ${cmd}: -i INVENTORY is required (or ANSIBLE_INVENTORY, or inventory in ansible.cfg); see vipush ${cmd} --help`);
  return sources;
}

/** A source's absolute path; a `host1,host2,` list stays as it is. */
export function resolveSource(source: string): string {
  return source.includes(',') && !existsSync(source) ? source : resolve(source);
}

/** The inventory sources as one string for reports, locks and messages. */
export function inventoryLabel(sources: readonly string[]): string {
  return sources.join(' ');
}

export function requirePlaybook(positionals: string[], cmd: string): string {
  if (positionals.length !== 1) {
    const got = positionals.length === 0 ? 'none' : positionals.join(' ');
    throw new UserInputError(`vipush ${cmd}: expected exactly one PLAYBOOK, got ${got}; see vipush ${cmd} --help`);
  }
  return positionals[0];
}

/** The -e K=V options as given, in order. */
export function extraVarsOption(values: Values): string[] {
  return (values['extra-vars'] as string[] | undefined) ?? [];
}
