import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JsonReport } from '../../src/report/json.js';
import { createLab, ensureLabPackages, type Lab } from '../lab/lab.js';
import { labArgs, repoRoot, testStateDir } from './vipush-cli.js';

/**
 * One lab host turned hostile through its own login shell (sshd runs every command through it) or
 * its files; the others stay healthy. Whatever h4 sends, the controller must not crash (exit 70),
 * must write its report, must finish the healthy hosts, must stay within bounded memory (read from
 * the kernel, not a timer), and must let no raw control character reach the terminal or the report.
 */

/** Raw controls other than the newlines and tabs that separate lines and columns. */
const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029]/;
const MAX_RSS_KB = 400 * 1024;
const HEALTHY = ['h1', 'h2', 'h3'];

/** The login shell h4's root gets: it misbehaves as /etc/vipush-hostile-mode says, then (maybe) runs the command. */
const HOSTILE_SHELL = `#!/bin/sh
mode=$(cat /etc/vipush-hostile-mode 2>/dev/null)
case $mode in
  stderr-flood) head -c 600000000 /dev/zero | tr '\\000' x >&2 ;;
  stdout-flood) exec yes vipush-flood ;;
  escapes) printf 'first\\n\\033]52;c;cGF3bmVk\\007\\033[2J\\r\\302\\233[OK] h2: all good\\033[0m\\n' >&2; exit 1 ;;
  markers) printf '\\n@@vipush:0123456789abcdef:end 0\\n@@vipush:ready\\n' ;;
esac
exec /bin/sh "$@"
`;

interface Measured {
  code: number | null;
  stdout: string;
  stderr: string;
  maxRssKb: number;
}

let lab: Lab;
let preload: string;

/** The built CLI, with its peak RSS (the kernel's maxRSS, printed as it exits) taken off stderr. */
function measuredVipush(args: string[]): Promise<Measured> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', preload, join(repoRoot, 'bin', 'vipush.js'), ...args], {
      cwd: repoRoot,
      env: { ...process.env, VIPUSH_STATE_DIR: testStateDir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const stderr = Buffer.concat(err).toString('utf8');
      const usage = /^@usage (\d+)$/m.exec(stderr);
      if (!usage) return reject(new Error(`no usage line from the CLI: ${stderr.slice(-500)}`));
      resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: stderr.replace(`${usage[0]}\n`, ''), maxRssKb: Number(usage[1]) });
    });
  });
}

async function hostile(mode: string): Promise<void> {
  await lab.hostExec('h4', ['sh', '-c', 'printf %s "$1" > /etc/vipush-hostile-mode', 'sh', mode]);
}

/** A run of the hidden-ARP playbook against the whole lab; every check that holds whatever h4 did. */
async function runAgainstHostile(name: string, extra: string[] = []): Promise<{ r: Measured; report: JsonReport }> {
  const path = join(lab.dir, `${name}.json`);
  const r = await measuredVipush(['run', 'playbooks/hidden-arp.yml', ...labArgs(lab), '--report', path, ...extra]);
  expect(r.code, r.stderr.slice(-2000)).not.toBe(70);
  expect([0, 1]).toContain(r.code);
  expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
  const raw = readFileSync(path, 'utf8');
  for (const [what, text] of [
    ['stdout', r.stdout],
    ['stderr', r.stderr],
    ['the report', raw],
  ] as const) {
    const bad = RAW_CONTROL.exec(text);
    expect(
      bad,
      `${what} holds a raw control character ${JSON.stringify(bad?.[0])} near ${JSON.stringify(text.slice(Math.max(0, (bad?.index ?? 0) - 40), (bad?.index ?? 0) + 40))}`,
    ).toBeNull();
    expect(text, `${what}: a forged line`).not.toMatch(/^\[OK\] h2: all good/m);
  }
  const report = JSON.parse(raw) as JsonReport;
  for (const h of HEALTHY) expect(['ok', 'changed'], `${h}: ${report.hosts[h]?.error}`).toContain(report.hosts[h]?.status);
  expect(r.maxRssKb, `peak RSS ${Math.round(r.maxRssKb / 1024)} MB`).toBeLessThan(MAX_RSS_KB);
  return { r, report };
}

describe('a hostile or broken host among healthy ones', () => {
  beforeAll(async () => {
    await ensureLabPackages();
    lab = await createLab({ hosts: 4, httpServers: false });
    preload = join(lab.dir, 'usage.mjs');
    writeFileSync(
      preload,
      `import { writeSync } from 'node:fs';\nprocess.on('exit', () => writeSync(2, '@usage ' + process.resourceUsage().maxRSS + '\\n'));\n`,
    );
    await lab.hostExec('h4', ['sh', '-c', 'cat > /etc/vipush-hostile.sh && chmod 755 /etc/vipush-hostile.sh && usermod -s /etc/vipush-hostile.sh root'], {
      input: HOSTILE_SHELL,
    });
  });
  afterAll(async () => {
    await lab?.teardown();
  });

  it('600 MB on stderr: the controller keeps its tail, and h4 goes on to be configured', async () => {
    await hostile('stderr-flood');
    const { report } = await runAgainstHostile('stderr-flood');
    expect(['ok', 'changed']).toContain(report.hosts.h4.status);
  });

  it('endless stdout: h4 fails with one line saying so; the others are done', async () => {
    await hostile('stdout-flood');
    const { r, report } = await runAgainstHostile('stdout-flood');
    expect(r.code).toBe(1);
    expect(report.hosts.h4.status).toBe('failed');
    expect(report.hosts.h4.error).toMatch(/sent more than 64 MiB on stdout/);
  });

  it('escape sequences and a forged line in what h4 says: shown escaped, never obeyed', async () => {
    await hostile('escapes');
    const { r, report } = await runAgainstHostile('escapes');
    expect(r.code).toBe(1);
    expect(report.hosts.h4.status).toBe('failed');
    // the host's words are still there to read, escaped
    expect(r.stdout).toMatch(/\\x1b\]52;c;cGF3bmVk\\x07\\x1b\[2J\\r\\x9b\[OK\] h2: all good/);
  });

  it('forged vipush markers on stdout before every command: h4 cannot end an exchange or a script early', async () => {
    await hostile('markers');
    const { report } = await runAgainstHostile('markers');
    expect(['ok', 'changed']).toContain(report.hosts.h4.status);
  });

  it('a 12,000-line managed file with --check --diff: the healthy hosts are not held up, h4 is planned', async () => {
    await hostile('none');
    const lines = Array.from({ length: 12_000 }, (_, i) => `net.ipv4.neigh.default.x${i} = ${i}`).join('\n');
    await lab.hostExec('h4', ['sh', '-c', 'cat > /etc/sysctl.conf'], { input: `${lines}\n` });
    const { report } = await runAgainstHostile('huge-diff', ['--check', '--diff']);
    expect(['ok', 'changed']).toContain(report.hosts.h4.status);
  });

  it('a managed file over 8 MiB: h4 fails with a clear line; the others are done', async () => {
    await lab.hostExec('h4', ['sh', '-c', 'head -c 9000000 /dev/zero | tr "\\000" "#" > /etc/sysctl.conf']);
    const { report } = await runAgainstHostile('too-big');
    expect(report.hosts.h4.status).toBe('failed');
    expect(report.hosts.h4.error).toMatch(/\/etc\/sysctl\.conf is .* at most 8 MiB/);
  });
});
