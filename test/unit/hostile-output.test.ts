import { afterEach, describe, expect, it } from 'vitest';
import { describeDiff } from '../../src/changes/index.js';
import { errorText } from '../../src/cli/main.js';
import { transportLogger } from '../../src/cli/inputs.js';
import type { HostResult, TaskResult } from '../../src/engine/types.js';
import { UserInputError } from '../../src/errors.js';
import type { JsonReport } from '../../src/report/json.js';
import { renderRecap } from '../../src/report/recap.js';
import { JsonLines, TerminalProgress } from '../../src/report/terminal.js';

// What a hostile host sends: clear screen, a clipboard write (OSC 52), a carriage return over the
// FAILED line, a forged line of vipush's own, an 8-bit CSI and a Unicode line separator.
const EVIL = 'boom\x1b[2J\x1b]52;c;cGF3bmVk\x07\rFAILED\n[OK] h2: all good\u009b31m\u2028[OK] h3: fine';
// A raw control byte: newline (and tab) are allowed, newline only between lines.
const RAW = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]/;
const FORGED = /^\[OK\]/m;

function expectClean(text: string): void {
  expect(text).not.toMatch(RAW);
  expect(text).not.toMatch(FORGED);
}

/** Everything written to one of the process's streams while `fn` runs. */
async function capture(stream: NodeJS.WriteStream, fn: () => unknown): Promise<string> {
  const chunks: string[] = [];
  const write = stream.write;
  stream.write = ((chunk: string | Uint8Array) => {
    chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return true;
  }) as typeof stream.write;
  try {
    await fn();
  } finally {
    stream.write = write;
  }
  return chunks.join('');
}

const task = (over: Partial<TaskResult>): TaskResult => ({
  name: 'sysctl',
  module: 'sysctl',
  status: 'changed',
  changes: [],
  diff: '',
  warnings: [],
  output: '',
  error: null,
  ...over,
});

// a managed file as the host holds it, and the diff that --diff shows of it
const hostileDiff = describeDiff({
  kind: 'file',
  path: '/etc/sysctl.conf',
  before: { content: Buffer.from(`${EVIL}\n`), mode: 0o644, uid: 0, gid: 0 },
  after: { content: Buffer.from('net.ipv4.ip_forward = 1\n'), mode: 0o644 },
});

function hostileReport(mode: 'run' | 'drift'): JsonReport {
  const h1: Omit<HostResult, 'host'> = {
    status: 'failed',
    rolledBack: true,
    restored: [EVIL, 'sysctl net.ipv4.conf.all.arp_ignore'],
    rollbackError: EVIL,
    journal: EVIL,
    tasks: [
      task({ changes: [EVIL], warnings: [EVIL], output: EVIL, diff: hostileDiff }),
      task({ name: 'command', status: 'failed', error: EVIL, output: EVIL }),
    ],
    drift: [{ task: 'sysctl', item: EVIL, expected: '1', actual: EVIL }],
    error: EVIL,
    durationMs: 12,
  };
  return {
    version: 1,
    runId: '20261203T000000Z-abcdef',
    mode,
    playbook: 'p.yml',
    inventory: 'i.yml',
    startedAt: new Date(0).toISOString(),
    durationMs: 100,
    check: false,
    hosts: { h1 },
    untouched: [],
    stoppedReason: EVIL,
    gates: [{ play: 'p', batch: 0, name: 'vip', ok: false, detail: EVIL }],
    summary: { ok: 0, changed: 0, failed: 1, unreachable: 0, skipped: 0 },
  };
}

describe('what a hostile host sends reaches the operator escaped', () => {
  it('in the recap: every field, each on its own line, the diff keeping its lines', () => {
    const run = renderRecap(hostileReport('run'), { diff: true, check: true, mode: 'run', verbose: true });
    const drift = renderRecap(hostileReport('drift'), { diff: true, check: false, mode: 'drift', verbose: false });
    for (const text of [run, drift]) expectClean(text);
    // shown, not dropped: the operator can still read what the host sent
    expect(run).toContain('[FAILED] h1: boom\\x1b[2J\\x1b]52;c;cGF3bmVk\\x07\\rFAILED\\n[OK] h2: all good\\x9b31m\\u2028[OK] h3: fine');
    expect(run).toContain('[WARN] h1: sysctl: boom\\x1b');
    expect(run).toContain('would change h1: sysctl: boom\\x1b');
    expect(run).toContain('[ROLLED BACK] h1: restored boom\\x1b');
    expect(run).toContain('[ROLLBACK FAILED] boom\\x1b');
    expect(run).toContain('[JOURNAL] h1: boom\\x1b');
    expect(run).toContain('[STOPPED] boom\\x1b');
    expect(drift).toContain('drift h1: sysctl: boom\\x1b');
    // the diff keeps its lines: the file's two lines are two removed lines, each escaped
    const lines = run.split('\n');
    const at = lines.indexOf('--- /etc/sysctl.conf');
    expect(lines.slice(at, at + 6)).toEqual([
      '--- /etc/sysctl.conf',
      '+++ /etc/sysctl.conf',
      '@@ -1,2 +1,1 @@',
      '-boom\\x1b[2J\\x1b]52;c;cGF3bmVk\\x07\\rFAILED',
      '-[OK] h2: all good\\x9b31m\\u2028[OK] h3: fine',
      '+net.ipv4.ip_forward = 1',
    ]);
  });

  it('in --log-format json: one line per event, no raw control, the same values when parsed', async () => {
    const log = new JsonLines();
    const result: HostResult = { host: 'h1', ...hostileReport('run').hosts.h1 };
    const out = await capture(process.stdout, () => {
      log.hostDone(result);
      log.gate({ play: 'p', batch: 0, name: 'vip', ok: false, detail: EVIL });
      log.batchDone({ play: 'p', index: 0, failed: ['h1'], stopped: true, reason: EVIL });
      log.message(EVIL);
    });
    expect(out).not.toMatch(RAW);
    const lines = out.split('\n');
    expect(lines.pop()).toBe('');
    expect(lines).toHaveLength(4);
    const events = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(events.map((e) => e.event)).toEqual(['host_done', 'gate', 'batch_done', 'message']);
    expect(events[0].error).toBe(EVIL);
    expect(events[1].detail).toBe(EVIL);
    expect(events[3].text).toBe(EVIL);
  });

  describe('in the progress lines of a non-TTY run', () => {
    const tty = Object.getOwnPropertyDescriptor(process.stdout, 'isTTY');
    afterEach(() => {
      if (tty) Object.defineProperty(process.stdout, 'isTTY', tty);
      else delete (process.stdout as { isTTY?: boolean }).isTTY;
    });

    it('gate details and stop reasons are one escaped line each', async () => {
      Object.defineProperty(process.stdout, 'isTTY', { value: false, configurable: true });
      const out = await capture(process.stdout, async () => {
        const progress = new TerminalProgress(['play'], false);
        progress.start();
        progress.playStart({ name: 'play', hosts: ['h1', 'h2'] });
        progress.batchStart({ play: 'play', index: 0, count: 2, hosts: ['h1'] });
        progress.gate({ play: 'play', batch: 0, name: 'vip', ok: false, detail: EVIL });
        progress.batchDone({ play: 'play', index: 0, failed: ['h1'], stopped: true, reason: EVIL });
        // finish() at once: events that came before listr2 started the play's task are still shown
        await progress.finish();
      });
      expect(out).toContain('gate vip after batch 1: FAILED: boom\\x1b[2J');
      expect(out).toContain('stopped: boom\\x1b[2J');
      expectClean(out);
    });
  });

  it('in transport warnings (an sshd says why it hung up)', async () => {
    const out = await capture(process.stderr, () => transportLogger.warn(`lost the SSH connection to h1: ${EVIL}`));
    expect(out.split('\n')).toHaveLength(2);
    expect(out).toMatch(/^vipush: warning: lost the SSH connection to h1: boom\\x1b\[2J/);
    expectClean(out);
  });

  it('in the text of an error that ends the command', () => {
    const bug = new Error(`could not parse ${EVIL}`);
    const text = errorText(bug);
    expectClean(text);
    expect(text).toContain('Error: could not parse boom\\x1b[2J');
    // the stack's own frames still come one a line
    expect(text.split('\n').filter((l) => l.trimStart().startsWith('at ')).length).toBeGreaterThan(0);
    // an input error is the operator's own text, not a host's: its lines are kept (schedule --install
    // puts the cron line to use under its message), each escaped
    const input = errorText(new UserInputError([{ message: `bad value ${EVIL}` }, { message: 'second' }]));
    expect(input).not.toMatch(RAW);
    expect(input.split('\n')).toEqual([
      'vipush: bad value boom\\x1b[2J\\x1b]52;c;cGF3bmVk\\x07\\rFAILED',
      '[OK] h2: all good\\x9b31m\\u2028[OK] h3: fine',
      'vipush: second',
      '',
    ]);
  });
});
