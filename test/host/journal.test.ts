import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Step } from '../../src/engine/steps.js';
import { stepLines, undoSteps } from '../../src/engine/steps.js';
import { newNonce } from '../../src/remote/markers.js';
import { applyLines, HostExit, journalLines, lockedScript, parseJournal, parseOutcomes, revertLines } from '../../src/remote/script.js';

/**
 * The journal (issue 16, item 5), run for real: a hidden-ARP apply (sysctl.conf, the live sysctl, the
 * VIP on lo, its persistence file) whose shell strace kills (SIGKILL) at each of its journal writes,
 * which are its step boundaries, and inside a file write; then what a boot would read, and the next
 * run's read of the journal, which undoes what the dead run left; then one plain re-run.
 */
const dir = mkdtempSync(join(tmpdir(), 'vipush-journal-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const VIP = '192.0.2.10';
const HIDING = 'net.ipv4.conf.all.arp_ignore = 1\n';

function steps(d: string): Step[] {
  const conf = join(d, 'sysctl.conf');
  const persisted = join(d, 'vipush-lo-1');
  return [
    {
      index: 0,
      taskIndex: 0,
      change: {
        kind: 'file',
        path: conf,
        before: { content: Buffer.from('# old\n'), mode: 0o644, uid: 0, gid: 0 },
        after: { content: Buffer.from(HIDING), mode: 0o644 },
      },
    },
    { index: 1, taskIndex: 0, change: { kind: 'sysctl-live', key: 'net.ipv4.conf.all.arp_ignore', from: '0', to: '1' } },
    { index: 2, taskIndex: 1, change: { kind: 'address', op: 'add', family: 4, cidr: `${VIP}/32`, dev: 'lo', scope: 'host', label: 'lo:1' } },
    { index: 3, taskIndex: 1, change: { kind: 'file', path: persisted, before: null, after: { content: Buffer.from(`${VIP}/32\n`), mode: 0o644 } } },
  ];
}

interface Case {
  /** strace's filter and injection, with {journal} and {temp} for the paths */
  kill: string;
}

/**
 * In a network namespace of its own with a directory of its own: the apply under strace (killed as
 * `kill` says, or not at all), then the state (live and in the files), then the next run's read of
 * the journal, the state again, and a re-run of the apply with a new nonce.
 */
function crash(c: Case | null) {
  const d = mkdtempSync(join(dir, 'case-'));
  const etc = join(d, 'etc');
  mkdirSync(etc);
  writeFileSync(join(etc, 'sysctl.conf'), '# old\n');
  const ctx = { nonce: newNonce(), runDir: join(d, 'run'), stateDir: join(d, 'state') };
  const journal = join(ctx.stateDir, 'journal', 'current');
  const apply = join(d, 'apply.sh');
  writeFileSync(apply, lockedScript(ctx, 5, applyLines(stepLines(steps(etc)))));
  const readCtx = { ...ctx, nonce: newNonce() };
  const read = join(d, 'read.sh');
  writeFileSync(read, lockedScript(readCtx, 5, journalLines()));
  const again = join(d, 'again.sh');
  writeFileSync(again, lockedScript({ ...ctx, nonce: newNonce() }, 5, applyLines(stepLines(steps(etc)))));
  const temp = (name: string) => join(etc, `.vipush-${ctx.nonce}-${name}.tmp`);
  const strace = c
    ? `strace -f -o /dev/null ${c.kill.replace('{journal}', journal).replace('{temp0}', temp('sysctl.conf')).replace('{temp3}', temp('vipush-lo-1'))} `
    : '';
  const state = `echo "@@state $(cat /proc/sys/net/ipv4/conf/all/arp_ignore) $(ip -o -4 addr show dev lo to ${VIP}/32 | grep -o 'scope [a-z]*' || echo absent) [$(cat ${etc}/sysctl.conf)] [$(cat ${etc}/vipush-lo-1 2>/dev/null || echo none)] $(ls -A ${etc} | tr '\\n' ' ')"`;
  const sh = [
    'ip link set lo up',
    'ip link add eth9 type veth peer name eth9p; ip link set eth9 up; ip addr add 198.18.9.2/24 dev eth9',
    `${strace}sh -s < ${apply} > ${d}/apply.out; echo "@@apply $?"`,
    state,
    `sh -s < ${read} > ${d}/read.out; echo "@@read $?"`,
    `cat ${d}/read.out`,
    state,
    `sh -s < ${again} > ${d}/again.out; echo "@@again $?"`,
    state,
  ].join('\n');
  const r = spawnSync('unshare', ['-n', 'sh', '-c', sh]);
  const out = r.stdout.toString();
  const states = [...out.matchAll(/@@state (.*)/g)].map((m) => m[1].trim());
  return {
    apply: Number(/@@apply (\d+)/.exec(out)?.[1]),
    read: Number(/@@read (\d+)/.exec(out)?.[1]),
    again: Number(/@@again (\d+)/.exec(out)?.[1]),
    journal: parseJournal(Buffer.from(out), readCtx.nonce),
    runNonce: ctx.nonce,
    states,
    stderr: r.stderr.toString(),
  };
}

const PRISTINE = '0 absent [# old] [none] sysctl.conf';
const CONVERGED = '1 scope host [net.ipv4.conf.all.arp_ignore = 1] [192.0.2.10/32] sysctl.conf vipush-lo-1';

/** The ARP invariant on a state line: live, and as a boot would read the files. */
function safe(state: string): boolean {
  const [ignore, where] = state.split(' ');
  const live = where === 'absent' || ignore === '1';
  const boot = !state.includes('vipush-lo-1') || state.includes('[net.ipv4.conf.all.arp_ignore = 1]');
  return live && boot;
}

describe('the journal: a host shell killed at every step boundary, then the next run', () => {
  it('without a crash: the run converges and its journal says it ended; the next read undoes nothing', () => {
    const r = crash(null);
    expect(r.apply, r.stderr).toBe(0);
    expect(r.states[0]).toBe(CONVERGED);
    expect(r.journal).toMatchObject({ state: 'end', run: r.runNonce, undone: 0 });
    expect(r.states[1]).toBe(CONVERGED);
  });

  // a full run writes its journal 13 times: run, then per step its intent, a temp file's name for a
  // file write, and its result, then end, then the journal cut down to its first line and end
  const boundaries = Array.from({ length: 13 }, (_, i) => i + 1);
  it.each(boundaries)('killed at its journal write %i: safe live and at boot, undone by the next read, and a re-run converges', (k) => {
    const r = crash({ kill: `-P {journal} -e trace=write -e inject=write:signal=KILL:when=${k}` });
    expect(r.apply, r.stderr).toBe(137);
    const [left, afterRead, afterAgain] = r.states;
    expect(safe(left), left).toBe(true);
    if (k === 13) {
      // every step is done and `end` written: the journal, cut down to its first line and end, was cut short
      expect(left).toBe(CONVERGED);
      expect(r.journal?.state).toBe('none');
      expect(afterRead).toBe(CONVERGED);
      return;
    }
    expect(r.read).toBe(0);
    expect(r.journal?.state === 'undone' || (k === 1 && r.journal?.state === 'none'), JSON.stringify(r.journal)).toBe(true);
    expect(r.journal?.failed).toBe(0);
    // undone, with no temp file left
    expect(afterRead).toBe(PRISTINE);
    expect(r.again).toBe(0);
    expect(afterAgain).toBe(CONVERGED);
  });

  it.each([
    ['sysctl.conf', '{temp0}'],
    ['the persistence file', '{temp3}'],
  ])('killed while it writes %s (its temp file created, half written): the next read removes the temp file and undoes the rest', (_, temp) => {
    const r = crash({ kill: `-P ${temp} -e trace=write -e inject=write:signal=KILL:when=1` });
    expect(r.apply, r.stderr).toBe(137);
    expect(r.states[0]).toMatch(/\.vipush-[0-9a-f]+-.*\.tmp/);
    expect(safe(r.states[0]), r.states[0]).toBe(true);
    expect(r.journal).toMatchObject({ state: 'undone', failed: 0 });
    expect(r.states[1]).toBe(PRISTINE);
    expect(r.again).toBe(0);
    expect(r.states[2]).toBe(CONVERGED);
  });
});

describe('the controller gone (a marker write fails): the apply stops at the step boundary and reverts from its journal', () => {
  // strace makes the K-th write to the script's output fail as a closed pipe does (EPIPE and SIGPIPE):
  // the 4th is step 1's done marker (steps 0 and 1 took effect), the 5th step 2's begin marker
  it.each([4, 5])('marker write %i: reverts what it did, and its journal says so', (k) => {
    const d = mkdtempSync(join(dir, 'lost-'));
    const etc = join(d, 'etc');
    mkdirSync(etc);
    writeFileSync(join(etc, 'sysctl.conf'), '# old\n');
    const ctx = { nonce: newNonce(), runDir: join(d, 'run'), stateDir: join(d, 'state') };
    const apply = join(d, 'apply.sh');
    writeFileSync(apply, lockedScript(ctx, 5, applyLines(stepLines(steps(etc)))));
    const readCtx = { ...ctx, nonce: newNonce() };
    const read = join(d, 'read.sh');
    writeFileSync(read, lockedScript(readCtx, 5, journalLines()));
    const out = join(d, 'apply.out');
    const r = spawnSync('unshare', [
      '-n',
      'sh',
      '-c',
      `ip link set lo up
strace -f -o /dev/null -P ${out} -e trace=write -e inject=write:error=EPIPE:signal=PIPE:when=${k} sh -s < ${apply} > ${out}; echo "@@apply $?"
echo "@@state $(cat /proc/sys/net/ipv4/conf/all/arp_ignore) $(ip -o -4 addr show dev lo to ${VIP}/32 | grep -o 'scope [a-z]*' || echo absent) [$(cat ${etc}/sysctl.conf)] $(ls -A ${etc} | tr '\\n' ' ')"
sh -s < ${read}`,
    ]);
    const stdout = r.stdout.toString();
    expect(Number(/@@apply (\d+)/.exec(stdout)?.[1]), r.stderr.toString()).toBe(HostExit.controllerLost);
    expect(/@@state (.*)/.exec(stdout)?.[1].trim()).toBe('0 absent [# old] sysctl.conf');
    // the journal says the run was undone (by itself): the next read has nothing to do
    expect(parseJournal(r.stdout, readCtx.nonce)).toMatchObject({ state: 'recovered', run: ctx.nonce });
    const seen = parseOutcomes(readFileSync(out), ctx.nonce).outcomes;
    expect([...seen.keys()]).toEqual(k === 4 ? [0] : [0, 1]);
  });
});

describe("the controller's revert marks the journal of the run it reverts, and only that one", () => {
  it('a failed apply, reverted by vipush: the next read undoes nothing more; a revert naming another run leaves the journal alone', () => {
    const d = mkdtempSync(join(dir, 'revert-'));
    const etc = join(d, 'etc');
    mkdirSync(etc);
    writeFileSync(join(etc, 'sysctl.conf'), '# old\n');
    const ctx = { nonce: newNonce(), runDir: join(d, 'run'), stateDir: join(d, 'state') };
    const all = steps(etc);
    // arp_ignore stays 0 (the sysctl step is left out): the host refuses the VIP, so the apply stops at step 2
    const failing = [all[0], all[2], all[3]];
    const script = (name: string, text: string) => {
      const f = join(d, name);
      writeFileSync(f, text);
      return f;
    };
    const apply = script('apply.sh', lockedScript(ctx, 5, applyLines(stepLines(failing))));
    const undo = undoSteps([all[0]]);
    const other = script('other.sh', lockedScript({ ...ctx, nonce: newNonce() }, 5, revertLines(stepLines(undo), '0123abcd')));
    const revert = script('revert.sh', lockedScript({ ...ctx, nonce: newNonce() }, 5, revertLines(stepLines(undo), ctx.nonce)));
    const readCtx = { ...ctx, nonce: newNonce() };
    const read = script('read.sh', lockedScript(readCtx, 5, journalLines()));
    const journal = join(ctx.stateDir, 'journal', 'current');
    const r = spawnSync('unshare', [
      '-n',
      'sh',
      '-c',
      `ip link set lo up; ip link add eth9 type veth peer name eth9p; ip link set eth9 up; ip addr add 198.18.9.2/24 dev eth9
sh -s < ${apply} >/dev/null; echo "@@apply $?"
sh -s < ${other} >/dev/null; echo "@@other $?"; tail -n 1 ${journal}
sh -s < ${revert} >/dev/null; echo "@@revert $?"; cat ${journal}; echo "@@conf $(cat ${etc}/sysctl.conf) $(ls -A ${etc} | tr '\\n' ' ')"
sh -s < ${read}`,
    ]);
    const out = r.stdout.toString();
    expect(out, r.stderr.toString()).toContain(
      `@@apply ${HostExit.stepFailed}\n@@other 0\nf 2\n@@revert 0\nrun ${ctx.nonce}\nreverted\n@@conf # old sysctl.conf \n`,
    );
    expect(parseJournal(r.stdout, readCtx.nonce)).toMatchObject({ state: 'reverted', run: ctx.nonce, undone: 0 });
  });
});
