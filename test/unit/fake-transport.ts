import type { Command, ExecOptions, ExecResult, ShellSession, Transport } from '../../src/transport/types.js';
import { MARK } from '../../src/remote/markers.js';

/** How a script reached the fake host: an exchange or the last script of a shell session, or a command of its own. */
export type FakeCall =
  | { via: 'exchange' | 'finish'; script: string; nonce: string; hostDeadline?: boolean }
  | { via: 'exec'; cmd: Command; opts?: ExecOptions; script: string; nonce: string };

/** The nonce a script's head sets (vp_nonce=...), or '' for a script without one. */
export function nonceOf(script: string): string {
  return /(?:^|\n)vp_nonce=([0-9a-f]+)/.exec(script)?.[1] ?? '';
}

/**
 * A test double: records every script, in every way one reaches a host, and answers with a handler.
 * Its sessions behave as SshTransport's: scripts in one shell, in order, and one that runs in the same
 * shell without a head of its own gets the nonce the session's first script set. Unit tests only.
 */
export class FakeTransport implements Transport {
  readonly calls: FakeCall[] = [];
  constructor(
    readonly host: string,
    private readonly handler: (call: FakeCall, n: number) => Partial<ExecResult> | Promise<Partial<ExecResult>>,
  ) {}

  private async answer(call: FakeCall): Promise<ExecResult> {
    this.calls.push(call);
    const r = await this.handler(call, this.calls.length - 1);
    const stdout = r.stdout ?? '';
    return { stdout, stderr: '', code: 0, signal: null, durationMs: 0, stdoutBytes: Buffer.from(stdout), ...r };
  }

  async exec(cmd: Command, opts?: ExecOptions): Promise<ExecResult> {
    const script = 'script' in cmd ? cmd.script : String(opts?.stdin ?? '');
    return this.answer({ via: 'exec', cmd, opts, script, nonce: nonceOf(script) });
  }

  async session(): Promise<ShellSession> {
    let nonce = '';
    let ended = false;
    const ask = async (via: 'exchange' | 'finish', script: string, hostDeadline?: boolean) => {
      if (ended) throw new Error('the fake shell has already ended');
      nonce = nonceOf(script) || nonce;
      return this.answer({ via, script, nonce, ...(hostDeadline !== undefined ? { hostDeadline } : {}) });
    };
    return {
      exchange: async (script) => {
        const r = await ask('exchange', script);
        if (r.code !== 0) throw new Error(`the fake shell ended early (exit ${r.code})`);
        return r.stdoutBytes ?? Buffer.from(r.stdout);
      },
      finish: async (script, opts) => {
        const r = await ask('finish', script, opts.hostDeadline ?? true);
        ended = true;
        return r;
      },
      close: () => {
        ended = true;
      },
    };
  }

  async close(): Promise<void> {}
}

/** A marker line as vp_mark prints it. */
export function mark(nonce: string, text: string): string {
  return `\n${MARK}${nonce}:${text}\n`;
}

/** What the facts print for a host in a known state (stat + cat's form of the files). */
export function factsOutput(
  nonce: string,
  f: {
    addrs?: Array<{ dev: string; family: 'inet' | 'inet6'; local: string; prefixlen: number; scope: string; label?: string }>;
    arp?: Record<string, [number, number]>;
    sysctls?: Record<string, string | null>;
    files?: Record<string, { content: string; mode?: string } | null>;
    session?: string;
    probes?: Record<string, string[]>;
  },
): string {
  const m = (t: string) => mark(nonce, t);
  let out = `${m('ssh')}198.18.0.1 40000 ${f.session ?? '198.18.0.11'} 22\n`;
  const byDev = new Map<string, unknown[]>();
  for (const a of f.addrs ?? [
    { dev: 'lo', family: 'inet', local: '127.0.0.1', prefixlen: 8, scope: 'host', label: 'lo' },
    { dev: 'eth0', family: 'inet', local: '198.18.0.11', prefixlen: 24, scope: 'global', label: 'eth0' },
  ]) {
    const list = byDev.get(a.dev) ?? [];
    list.push(a);
    byDev.set(a.dev, list);
  }
  out += `${m('addr')}${JSON.stringify([...byDev].map(([ifname, addr_info]) => ({ ifname, addr_info })))}\n`;
  out += m('procsys');
  for (const [k, [i, a]] of Object.entries(f.arp ?? { all: [0, 0], default: [0, 0], lo: [0, 0], eth0: [0, 0] })) {
    out += `/proc/sys/net/ipv4/conf/${k}/arp_ignore:${i}\n/proc/sys/net/ipv4/conf/${k}/arp_announce:${a}\n`;
  }
  for (const [k, v] of Object.entries(f.sysctls ?? {})) if (v !== null) out += `/proc/sys/${k.replace(/\./g, '/')}:${v}\n`;
  for (const [name, lines] of Object.entries(f.probes ?? {})) out += `${m(`probe ${name}`)}${lines.map((l) => `${l}\n`).join('')}`;
  const files = Object.entries({ '/etc/os-release': { content: 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n' }, ...f.files }).filter(
    (e): e is [string, { content: string; mode?: string }] => e[1] !== null,
  );
  out += m('files');
  out += m('filemeta') + files.map(([p, v]) => `${Buffer.byteLength(v.content)} ${v.mode ?? '644'} 0 0 ${p}\n`).join('');
  out += m('filedata') + files.map(([, v]) => v.content).join('');
  return `${out}${m('end 0')}`;
}

/** What an apply or revert script prints: each step's begin marker, output and outcome, then the end when it got there. */
export function stepsOutput(nonce: string, steps: ReadonlyArray<readonly [number, 'done' | 'failed' | 'same', string?]>, ended: boolean): string {
  let out = '';
  // 'same': a step that found its effect already there ("done N same")
  for (const [i, outcome, text] of steps)
    out += `${mark(nonce, `begin ${i}`)}${text ?? ''}${mark(nonce, outcome === 'same' ? `done ${i} same` : `${outcome} ${i}`)}`;
  return ended ? `${out}${mark(nonce, 'end')}` : out;
}

/** The number of steps a script runs (its vp_step lines, or vp_jstep: journalled), for a fake that answers "all done". */
export function stepCount(script: string): number {
  return (script.match(/^vp_j?step /gm) ?? []).length;
}

/** A host that answers its facts with `facts(nonce)`, then runs every step it is sent (an apply, or a revert over a command of its own). */
export function healthyHost(facts: (nonce: string) => string): (call: FakeCall) => { stdout: string } {
  return (call) => {
    if (call.via === 'exchange') return { stdout: facts(call.nonce) };
    const done = Array.from({ length: stepCount(call.script) }, (_, i) => [i, 'done'] as const);
    return { stdout: stepsOutput(call.nonce, done, true) };
  };
}
