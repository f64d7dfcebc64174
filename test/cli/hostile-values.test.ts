import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pLimit from 'p-limit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPlaybook } from '../../src/config/playbook.js';
import type { Playbook } from '../../src/config/types.js';
import { preparePlays } from '../../src/engine/run.js';
import { formatDiagnostic, UserInputError } from '../../src/errors.js';
import { loadInventory } from '../../src/inventory/load.js';
import type { Inventory } from '../../src/inventory/types.js';
import { parseExtraVars } from '../../src/inventory/vars.js';
import { resolvePlayForHost } from '../../src/config/resolve.js';
import { commandLine, withRemoteTimeout } from '../../src/remote/command-line.js';
import { shJoin, shQuote } from '../../src/remote/quote.js';
import { vipush, type CliResult } from '../e2e/vipush-cli.js';

/**
 * The hostile-value corpus (test/fixtures/hostile): every file holds one value
 * with shell metacharacters, a newline, a NUL, a terminal escape or a path
 * traversal, where vipush puts values into commands or files on a host. Each
 * must be refused by `vipush validate` and by `vipush run` with exit 3 and
 * located one-line messages, and `run` must not even open a TCP connection:
 * the inventory points at 127.0.0.1, on the port of a listener of this test
 * that counts every connection.
 */

const HOSTILE = 'test/fixtures/hostile';
const CLEAN_INVENTORY = `${HOSTILE}/inventory.yml`;
const CLEAN_PLAYBOOK = `${HOSTILE}/uses-inventory-vars.yml`;

interface HostileCase {
  name: string;
  playbook: string;
  inventory: string;
  /** stderr without the "vipush: " prefix, one line per diagnostic */
  expected: string[];
  extraVars?: string[];
}

function expectedLines(path: string): string[] {
  return readFileSync(path, 'utf8').trimEnd().split('\n');
}

const playbookCases: HostileCase[] = readdirSync(`${HOSTILE}/playbooks`)
  .filter((f) => f.endsWith('.yml'))
  .map((f) => ({
    name: `playbook ${f}`,
    playbook: `${HOSTILE}/playbooks/${f}`,
    inventory: CLEAN_INVENTORY,
    expected: expectedLines(`${HOSTILE}/playbooks/${f.replace(/\.yml$/, '.expected')}`),
  }));

const inventoryCases: HostileCase[] = readdirSync(`${HOSTILE}/inventories`)
  .filter((f) => !f.endsWith('.expected'))
  .map((f) => ({
    name: `inventory ${f}`,
    playbook: CLEAN_PLAYBOOK,
    inventory: `${HOSTILE}/inventories/${f}`,
    expected: expectedLines(`${HOSTILE}/inventories/${f}.expected`),
  }));

/** Hostile values given on the command line: they override clean inventory vars. */
const extraVarCases: HostileCase[] = [
  {
    name: '-e vip_dev with ";"',
    extraVars: ['vip_dev=lo;reboot'],
    expected: [
      `${CLEAN_PLAYBOOK}:15:14: device name "lo;reboot" contains ";"; a device name may contain only letters, digits and "_.-" (from var "vip_dev", <command line>:1:1)`,
    ],
  },
  {
    name: '-e marker with $()',
    extraVars: ['marker=/run/$(reboot)'],
    expected: [
      `${CLEAN_PLAYBOOK}:20:18: \`creates\` "/run/$(reboot)" contains "$"; a path may contain only letters, digits and "/_.,:@%+=~-" (from var "marker", <command line>:1:1)`,
    ],
  },
  {
    name: '-e ansible_host with ";"',
    extraVars: ['ansible_host=127.0.0.1;reboot'],
    expected: ['<command line>:1:1: host "h1": ansible_host "127.0.0.1;reboot" is not a hostname or IP address'],
  },
  {
    name: '-e ansible_user with backticks',
    extraVars: ['ansible_user=`reboot`'],
    expected: ['<command line>:1:1: host "h1": ansible_user "`reboot`" is not a valid user name'],
  },
].map((c) => ({ ...c, playbook: CLEAN_PLAYBOOK, inventory: CLEAN_INVENTORY }));

const cases = [...playbookCases, ...inventoryCases, ...extraVarCases];

interface Outcome {
  /** `vipush validate` through the CLI, for every VALIDATE_EVERY-th case (the rest in-process, the same code) */
  validate?: CliResult;
  /** what validation reports in-process: loaders, then per-host resolution, as `vipush validate` does */
  diagnostics: string[];
  run: CliResult;
  /** TCP connections the listener saw during `run` */
  connections: number;
}

/** A plain TCP listener on 127.0.0.1 that counts connections and never answers. */
async function countingListener(): Promise<{ port: number; count(): number; close(): Promise<void> }> {
  let connections = 0;
  const sockets = new Set<import('node:net').Socket>();
  const server = createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as import('node:net').AddressInfo).port;
  return {
    port,
    count: () => connections,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

let scratch: string;
let env: NodeJS.ProcessEnv;
let runArgs: string[];

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'vipush-hostile-'));
  writeFileSync(join(scratch, 'known_hosts'), '');
  // A key to offer, so that nothing but the hostile value could stop a connection.
  const keygen = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(scratch, 'id')]);
  if (keygen.status !== 0) throw new Error(`ssh-keygen failed: ${keygen.stderr.toString()}`);
  env = { HOME: scratch, VIPUSH_STATE_DIR: join(scratch, 'state'), VIPUSH_LOCK_DIR: scratch, SSH_AUTH_SOCK: '' };
  runArgs = ['--known-hosts', join(scratch, 'known_hosts'), '--private-key', join(scratch, 'id'), '--connect-timeout', '2'];
});
afterAll(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

/** Spawning the CLI twice per case is slow on a busy machine; every this many cases also run `vipush validate` itself. */
const VALIDATE_EVERY = 8;

/** The checks of `vipush validate`, in-process: both files, then every host's values. */
async function validationDiagnostics(c: Pick<HostileCase, 'playbook' | 'inventory' | 'extraVars'>): Promise<string[]> {
  const lines = (e: unknown): string[] => {
    if (!(e instanceof UserInputError)) throw e;
    return e.diagnostics.map(formatDiagnostic);
  };
  const [playbook, inventory] = await Promise.allSettled([loadPlaybook(c.playbook), loadInventory(c.inventory)]);
  const failed = [playbook, inventory].filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed.length > 0) return failed.flatMap((r) => lines(r.reason));
  try {
    const [pb, inv] = [playbook, inventory].map((r) => (r as PromiseFulfilledResult<unknown>).value) as [Playbook, Inventory];
    preparePlays(pb, inv, { extraVars: parseExtraVars(c.extraVars ?? []) });
    return [];
  } catch (e) {
    return lines(e);
  }
}

async function runCase(c: Pick<HostileCase, 'playbook' | 'inventory' | 'extraVars'>, viaCli = true): Promise<Outcome> {
  const extra = (c.extraVars ?? []).flatMap((e) => ['-e', e]);
  const diagnostics = await validationDiagnostics(c);
  const validate = viaCli ? await vipush(['validate', c.playbook, '-i', c.inventory, ...extra], { env }) : undefined;
  const listener = await countingListener();
  try {
    // -e ansible_port comes first, so a hostile -e of the case is still the one that counts for its own key.
    const run = await vipush(['run', c.playbook, '-i', c.inventory, '-e', `ansible_port=${listener.port}`, ...extra, ...runArgs], { env, timeoutMs: 60_000 });
    return { validate, diagnostics, run, connections: listener.count() };
  } finally {
    await listener.close();
  }
}

describe('the hostile-value corpus', () => {
  it('covers every place a value reaches a host, and substitution into each', () => {
    const names = cases.map((c) => c.name).join('\n');
    for (const kind of [
      'label-',
      'dev-',
      'sysctl-key-',
      'sysctl-value-',
      'sysctl-file-traversal-shadow',
      'sysctl-file-traversal-relative',
      'creates-',
      'removes-',
      'host-name-',
      'ansible-host-',
      'ansible-user-',
      'group-name-',
      'var-into-dev',
      'var-into-label',
      'var-into-sysctl-value',
      'var-into-sysctl-file',
      'var-into-creates',
      '-e ',
    ]) {
      expect(names, kind).toContain(kind);
    }
    for (const meta of ['semicolon', 'cmdsubst', 'backtick', 'pipe', 'amp', 'redirect', 'squote', 'dquote', 'glob', 'newline', 'nul']) {
      expect(names, meta).toContain(`sysctl-value-${meta}`);
      expect(names, meta).toContain(`creates-${meta}`);
    }
    expect(cases.length).toBeGreaterThanOrEqual(100);
  });

  it('the clean inventory and playbook are valid, and a run of them does connect (so a count of 0 means something)', async () => {
    const outcome = await runCase({ playbook: CLEAN_PLAYBOOK, inventory: CLEAN_INVENTORY });
    expect(outcome.diagnostics).toEqual([]);
    expect(outcome.validate?.stderr).toBe('');
    expect(outcome.validate?.code).toBe(0);
    expect(outcome.connections).toBeGreaterThanOrEqual(1);
    expect(outcome.run.code).toBe(1);
  });

  describe('each hostile value is refused before any connection', () => {
    const outcomes = new Map<string, Outcome>();
    beforeAll(async () => {
      const limit = pLimit(3);
      await Promise.all(cases.map((c, i) => limit(async () => outcomes.set(c.name, await runCase(c, i % VALIDATE_EVERY === 0)))));
    }, 600_000);

    it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
      const o = outcomes.get(c.name)!;
      expect(o.diagnostics).toEqual(c.expected);
      const expected = c.expected.map((line) => `vipush: ${line}`).join('\n') + '\n';
      const spawned = o.validate
        ? ([
            ['validate', o.validate],
            ['run', o.run],
          ] as const)
        : ([['run', o.run]] as const);
      for (const [command, r] of spawned) {
        expect(r.code, `${command}: ${r.stderr}`).toBe(3);
        expect(r.stdout, command).toBe('');
        expect(r.stderr, command).toBe(expected);
        for (const line of r.stderr.trimEnd().split('\n')) expect(line).toMatch(/^vipush: [^:]+:\d+:\d+: \S/);
        expect(r.stderr, command).not.toMatch(/\n\s+at |internal error/);
      }
      expect(o.connections).toBe(0);
    });
  });
});

describe("a command task is the operator's own: dangerous-looking arguments arrive as single literal words", () => {
  const playbook = join(HOSTILE, 'allowed-command.yml');

  it('validates', async () => {
    const r = await vipush(['validate', playbook, '-i', CLEAN_INVENTORY]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('each argv item is one word, byte for byte, through shJoin and a real sh', async () => {
    const play = (await loadPlaybook(playbook)).plays[0];
    const { tasks, diagnostics } = resolvePlayForHost(play, new Map());
    expect(diagnostics).toEqual([]);
    const task = tasks[0];
    if (task.module !== 'command' || task.args === undefined || !task.args.argv) throw new Error('allowed-command.yml must hold one command task with argv');
    const argv = task.args.argv;
    expect(argv).toContain('; rm -rf /');
    expect(argv.length).toBeGreaterThan(8);

    const printEach = `sh -c ${shQuote('printf "%s\\0" "$@"')} _ ${shJoin(argv)}`;
    const out = spawnSync('sh', ['-c', printEach]);
    expect(out.status).toBe(0);
    expect(out.stdout.toString('utf8').split('\0').slice(0, -1)).toEqual(argv);
  });

  it('and so through the command line the transport sends (argv, then the remote timeout wrapper)', async () => {
    const play = (await loadPlaybook(playbook)).plays[0];
    const task = resolvePlayForHost(play, new Map()).tasks[0];
    if (task.module !== 'command' || task.args === undefined || !task.args.argv) throw new Error('allowed-command.yml must hold one command task with argv');
    const words = task.args.argv;
    // printf's own format first; the hostile words follow as its arguments
    const line = withRemoteTimeout(commandLine({ argv: ['printf', '%s\\0', ...words] }), 10_000);
    const cwd = mkdtempSync(join(scratch, 'cwd-'));
    const out = spawnSync('sh', ['-c', line], { cwd });
    expect(out.status, out.stderr.toString()).toBe(0);
    expect(out.stdout.toString('utf8').split('\0').slice(0, -1)).toEqual(words);
    // nothing ran: no file was created by a `> file` or `touch` hidden in the words
    expect(readdirSync(cwd)).toEqual([]);
  });
});
