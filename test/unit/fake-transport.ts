import type { Command, ExecOptions, ExecResult, Transport, WriteFileOptions } from '../../src/transport/types.js';

/** A test double: records every command and answers with a handler. Unit tests only. */
export class FakeTransport implements Transport {
  readonly calls: Array<{ cmd: Command; opts?: ExecOptions }> = [];
  constructor(
    readonly host: string,
    private readonly handler: (cmd: Command, opts: ExecOptions | undefined, n: number) => Partial<ExecResult> | Promise<Partial<ExecResult>>,
  ) {}

  async exec(cmd: Command, opts?: ExecOptions): Promise<ExecResult> {
    this.calls.push({ cmd, opts });
    const r = await this.handler(cmd, opts, this.calls.length - 1);
    return { stdout: '', stderr: '', code: 0, signal: null, durationMs: 0, ...r };
  }
  async readFile(): Promise<Buffer | null> {
    throw new Error('not used');
  }
  async writeFile(_p: string, _d: string | Buffer, _o?: WriteFileOptions): Promise<void> {
    throw new Error('not used');
  }
  async close(): Promise<void> {}
}

const M = '@@vipush:';

/** Builds the stdout of factsScript() for a host in a known state. */
export function factsOutput(f: {
  addrs?: Array<{ dev: string; family: 'inet' | 'inet6'; local: string; prefixlen: number; scope: string; label?: string }>;
  arp?: Record<string, [number, number]>;
  sysctls?: Record<string, string | null>;
  files?: Record<string, { content: string; mode?: string } | null>;
  session?: string;
}): string {
  const out: string[] = [];
  out.push(`${M}ssh`, `198.18.0.1 40000 ${f.session ?? '198.18.0.11'} 22`);
  const byDev = new Map<string, unknown[]>();
  for (const a of f.addrs ?? [
    { dev: 'lo', family: 'inet', local: '127.0.0.1', prefixlen: 8, scope: 'host', label: 'lo' },
    { dev: 'eth0', family: 'inet', local: '198.18.0.11', prefixlen: 24, scope: 'global', label: 'eth0' },
  ]) {
    const list = byDev.get(a.dev) ?? [];
    list.push(a);
    byDev.set(a.dev, list);
  }
  out.push(`${M}addr`, JSON.stringify([...byDev].map(([ifname, addr_info]) => ({ ifname, addr_info }))));
  out.push(`${M}procsys`);
  for (const [k, [i, a]] of Object.entries(f.arp ?? { all: [0, 0], default: [0, 0], lo: [0, 0], eth0: [0, 0] })) {
    out.push(`/proc/sys/net/ipv4/conf/${k}/arp_ignore:${i}`, `/proc/sys/net/ipv4/conf/${k}/arp_announce:${a}`);
  }
  for (const [k, v] of Object.entries(f.sysctls ?? {})) if (v !== null) out.push(`/proc/sys/${k.replace(/\./g, '/')}:${v}`);
  const files = Object.entries({ '/etc/os-release': { content: 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n' }, ...f.files }).filter(
    (e): e is [string, { content: string; mode?: string }] => e[1] !== null,
  );
  out.push(`${M}filemeta`);
  files.forEach(([p, v]) => out.push(`${Buffer.byteLength(v.content)} ${v.mode ?? '644'} 0 0 ${p}`));
  out.push(`${M}filedata`);
  return out.join('\n') + '\n' + files.map(([, v]) => v.content).join('') + `\n${M}end 0\n`;
}
