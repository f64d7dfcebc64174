import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Change } from '../../src/changes/index.js';
import { stepLines, undoSteps } from '../../src/engine/steps.js';
import { sysctlPath } from '../../src/facts/gather.js';
import { newNonce } from '../../src/remote/markers.js';
import { applyLines, HostExit, lockedScript, parseOutcomes, revertLines } from '../../src/remote/script.js';

/**
 * Every undo restores only what the run wrote and still finds there: the host-side compare-and-swap
 * of vp_write, vp_rm, vp_sysctl and vp_addr_del, run for real by sh (as root, with a run directory of
 * its own; addresses and sysctls in a network namespace of their own).
 */
const dir = mkdtempSync(join(tmpdir(), 'vipush-undo-'));
const runDir = join(dir, 'run');
// vipush's state (the journal) of these scripts: their own, not this machine's /var/lib/vipush
const stateDir = join(dir, 'state');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const nonce = newNonce();
/** The revert script of the undo of `change` (a change a run made), as vipush sends it. */
const undoScript = (change: Change, force = false) =>
  lockedScript({ nonce, runDir, stateDir }, 30, revertLines(stepLines(undoSteps([{ index: 0, taskIndex: 0, change }], { force }))));

/** Runs the undo of `change` here; its exit and its one step's outcome. */
function undo(change: Change, force = false) {
  const r = spawnSync('sh', ['-s'], { input: undoScript(change, force) });
  return { exit: r.status, step: parseOutcomes(r.stdout, nonce).outcomes.get(0) };
}

const file = (content: string, mode = 0o644) => ({ content: Buffer.from(content), mode, uid: 0, gid: 0 });
const REFUSED = HostExit.revertIncomplete;

describe('the undo of a file write', () => {
  const written = (path: string): Change => ({ kind: 'file', path, before: file('old\n'), after: { content: Buffer.from('written\n'), mode: 0o644 } });

  it('restores a file that still holds what the run wrote', () => {
    const f = join(dir, 'untouched.conf');
    writeFileSync(f, 'written\n');
    expect(undo(written(f))).toMatchObject({ exit: 0, step: { ok: true } });
    expect(readFileSync(f, 'utf8')).toBe('old\n');
  });

  it('leaves a file changed by someone else after the write, and says so; --force restores it anyway', () => {
    const f = join(dir, 'edited.conf');
    writeFileSync(f, 'edited by hand\n');
    const ino = statSync(f).ino;
    expect(undo(written(f))).toMatchObject({
      exit: REFUSED,
      step: { ok: false, output: `${f} changed since vipush wrote it; not restored (vipush rollback --force restores it anyway)` },
    });
    expect(readFileSync(f, 'utf8')).toBe('edited by hand\n');
    expect(statSync(f).ino).toBe(ino);
    expect(readdirSync(dir).filter((x) => x.includes('vipush'))).toEqual([]);
    expect(undo(written(f), true)).toMatchObject({ exit: 0, step: { ok: true } });
    expect(readFileSync(f, 'utf8')).toBe('old\n');
  });

  it('a file that already holds what the undo restores is fine, whoever put it back', () => {
    const f = join(dir, 'back.conf');
    writeFileSync(f, 'old\n');
    expect(undo(written(f))).toMatchObject({ exit: 0, step: { ok: true } });
    expect(readFileSync(f, 'utf8')).toBe('old\n');
  });

  it('a file the run removed is put back while nothing took its place; one that appeared since stays', () => {
    const f = join(dir, 'removed.conf');
    const removed: Change = { kind: 'file', path: f, before: file('old\n', 0o600), after: null };
    expect(undo(removed)).toMatchObject({ exit: 0, step: { ok: true } });
    expect(readFileSync(f, 'utf8')).toBe('old\n');
    expect(statSync(f).mode & 0o777).toBe(0o600);
    writeFileSync(f, 'someone else\n');
    expect(undo(removed).step).toMatchObject({
      ok: false,
      output: `${f} appeared since vipush removed it; not restored (vipush rollback --force restores it anyway)`,
    });
    expect(readFileSync(f, 'utf8')).toBe('someone else\n');
  });
});

describe('the undo of a file the run created (vp_rm)', () => {
  const created = (path: string): Change => ({ kind: 'file', path, before: null, after: { content: Buffer.from('created\n'), mode: 0o644 } });

  it('removes it while it holds what the run wrote; a file gone already is fine', () => {
    const f = join(dir, 'created.conf');
    writeFileSync(f, 'created\n');
    expect(undo(created(f))).toMatchObject({ exit: 0, step: { ok: true } });
    expect(existsSync(f)).toBe(false);
    expect(undo(created(f))).toMatchObject({ exit: 0, step: { ok: true } });
  });

  it('keeps one changed since, and says so; --force removes it anyway', () => {
    const f = join(dir, 'created-edited.conf');
    writeFileSync(f, 'created\nand a line added by hand\n');
    expect(undo(created(f))).toMatchObject({
      exit: REFUSED,
      step: { ok: false, output: `${f} changed since vipush wrote it; not removed (vipush rollback --force removes it anyway)` },
    });
    expect(existsSync(f)).toBe(true);
    expect(undo(created(f), true)).toMatchObject({ exit: 0, step: { ok: true } });
    expect(existsSync(f)).toBe(false);
  });
});

/**
 * Runs `lines` in a new network namespace (its own addresses and net.* sysctls). Each `undo NAME`
 * line runs that script and prints its exit and `state` (a shell expression) after it.
 */
function inNetns(scripts: Record<string, string>, lines: string[], state: string) {
  const files = Object.fromEntries(
    Object.entries(scripts).map(([name, text]) => {
      const f = join(dir, `${name}.sh`);
      writeFileSync(f, text);
      return [name, f];
    }),
  );
  const sh = lines.map((l) => l.replace(/^undo (\S+)$/, (_, n) => `sh -s < ${files[n]}; echo "@@exit $? $(${state})"`)).join('\n');
  // ARP hidden in the namespace (it starts with this machine's conf/all): the host checks that before a VIP goes back on lo
  const r = spawnSync('unshare', ['-n', 'sh', '-c', `ip link set lo up\necho 1 > /proc/sys/net/ipv4/conf/all/arp_ignore\n${sh}`]);
  expect(r.status, r.stderr.toString()).toBe(0);
  const parts = r.stdout.toString().split(/@@exit (\d+) (.*)\n/);
  const out: Array<{ exit: number; state: string; output?: string; ok?: boolean }> = [];
  for (let i = 0; i + 2 < parts.length; i += 3) {
    const step = parseOutcomes(parts[i], nonce).outcomes.get(0);
    out.push({ exit: Number(parts[i + 1]), state: parts[i + 2], ok: step?.ok, output: step?.output });
  }
  return out;
}

describe('the undo of a live sysctl, in a network namespace of its own', () => {
  it('restores a kernel that still has what the run wrote, keeps another value, and --force restores it anyway', () => {
    const key = 'net.ipv4.conf.lo.arp_ignore';
    const proc = sysctlPath(key);
    const run: Change = { kind: 'sysctl-live', key, from: '0', to: '3' };
    const runs = inNetns(
      { undo: undoScript(run), force: undoScript(run, true) },
      [`echo 3 > ${proc}`, 'undo undo', `echo 1 > ${proc}`, 'undo undo', 'undo force', 'undo undo'],
      `cat ${proc}`,
    );
    expect(runs).toEqual([
      { exit: 0, state: '0', ok: true, output: '' },
      {
        exit: REFUSED,
        state: '1',
        ok: false,
        output: `sysctl ${key} changed since vipush wrote it (the kernel has 1, vipush wrote 3); not restored (vipush rollback --force restores it anyway)`,
      },
      { exit: 0, state: '0', ok: true, output: '' },
      // the kernel already has the old value: nothing to do
      { exit: 0, state: '0', ok: true, output: '' },
    ]);
  });

  it('compares values with their blanks folded, as the kernel prints tabs', () => {
    const key = 'net.ipv4.ping_group_range';
    const proc = sysctlPath(key);
    const [old] = execFileSync('unshare', ['-n', 'cat', proc]).toString().split('\n');
    expect(old).toContain('\t');
    const run: Change = { kind: 'sysctl-live', key, from: old, to: '0 0' };
    const runs = inNetns({ undo: undoScript(run) }, [`echo 0 0 > ${proc}`, 'undo undo'], `cat ${proc} | tr '\\t' ' '`);
    expect(runs).toEqual([{ exit: 0, state: old.replace(/\t/g, ' '), ok: true, output: '' }]);
  });

  it("reads a value longer than one byte back whole (dash's read gets only the first byte of a /proc/sys file)", () => {
    const key = 'net.ipv4.ip_default_ttl';
    const proc = sysctlPath(key);
    const run: Change = { kind: 'sysctl-live', key, from: '64', to: '65' };
    const apply = lockedScript({ nonce, runDir, stateDir }, 30, applyLines(stepLines([{ index: 0, taskIndex: 0, change: run }])));
    const runs = inNetns({ apply, undo: undoScript(run) }, ['undo apply', 'undo undo'], `cat ${proc}`);
    expect(runs).toEqual([
      { exit: 0, state: '65', ok: true, output: '' },
      { exit: 0, state: '64', ok: true, output: '' },
    ]);
  });
});

describe('the undo of an address the run added, in a network namespace of its own', () => {
  it('removes it while it has the scope the run gave it; keeps one whose scope changed; --force removes it anyway; gone is fine', () => {
    const added: Change = { kind: 'address', op: 'add', family: 4, cidr: '192.0.2.8/32', dev: 'lo', scope: 'host', label: 'lo:8' };
    const runs = inNetns(
      { undo: undoScript(added), force: undoScript(added, true) },
      [
        'ip addr add 192.0.2.8/32 dev lo scope host label lo:8',
        // another address in the same /24 is no concern of this undo
        'ip addr add 192.0.2.9/24 dev lo scope host',
        'undo undo',
        'ip addr add 192.0.2.8/32 dev lo scope global',
        'undo undo',
        'undo force',
        'undo undo',
      ],
      'ip -o -4 addr show dev lo | grep -o "inet [0-9./]* scope [a-z]*" | tr "\\n" ","',
    );
    expect(runs).toEqual([
      { exit: 0, state: 'inet 127.0.0.1/8 scope host,inet 192.0.2.9/24 scope host,', ok: true, output: '' },
      {
        exit: REFUSED,
        state: 'inet 127.0.0.1/8 scope host,inet 192.0.2.9/24 scope host,inet 192.0.2.8/32 scope global,',
        ok: false,
        output:
          '192.0.2.8/32 on lo changed since vipush added it (scope global now, vipush gave it scope host); not removed (vipush rollback --force removes it anyway)',
      },
      { exit: 0, state: 'inet 127.0.0.1/8 scope host,inet 192.0.2.9/24 scope host,', ok: true, output: '' },
      { exit: 0, state: 'inet 127.0.0.1/8 scope host,inet 192.0.2.9/24 scope host,', ok: true, output: '' },
    ]);
  });

  it('the undo of a removal puts the address back; one already back with its scope is fine', () => {
    const removed: Change = { kind: 'address', op: 'del', family: 4, cidr: '192.0.2.8/32', dev: 'lo', scope: 'host', label: 'lo:8' };
    const runs = inNetns(
      { undo: undoScript(removed) },
      ['undo undo', 'undo undo'],
      'ip -o -4 addr show dev lo to 192.0.2.8/32 | grep -o "inet [0-9./]* scope [a-z]* lo:8"',
    );
    expect(runs).toEqual([
      { exit: 0, state: 'inet 192.0.2.8/32 scope host lo:8', ok: true, output: '' },
      { exit: 0, state: 'inet 192.0.2.8/32 scope host lo:8', ok: true, output: '' },
    ]);
  });
});
