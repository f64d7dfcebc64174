import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chownSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { printfFormat, stepArgv } from '../../src/changes/index.js';
import { stepLines, undoSteps, type Step } from '../../src/engine/steps.js';
import { newNonce } from '../../src/remote/markers.js';
import { applyLines, HostExit, lockedScript, parseOutcomes as parseMarked, revertLines } from '../../src/remote/script.js';

const dir = mkdtempSync(join(tmpdir(), 'vipush-changes-'));
// the host run directory (lock, scratch output) of these scripts: their own, not this machine's /run/vipush
const runDir = join(dir, 'run');
// vipush's state (the journal) of these scripts: their own, not this machine's /var/lib/vipush
const stateDir = join(dir, 'state');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Scripts as a host gets them over a connection of their own, with one nonce for every script of this file. */
const nonce = newNonce();
const applyScript = (steps: Step[], lockWait = 30) => lockedScript({ nonce, runDir, stateDir }, lockWait, applyLines(stepLines(steps)));
const revertScript = (steps: Step[]) => lockedScript({ nonce, runDir, stateDir }, 30, revertLines(stepLines(steps)));
const parseOutcomes = (out: string | Buffer) => parseMarked(out, nonce);
const LOCK_BUSY_EXIT = HostExit.lockBusy;
const NOT_ROOT_EXIT = HostExit.notRoot;

describe('printfFormat: file bytes as a printf format, printed by the shell itself', () => {
  it('prints exactly the bytes it was given, in dash and in bash', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (arr) => {
        const bytes = Buffer.from(arr);
        for (const sh of ['sh', 'bash']) {
          const out = execFileSync(sh, ['-c', 'printf -- "$1"', 'sh', printfFormat(bytes)]);
          expect(out.equals(bytes)).toBe(true);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('keeps text readable and escapes what printf would interpret', () => {
    expect(printfFormat(Buffer.from('a = 1\n%s \\n\t\0'))).toBe('a = 1\n%%s \\\\n\\011\\000');
    // a digit after an escape can't extend it
    expect(execFileSync('sh', ['-c', 'printf -- "$1"', 'sh', printfFormat(Buffer.from('\x017'))]).equals(Buffer.from('\x017'))).toBe(true);
  });
});

function run(steps: Step[]): ReturnType<typeof parseOutcomes> {
  const out = execFileSync('sh', ['-s'], { input: applyScript(steps) });
  return parseOutcomes(out.toString());
}

describe('vp_write, run for real by sh', () => {
  it('creates a new file with exactly the wanted mode, and a mode with execute bits too', () => {
    const a = join(dir, 'private.conf');
    const b = join(dir, 'tool.sh');
    const r = run([
      { index: 0, taskIndex: 0, change: { kind: 'file', path: a, before: null, after: { content: Buffer.from('secret\n'), mode: 0o600 } } },
      { index: 1, taskIndex: 0, change: { kind: 'file', path: b, before: null, after: { content: Buffer.from('#!/bin/sh\n'), mode: 0o755 } } },
    ]);
    expect(r.ended).toBe(true);
    expect(statSync(a).mode & 0o7777).toBe(0o600);
    expect(statSync(b).mode & 0o7777).toBe(0o755);
    expect(readFileSync(a, 'utf8')).toBe('secret\n');
  });

  it('replaces the file a symlink points to, keeps the link, and leaves no temp file', () => {
    const target = join(dir, 'real.conf');
    const link = join(dir, 'link.conf');
    writeFileSync(target, 'old\n');
    symlinkSync(target, link);
    const before = { content: Buffer.from('old\n'), mode: 0o644, uid: statSync(target).uid, gid: statSync(target).gid };
    const r = run([
      {
        index: 0,
        taskIndex: 0,
        change: { kind: 'file', path: link, before, after: { content: Buffer.from('new\n'), mode: 0o644, uid: before.uid, gid: before.gid } },
      },
    ]);
    expect(r.outcomes.get(0)?.ok).toBe(true);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readFileSync(target, 'utf8')).toBe('new\n');
    expect(readdirSync(dir).filter((f) => f.includes('vipush'))).toEqual([]);
  });

  it("keeps an existing file's owner when it is not root's, by number (no chown --reference, which only GNU has)", () => {
    const f = join(dir, 'owned.conf');
    writeFileSync(f, 'old\n', { mode: 0o640 });
    chownSync(f, 65534, 65534);
    const change = {
      kind: 'file' as const,
      path: f,
      before: { content: Buffer.from('old\n'), mode: 0o640, uid: 65534, gid: 65534 },
      after: { content: Buffer.from('new\n'), mode: 0o640 },
    };
    const script = applyScript([{ index: 0, taskIndex: 0, change }]);
    expect(script).not.toContain('--reference');
    const r = parseOutcomes(execFileSync('sh', ['-s'], { input: script }).toString());
    expect(r.outcomes.get(0)?.ok).toBe(true);
    expect([statSync(f).uid, statSync(f).gid, statSync(f).mode & 0o7777]).toEqual([65534, 65534, 0o640]);
    expect(readFileSync(f, 'utf8')).toBe('new\n');
    // and a root-owned one stays root's, with no chown at all
    const g = join(dir, 'root.conf');
    writeFileSync(g, 'old\n');
    const rootChange = {
      kind: 'file' as const,
      path: g,
      before: { content: Buffer.from('old\n'), mode: 0o644, uid: 0, gid: 0 },
      after: { content: Buffer.from('new\n'), mode: 0o644 },
    };
    expect(stepArgv(change).slice(-2)).toEqual(['65534', '65534']);
    expect(stepArgv(rootChange).at(-1)).toBe('-'); // no owner arguments
    expect(run([{ index: 0, taskIndex: 0, change: rootChange }]).outcomes.get(0)?.ok).toBe(true);
    expect([statSync(g).uid, statSync(g).gid]).toEqual([0, 0]);
  });

  it('refuses a file changed since the plan read it: the file and its inode stay, no temp file is left', () => {
    const f = join(dir, 'edited.conf');
    writeFileSync(f, 'edited by someone else\n');
    const ino = statSync(f).ino;
    const r = spawnSync('sh', ['-s'], {
      input: applyScript([
        {
          index: 0,
          taskIndex: 0,
          change: {
            kind: 'file',
            path: f,
            before: { content: Buffer.from('what the plan saw\n'), mode: 0o644, uid: 0, gid: 0 },
            after: { content: Buffer.from('new\n'), mode: 0o644 },
          },
        },
      ]),
    });
    expect(r.status).toBe(70);
    expect(parseOutcomes(r.stdout.toString()).outcomes.get(0)).toMatchObject({ ok: false, output: `${f} changed since vipush read it; run again` });
    expect(readFileSync(f, 'utf8')).toBe('edited by someone else\n');
    expect(statSync(f).ino).toBe(ino);
    expect(readdirSync(dir).filter((x) => x.includes('vipush'))).toEqual([]);
  });

  it('an undo whose file already holds the bytes writes nothing (no temp file, same inode); one that does not, restores them', () => {
    const f = join(dir, 'undo.conf');
    writeFileSync(f, 'original\n');
    const ino = statSync(f).ino;
    // the undo of a run that wrote `written` over `before`
    const undo = (before: string, written: string): Step[] =>
      undoSteps([
        {
          index: 0,
          taskIndex: 0,
          change: {
            kind: 'file',
            path: f,
            before: { content: Buffer.from(before), mode: 0o600, uid: 0, gid: 0 },
            after: { content: Buffer.from(written), mode: 0o644 },
          },
        },
      ]);
    const same = parseOutcomes(execFileSync('sh', ['-s'], { input: revertScript(undo('original\n', 'written\n')) }).toString());
    expect(same.outcomes.get(0)?.ok).toBe(true);
    expect(statSync(f).ino).toBe(ino);
    expect(statSync(f).mode & 0o777).toBe(0o600);
    const other = parseOutcomes(execFileSync('sh', ['-s'], { input: revertScript(undo('restored\n', 'original\n')) }).toString());
    expect(other.outcomes.get(0)?.ok).toBe(true);
    expect(readFileSync(f, 'utf8')).toBe('restored\n');
    expect(statSync(f).ino).not.toBe(ino);
    expect(readdirSync(dir).filter((x) => x.includes('vipush'))).toEqual([]);
  });
});

describe('vp_addr_add and vp_addr_del, run for real by sh in a network namespace of their own', () => {
  const addr = (op: 'add' | 'del'): Step => ({
    index: 0,
    taskIndex: 0,
    change: { kind: 'address', op, family: 4, cidr: '192.0.2.7/32', dev: 'lo', scope: 'host', label: 'lo:9' },
  });
  it('adds and reads back, refuses an address that is there with another scope, removes, and tolerates one already gone', () => {
    const files = ['add', 'del'].map((op) => {
      const f = join(dir, `addr-${op}.sh`);
      writeFileSync(f, applyScript([addr(op as 'add' | 'del')]));
      return f;
    });
    const [add, del] = files;
    // in a new namespace: add; remove; remove again; the address with scope global first, then add with scope host (ip stops at the refused add)
    const r = spawnSync('unshare', [
      '-n',
      'sh',
      '-c',
      `ip link set lo up; echo 1 > /proc/sys/net/ipv4/conf/all/arp_ignore; for f in ${add} ${del} ${del}; do sh -s < $f; echo "@@exit $?"; done; ip addr add 192.0.2.7/32 dev lo scope global; sh -s < ${add}; echo "@@exit $?"`,
    ]);
    expect(r.status).toBe(0);
    const runs = r.stdout.toString().split(/@@exit (\d+)\n/);
    const outcome = (i: number) => ({ exit: Number(runs[i * 2 + 1]), step: parseOutcomes(runs[i * 2]).outcomes.get(0) });
    expect(outcome(0)).toMatchObject({ exit: 0, step: { ok: true } });
    expect(outcome(1)).toMatchObject({ exit: 0, step: { ok: true } });
    expect(outcome(2)).toMatchObject({ exit: 0, step: { ok: true } });
    const wrong = outcome(3);
    expect(wrong.exit).toBe(70);
    expect(wrong.step?.ok).toBe(false);
    expect(wrong.step?.output).toBe(
      '192.0.2.7/32 is already on lo with scope global (vipush wants scope host): it changed since it was read; changed nothing: run again',
    );
  });
});

describe('the apply script prelude, run for real by sh', () => {
  const sysctl = (to: string): Step => ({ index: 0, taskIndex: 0, change: { kind: 'sysctl-live', key: 'net.vipush.test', from: '0', to } as never });

  it('waits for the run lock, and says another run holds it when the wait times out', async () => {
    execFileSync('mkdir', ['-p', '-m', '700', runDir]);
    // -o: only flock itself holds the lock (not its sleep), so killing it frees the lock for the tests after this one
    const holder = spawn('flock', ['-o', join(runDir, 'lock'), 'sleep', '5'], { stdio: 'ignore' });
    try {
      await new Promise((res) => setTimeout(res, 300));
      const r = spawnSync('sh', ['-s'], { input: applyScript([], 1) });
      expect(r.status).toBe(LOCK_BUSY_EXIT);
      expect(r.stderr.toString()).toBe(`another vipush run holds ${runDir}/lock on this host\n`);
    } finally {
      holder.kill();
    }
  });

  it("says what it needs when the host's flock is not util-linux's (BusyBox's has no -w)", () => {
    const bin = mkdtempSync(join(tmpdir(), 'vipush-flock-'));
    writeFileSync(join(bin, 'flock'), '#!/bin/sh\necho "flock: unrecognized option: w" >&2\nexit 1\n', { mode: 0o755 });
    const r = spawnSync('sh', ['-s'], { input: applyScript([sysctl('1')], 1), env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } });
    expect(r.status).toBe(1);
    expect(r.stderr.toString()).toBe(
      "flock: unrecognized option: w\nvipush needs util-linux's flock (2.26 or later) on this host for its run lock; flock exited 1\n",
    );
    expect(parseOutcomes(r.stdout.toString()).outcomes.size).toBe(0);
  });

  it('stops before the first step when it does not run as root', () => {
    const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'env', 'USER=nobody', 'sh', '-s'], {
      input: applyScript([sysctl('1')], 1),
    });
    expect(r.status).toBe(NOT_ROOT_EXIT);
    expect(r.stderr.toString()).toBe(
      'vipush needs root on this host, and /etc is not writable for nobody: set ansible_become: true (sudo) or connect as root\n',
    );
    expect(parseOutcomes(r.stdout.toString()).outcomes.size).toBe(0);
  });
});

describe('apply and revert scripts, run for real by sh on this machine', () => {
  it('start from a known shell state, whatever the shell ran before them (the facts share their shell)', () => {
    const steps: Step[] = [
      { index: 0, taskIndex: 0, change: { kind: 'command', argv: ['sh', '-c', 'printf "%s|" "$@"', 'sh', 'a b', '*'], reportChanged: true } },
    ];
    const before = 'set -e -f; IFS=:; umask 077; x="a:b"\n';
    const r = spawnSync('sh', ['-s'], {
      input: `${before}${applyScript(steps)}printf 'after %s %s\\n' "$-" "$(umask)"\nfor w in $x; do printf '<%s>' "$w"; done\n`,
    });
    expect(r.status).toBe(0);
    const out = r.stdout.toString();
    expect(parseOutcomes(out).outcomes.get(0)).toMatchObject({ ok: true, output: 'a b|*|' });
    // -e and -f off, -u on, umask 022, IFS back to blanks: "a:b" is one word again
    expect(out).toMatch(/after [^e\s]*u[^e\s]* 0022\n<a:b>$/);
    expect(out).not.toMatch(/after \S*f/);
  });

  it('write files atomically, keep the mode, and stop at the first failing step', () => {
    const d = mkdtempSync(join(tmpdir(), 'vipush-script-'));
    const f = join(d, 'sysctl.conf');
    writeFileSync(f, 'old\n', { mode: 0o640 });
    const steps: Step[] = [
      {
        index: 0,
        taskIndex: 0,
        change: {
          kind: 'file',
          path: f,
          before: { content: Buffer.from('old\n'), mode: 0o640, uid: 0, gid: 0 },
          after: { content: Buffer.from("new 'quoted' $(x)\n"), mode: 0o640 },
        },
      },
      { index: 1, taskIndex: 0, change: { kind: 'command', argv: ['sh', '-c', 'echo nope >&2; exit 3'], reportChanged: true } },
      { index: 2, taskIndex: 0, change: { kind: 'file', path: join(d, 'never'), before: null, after: { content: Buffer.from('x'), mode: 0o644 } } },
    ];
    const r = spawnSync('sh', ['-s'], { input: applyScript(steps) });
    expect(r.status).toBe(70);
    const { outcomes, ended } = parseOutcomes(r.stdout);
    expect(ended).toBe(false);
    expect(outcomes.get(0)?.ok).toBe(true);
    expect(outcomes.get(1)).toEqual({ index: 1, ok: false, output: 'nope' });
    expect(outcomes.has(2)).toBe(false);
    expect(readFileSync(f, 'utf8')).toBe("new 'quoted' $(x)\n");
    expect(statSync(f).mode & 0o777).toBe(0o640);

    const undo = undoSteps(steps.slice(0, 1));
    expect(parseOutcomes(execFileSync('sh', ['-s'], { input: revertScript(undo) })).ended).toBe(true);
    expect(readFileSync(f, 'utf8')).toBe('old\n');
    expect(readdirSync(d)).toEqual(['sysctl.conf']);
    rmSync(d, { recursive: true, force: true });
  });

  it("a step's output is kept byte for byte, whether or not it ends in a newline, and a marker without the script's nonce is only text", () => {
    const say = (text: string): Step => ({ index: 0, taskIndex: 0, change: { kind: 'command', argv: ['printf', '%s', text], reportChanged: true } });
    for (const text of ['no newline', 'one newline\n', 'two\n\n', `\n@@vipush:0123:end\n`, '\n@@vipush:end\n']) {
      const out = execFileSync('sh', ['-s'], { input: applyScript([say(text)]) });
      const r = parseOutcomes(out);
      expect(r.ended).toBe(true);
      expect(r.outcomes.get(0)?.output).toBe(text.trimEnd());
    }
  });
});

describe('the ARP check on the host before a VIP goes on lo, run for real in a network namespace of its own', () => {
  const add = (scope: string, allowArp = false): Step => ({
    index: 0,
    taskIndex: 0,
    change: { kind: 'address', op: 'add', family: 4, cidr: '192.0.2.9/32', dev: 'lo', scope, label: 'lo:9', ...(allowArp ? { allowArp } : {}) },
  });
  /** In a new namespace with a veth as its "LAN" interface: the sysctls given, then the script; its exit and the address list. */
  function inNamespace(sysctls: string, steps: Step[]) {
    const f = join(dir, `arp-${Math.random().toString(16).slice(2)}.sh`);
    writeFileSync(f, applyScript(steps));
    const r = spawnSync('unshare', [
      '-n',
      'sh',
      '-c',
      `ip link set lo up; ip link add eth9 type veth peer name eth9p; ip link set eth9 up; ip addr add 198.18.9.2/24 dev eth9; ${sysctls}; sh -s < ${f}; echo "@@exit $?"; ip -o -4 addr show dev lo`,
    ]);
    const out = r.stdout.toString();
    const [script, rest] = out.split(/@@exit (\d+)\n/).reduce<[string, string]>((acc, part, i) => (i === 0 ? [part, ''] : [acc[0], acc[1] + part]), ['', '']);
    return { exit: Number(/@@exit (\d+)/.exec(out)?.[1]), step: parseOutcomes(script).outcomes.get(0), lo: rest };
  }
  const set = (k: string, v: number) => `echo ${v} > /proc/sys/net/ipv4/conf/${k}/arp_ignore`;

  it('refuses while the host would answer ARP for it, and adds nothing', () => {
    const r = inNamespace(`${set('all', 0)}; ${set('eth9', 0)}`, [add('host')]);
    expect(r.exit).toBe(70);
    expect(r.step?.output).toMatch(/refusing to add 192\.0\.2\.9\/32 to lo: arp_ignore is 0 on eth9/);
    expect(r.lo).not.toContain('192.0.2.9');
  });

  it('refuses scope global under arp_ignore 3, which hides only scope host', () => {
    const r = inNamespace(`${set('all', 3)}`, [add('global')]);
    expect(r.step?.ok).toBe(false);
    expect(r.lo).not.toContain('192.0.2.9');
  });

  it('adds it when conf/all hides it, or the LAN interface does (the kernel takes the max)', () => {
    const viaAll = inNamespace(`${set('all', 3)}`, [add('host')]);
    expect(viaAll.lo, viaAll.step?.output).toContain('192.0.2.9/32');
    const viaLan = inNamespace(`${set('all', 0)}; ${set('eth9', 1)}`, [add('global')]);
    expect(viaLan.lo, viaLan.step?.output).toContain('192.0.2.9/32');
  });

  it('adds it anyway with allow_arp', () => {
    expect(inNamespace(`${set('all', 0)}; ${set('eth9', 0)}`, [add('host', true)]).lo).toContain('192.0.2.9/32');
  });
});

describe('the ARP check on the host before an ARP sysctl is lowered, run for real in a network namespace of its own', () => {
  const VIP = '192.0.2.9/32';
  const sysctl = (iface: string, name: 'arp_ignore' | 'arp_announce', from: string, to: string, extra: Record<string, boolean> = {}): Step => ({
    index: 0,
    taskIndex: 0,
    change: { kind: 'sysctl-live', key: `net.ipv4.conf.${iface}.${name}`, from, to, ...extra },
  });
  /**
   * In a new namespace with a veth "LAN" interface and, unless `vip` is false, the VIP on lo with scope host:
   * `setup`, then each script in turn; each one's exit and step outcome, and the sysctls after all of them.
   */
  function inNamespace(setup: string, scripts: string[], opts: { vip?: boolean } = {}) {
    const files = scripts.map((text, i) => {
      const f = join(dir, `lower-${i}-${Math.random().toString(16).slice(2)}.sh`);
      writeFileSync(f, text);
      return f;
    });
    const vip = opts.vip === false ? '' : `ip addr add ${VIP} dev lo scope host;`;
    const r = spawnSync('unshare', [
      '-n',
      'sh',
      '-c',
      `ip link set lo up; ip link add eth9 type veth peer name eth9p; ip link set eth9 up; ip addr add 198.18.9.2/24 dev eth9; ${vip} ${setup}
for f in ${files.join(' ')}; do sh -s < $f; echo "@@exit $?"; done
cd /proc/sys/net/ipv4/conf; echo "@@state all=$(cat all/arp_ignore)/$(cat all/arp_announce) eth9=$(cat eth9/arp_ignore)/$(cat eth9/arp_announce) lo=$(cat lo/arp_ignore)"`,
    ]);
    expect(r.status, r.stderr.toString()).toBe(0);
    const out = r.stdout.toString();
    const parts = out.split(/@@exit (\d+)\n/);
    const runs = scripts.map((_, i) => ({ exit: Number(parts[i * 2 + 1]), step: parseOutcomes(parts[i * 2]).outcomes.get(0) }));
    return { runs, state: /@@state (.*)/.exec(out)?.[1] };
  }
  const set = (k: string, name: string, v: number) => `echo ${v} > /proc/sys/net/ipv4/conf/${k}/${name};`;

  it('refuses to lower conf/all arp_ignore under a VIP it hides, changes nothing, and says why', () => {
    const r = inNamespace(`${set('all', 'arp_ignore', 3)} ${set('all', 'arp_announce', 2)}`, [applyScript([sysctl('all', 'arp_ignore', '3', '0')])]);
    expect(r.runs[0].exit).toBe(70);
    expect(r.runs[0].step?.output).toBe(
      'refusing to set net.ipv4.conf.all.arp_ignore to 0: 192.0.2.9/32 is on lo (scope host), and eth9 would answer ARP for it (arp_ignore max(conf/all, conf/eth9) would be 0); changed nothing (remove the address first, or set allow_arp: true)',
    );
    expect(r.state).toBe('all=3/2 eth9=0/0 lo=0');
  });

  it('refuses the same lowering as an undo (a rollback) and on the interface, and arp_announce below 2', () => {
    const undo = undoSteps([sysctl('eth9', 'arp_ignore', '0', '1')]);
    const r = inNamespace(`${set('eth9', 'arp_ignore', 1)} ${set('all', 'arp_announce', 2)}`, [
      revertScript(undo),
      applyScript([sysctl('all', 'arp_announce', '2', '1')]),
    ]);
    expect(r.runs[0]).toMatchObject({ exit: 71, step: { ok: false } });
    expect(r.runs[0].step?.output).toMatch(/^refusing to set net\.ipv4\.conf\.eth9\.arp_ignore to 0: 192\.0\.2\.9\/32 is on lo/);
    expect(r.runs[1]).toMatchObject({ exit: 70, step: { ok: false } });
    expect(r.runs[1].step?.output).toMatch(/eth9 could use it as the source of its ARP requests \(arp_announce max\(conf\/all, conf\/eth9\) would be 1\)/);
    expect(r.state).toBe('all=0/2 eth9=1/0 lo=0');
  });

  it('lets a lowering through when the address stays hidden: max(all, iface) still hides it, 8 -> 1, lo (requests do not arrive there), no VIP, allow_arp', () => {
    const r = inNamespace(`${set('all', 'arp_ignore', 8)} ${set('eth9', 'arp_ignore', 3)} ${set('lo', 'arp_ignore', 3)}`, [
      applyScript([sysctl('all', 'arp_ignore', '8', '1')]),
      applyScript([sysctl('all', 'arp_ignore', '1', '0')]),
      applyScript([sysctl('lo', 'arp_ignore', '3', '0')]),
    ]);
    expect(r.runs.map((x) => [x.exit, x.step?.output])).toEqual([
      [0, ''],
      [0, ''],
      [0, ''],
    ]);
    expect(r.state).toBe('all=0/0 eth9=3/0 lo=0');
    const none = inNamespace(`${set('all', 'arp_ignore', 3)}`, [applyScript([sysctl('all', 'arp_ignore', '3', '0')])], { vip: false });
    expect(none.runs[0].exit).toBe(0);
    const allowed = inNamespace(`${set('all', 'arp_ignore', 3)}`, [applyScript([sysctl('all', 'arp_ignore', '3', '0', { allowArp: true })])]);
    expect(allowed.runs[0].exit).toBe(0);
    expect(allowed.state).toBe('all=0/0 eth9=0/0 lo=0');
  });
});

describe('the compare-and-swap of a run’s sysctl and address steps, run for real in a network namespace of its own', () => {
  const sysctl: Step = { index: 0, taskIndex: 0, change: { kind: 'sysctl-live', key: 'net.ipv4.conf.all.arp_ignore', from: '0', to: '3' } };
  const addr = (op: 'add' | 'del', scope: string): Step => ({
    index: 0,
    taskIndex: 0,
    change: { kind: 'address', op, family: 4, cidr: '192.0.2.5/32', dev: 'lo', scope },
  });
  function inNamespace(sh: (f: (s: Step) => string) => string) {
    const f = (s: Step) => {
      const p = join(dir, `cas-${Math.random().toString(16).slice(2)}.sh`);
      writeFileSync(p, applyScript([s]));
      return `sh -s < ${p}; echo "@@exit $? $(cat /proc/sys/net/ipv4/conf/all/arp_ignore) $(ip -o -4 addr show dev lo to 192.0.2.5/32 | grep -o 'scope [a-z]*')"`;
    };
    const r = spawnSync('unshare', ['-n', 'sh', '-c', `ip link set lo up\n${sh(f)}`]);
    expect(r.status, r.stderr.toString()).toBe(0);
    const parts = r.stdout.toString().split(/@@exit (\d+) (.*)\n/);
    const out: Array<{ exit: number; state: string; output?: string; same?: boolean }> = [];
    for (let i = 0; i + 2 < parts.length; i += 3) {
      const o = parseOutcomes(parts[i]).outcomes.get(0);
      out.push({ exit: Number(parts[i + 1]), state: parts[i + 2].trim(), output: o?.output, same: o?.same ?? false });
    }
    return out;
  }

  it('a sysctl: changed since it was read -> nothing written; already there -> nothing to do ("same"); as read -> written', () => {
    const runs = inNamespace((f) =>
      [
        'echo 1 > /proc/sys/net/ipv4/conf/all/arp_ignore',
        f(sysctl),
        'echo 3 > /proc/sys/net/ipv4/conf/all/arp_ignore',
        f(sysctl),
        'echo 0 > /proc/sys/net/ipv4/conf/all/arp_ignore',
        f(sysctl),
      ].join('\n'),
    );
    expect(runs).toEqual([
      {
        exit: 70,
        state: '1',
        output: 'sysctl net.ipv4.conf.all.arp_ignore changed since it was read (the kernel has 1, vipush read 0); changed nothing: run again',
        same: false,
      },
      { exit: 0, state: '3', output: '', same: true },
      { exit: 0, state: '3', output: '', same: false },
    ]);
  });

  it('an address: there already with the scope -> "same"; a removal of one whose scope changed -> refused; one already gone -> "same"', () => {
    const runs = inNamespace((f) =>
      [
        'echo 1 > /proc/sys/net/ipv4/conf/all/arp_ignore',
        f(addr('add', 'host')),
        f(addr('add', 'host')),
        'ip addr del 192.0.2.5/32 dev lo; ip addr add 192.0.2.5/32 dev lo scope global',
        f(addr('del', 'host')),
        'ip addr del 192.0.2.5/32 dev lo',
        f(addr('del', 'host')),
      ].join('\n'),
    );
    expect(runs).toEqual([
      { exit: 0, state: '1 scope host', output: '', same: false },
      { exit: 0, state: '1 scope host', output: '', same: true },
      {
        exit: 70,
        state: '1 scope global',
        output: '192.0.2.5/32 on lo changed since it was read (scope global now, vipush read scope host); changed nothing: run again',
        same: false,
      },
      { exit: 0, state: '1', output: '', same: true },
    ]);
  });
});
