import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { factsLines, MAX_FILE_BYTES, parseFacts as parseMarked } from '../../src/facts/gather.js';
import type { FactsRequest } from '../../src/facts/types.js';
import { PERSIST_PROBE } from '../../src/modules/address/persist/index.js';
import { newNonce } from '../../src/remote/markers.js';
import { scriptHead } from '../../src/remote/script.js';
import { factsOutput } from './fake-transport.js';

type Asked = Pick<FactsRequest, 'sysctlKeys' | 'files' | 'paths'>;
const nonce = newNonce();
const full = (req: Asked, probe = false): FactsRequest => ({ ...req, globs: [], probes: probe ? [PERSIST_PROBE] : [] });
/** The facts as a host's session runs them: after the script head (no lock: they only read). */
const factsScript = (req: Asked, probe = false) => `${scriptHead({ nonce, runDir: tmpdir(), stateDir: tmpdir() })}${factsLines(full(req, probe))}`;
const parseFacts = (out: Buffer, req: Asked) => parseMarked(out, nonce, full(req));

// A PATH with everything the script may run except tar: the hosts without tar get stat + cat.
function pathWithoutTar(): string {
  const dir = mkdtempSync(`${tmpdir()}/vipush-notar-`);
  for (const tool of ['sh', 'ip', 'stat', 'cat', 'systemctl', 'grep', 'head']) {
    const found = execFileSync('sh', ['-c', `command -v ${tool} || true`])
      .toString()
      .trim();
    if (found) symlinkSync(found, `${dir}/${tool}`);
  }
  return dir;
}
const NO_TAR = pathWithoutTar();

// Alpine and other small hosts: BusyBox's sh, tar, stat and cat, with iproute2's ip (or BusyBox's).
function busyboxPath(ip: 'iproute2' | 'busybox'): string {
  const dir = mkdtempSync(`${tmpdir()}/vipush-busybox-`);
  const busybox = execFileSync('sh', ['-c', 'command -v busybox']).toString().trim(); // CI installs it: missing fails here
  for (const tool of ['sh', 'tar', 'stat', 'cat', 'grep', 'head']) symlinkSync(busybox, `${dir}/${tool}`);
  symlinkSync(ip === 'busybox' ? busybox : execFileSync('sh', ['-c', 'command -v ip']).toString().trim(), `${dir}/ip`);
  return dir;
}
const BUSYBOX = busyboxPath('iproute2');
const BUSYBOX_IP = busyboxPath('busybox');
afterAll(() => {
  for (const d of [NO_TAR, BUSYBOX, BUSYBOX_IP]) rmSync(d, { recursive: true, force: true });
});

const STAT_CAT = 'stat + cat (no tar on the host)';

describe.each([
  ['tar', process.env.PATH ?? '/usr/bin:/bin'],
  [STAT_CAT, NO_TAR],
  ['BusyBox tar (BusyBox sh, stat and cat too, as on Alpine)', BUSYBOX],
])('the facts script, run for real by sh on this machine (read-only), files read by %s', (how, PATH) => {
  const tar = how !== STAT_CAT;
  const run = (script: string) => execFileSync('sh', ['-c', script], { env: { ...process.env, PATH } });
  const req = {
    sysctlKeys: ['net.ipv4.conf.all.arp_ignore', 'net.ipv4.conf.nosuchdev.arp_ignore', 'net.ipv4.ip_local_port_range', 'net.ipv4.tcp_fin_timeout'],
    files: ['/etc/sysctl.conf', '/etc/hostname', '/nonexistent/file'],
    paths: ['/etc', '/nonexistent'],
  };
  const out = run(factsScript(req, true));
  const facts = parseFacts(out, req);

  it('reads the files the way it says', () => {
    expect(out.includes(tar ? `\n@@vipush:${nonce}:filetar\n` : `\n@@vipush:${nonce}:filemeta\n`)).toBe(true);
  });

  it('reads files byte for byte with their mode, and knows which are absent', () => {
    expect(facts.files.get('/etc/sysctl.conf')?.content.equals(readFileSync('/etc/sysctl.conf'))).toBe(true);
    expect(facts.files.get('/etc/hostname')?.content.equals(readFileSync('/etc/hostname'))).toBe(true);
    expect(facts.files.get('/etc/sysctl.conf')?.mode).toBe(statSync('/etc/sysctl.conf').mode & 0o7777);
    expect(facts.files.get('/nonexistent/file')).toBeNull();
  });

  it('reads sysctls and every interface ARP setting as the kernel has them', () => {
    expect(facts.sysctls.get('net.ipv4.conf.all.arp_ignore')).toBe(readFileSync('/proc/sys/net/ipv4/conf/all/arp_ignore', 'utf8').trim());
    expect(facts.sysctls.get('net.ipv4.conf.nosuchdev.arp_ignore')).toBeNull();
    // values longer than one byte, read whole (dash reads a /proc/sys file one byte at a time, and gets only the first)
    expect(facts.sysctls.get('net.ipv4.ip_local_port_range')).toBe(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim());
    expect(facts.sysctls.get('net.ipv4.tcp_fin_timeout')).toBe(readFileSync('/proc/sys/net/ipv4/tcp_fin_timeout', 'utf8').trim());
    expect(facts.sysctls.get('net.ipv4.conf.lo.arp_ignore')).toBe(readFileSync('/proc/sys/net/ipv4/conf/lo/arp_ignore', 'utf8').trim());
    expect(facts.addresses.some((a) => a.dev === 'lo' && a.local === '127.0.0.1')).toBe(true);
    expect(facts.paths.get('/etc')).toBe(true);
    expect(facts.paths.get('/nonexistent')).toBe(false);
  });

  it('lists the boot-time sysctl files with their symlink targets', () => {
    if (existsSync('/etc/sysctl.d/99-sysctl.conf')) {
      const d = facts.sysctlDropIns.find((x) => x.path === '/etc/sysctl.d/99-sysctl.conf');
      expect(d?.target).toBe('/etc/sysctl.conf');
    }
    expect(facts.os.id).toBe('debian');
    // os-release travels as a file (no shell loop): the OS for the facts and for the persistence probe
    expect(facts.files.has('/etc/os-release')).toBe(true);
    expect(facts.probes.get('persist')?.some((l) => /^persist\.systemd=[01]$/.test(l))).toBe(true);
  });

  it('carries any bytes exactly: NULs, no final newline, lines that look like its own markers', async () => {
    const dir = mkdtempSync(`${tmpdir()}/vipush-facts-`);
    try {
      const odd = Buffer.concat([
        Buffer.from(`a\0b\n@@vipush:end\n@@vipush:filedata\n@@vipush:0a1b:end 0\n`),
        Buffer.from([0xff, 0xfe, 0x80]),
        Buffer.from('no newline'),
      ]);
      writeFileSync(`${dir}/odd`, odd);
      writeFileSync(`${dir}/empty`, '');
      const r2: Asked = { sysctlKeys: [], files: [`${dir}/odd`, `${dir}/empty`, '/etc/hostname'], paths: [] };
      const raw = run(factsScript(r2));
      const f = parseFacts(raw, r2);
      expect(f.files.get(`${dir}/odd`)?.content.equals(odd)).toBe(true);
      expect(f.files.get(`${dir}/empty`)?.content.length).toBe(0);
      expect(f.files.get('/etc/hostname')?.content.equals(readFileSync('/etc/hostname'))).toBe(true);
      // cut short or grown while read: refused, never misread
      expect(() => parseFacts(raw.subarray(0, raw.length - 3), r2)).toThrow(/cut short/);
      const i = raw.indexOf('no newline');
      expect(() => parseFacts(Buffer.concat([raw.subarray(0, i), Buffer.from('X'), raw.subarray(i)]), r2)).toThrow(/changed while they were read|tar: damaged/);
      const j = raw.indexOf('a\0b');
      expect(() => parseFacts(Buffer.concat([raw.subarray(0, j), raw.subarray(j + 1)]), r2)).toThrow(/changed while they were read|tar: damaged|cut short/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fails, instead of reporting files absent, when what reads them fails on the host', () => {
    const dir = mkdtempSync(`${tmpdir()}/vipush-facts-fail-`);
    try {
      // the real tool, which then exits as if a file had been unreadable or had changed while read
      const tool = tar ? 'tar' : 'cat';
      const real = execFileSync('sh', ['-c', `PATH=${PATH}; command -v ${tool}`])
        .toString()
        .trim();
      writeFileSync(`${dir}/${tool}`, `#!/bin/sh\n${real} "$@"\nexit 2\n`, { mode: 0o755 });
      const r4: Asked = { sysctlKeys: [], files: ['/etc/hostname'], paths: [] };
      const raw = execFileSync('sh', ['-c', factsScript(r4)], { env: { ...process.env, PATH: `${dir}:${PATH}` } });
      expect(() => parseFacts(raw, r4)).toThrow(new RegExp(`could not read every file vipush needs \\(${tar ? 'tar' : 'stat/cat'} exited 2\\)`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fails when a file is over 8 MiB, naming the file and its size; a file of 8 MiB is read', () => {
    const dir = mkdtempSync(`${tmpdir()}/vipush-facts-huge-`);
    try {
      writeFileSync(`${dir}/limit.conf`, Buffer.alloc(MAX_FILE_BYTES, 0x61));
      writeFileSync(`${dir}/huge.conf`, Buffer.alloc(MAX_FILE_BYTES + 1, 0x61));
      const big = (files: string[]) => {
        const r: Asked = { sysctlKeys: [], files, paths: [] };
        return parseFacts(execFileSync('sh', ['-c', factsScript(r)], { env: { ...process.env, PATH }, maxBuffer: 64 << 20 }), r);
      };
      expect(big([`${dir}/limit.conf`]).files.get(`${dir}/limit.conf`)?.content.length).toBe(MAX_FILE_BYTES);
      expect(() => big([`${dir}/limit.conf`, `${dir}/huge.conf`])).toThrow(`${dir}/huge.conf is 8.1 MiB; vipush reads files of at most 8 MiB`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads a file once however many of the listed paths lead to it, and says which paths are the same file', () => {
    const dir = mkdtempSync(`${tmpdir()}/vipush-facts-same-`);
    try {
      writeFileSync(`${dir}/real.conf`, 'net.ipv4.conf.all.arp_ignore = 3\n');
      symlinkSync(`${dir}/real.conf`, `${dir}/link.conf`);
      symlinkSync('real.conf', `${dir}/relative.conf`);
      linkSync(`${dir}/real.conf`, `${dir}/hard.conf`);
      mkdirSync(`${dir}/sub`);
      symlinkSync(`${dir}/sub`, `${dir}/alias`);
      writeFileSync(`${dir}/sub/same-name.conf`, 'x = 1\n');
      writeFileSync(`${dir}/target-other-name.conf`, 'y = 2\n');
      symlinkSync(`${dir}/target-other-name.conf`, `${dir}/managed-link.conf`);
      // a symlink, a relative symlink, a hard link, and one file reached through a symlinked directory
      const r3: Asked = {
        sysctlKeys: [],
        files: [
          `${dir}/real.conf`,
          `${dir}/link.conf`,
          `${dir}/relative.conf`,
          `${dir}/hard.conf`,
          `${dir}/sub/same-name.conf`,
          `${dir}/alias/same-name.conf`,
          // a symlink listed before the file it leads to, under another name
          `${dir}/managed-link.conf`,
          `${dir}/target-other-name.conf`,
        ],
        paths: [],
      };
      const raw = run(factsScript(r3));
      // the bytes travel once
      expect(raw.toString('latin1').split('arp_ignore = 3').length - 1).toBe(tar ? 1 : 2); // stat + cat read a hard link twice
      const f = parseFacts(raw, r3);
      for (const p of r3.files.slice(0, 4)) expect(f.files.get(p)?.content.toString()).toBe('net.ipv4.conf.all.arp_ignore = 3\n');
      for (const p of r3.files.slice(4, 6)) expect(f.files.get(p)?.content.toString()).toBe('x = 1\n');
      for (const p of r3.files.slice(6)) expect(f.files.get(p)?.content.toString()).toBe('y = 2\n');
      expect(raw.toString('latin1').split('x = 1').length - 1).toBe(1);
      expect(raw.toString('latin1').split('y = 2').length - 1).toBe(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a host whose ip has no JSON output (BusyBox, iproute2 before 4.13)', () => {
  it('fails the facts with what to install, instead of reading no addresses at all', () => {
    const req: Asked = { sysctlKeys: [], files: ['/etc/hostname'], paths: [] };
    const raw = execFileSync('sh', ['-c', factsScript(req)], { env: { ...process.env, PATH: BUSYBOX_IP } });
    expect(() => parseFacts(raw, req)).toThrow(
      "this host's ip printed no JSON for `ip -j addr show`: vipush needs iproute2's ip (4.13 or later; BusyBox's applet has neither -j nor -batch); install iproute2",
    );
  });
});

describe('a file over 8 MiB among those read', () => {
  const req: FactsRequest = { sysctlKeys: [], files: ['/etc/sysctl.conf'], paths: [], globs: [], probes: [] };
  const huge = 'a'.repeat(MAX_FILE_BYTES + 512 * 1024);

  it('fails the facts when it is a managed file', () => {
    const out = Buffer.from(factsOutput(nonce, { files: { '/etc/sysctl.conf': { content: huge } } }));
    expect(() => parseMarked(out, nonce, req)).toThrow('/etc/sysctl.conf is 8.5 MiB; vipush reads files of at most 8 MiB');
  });

  it('fails the facts when it is a boot-time drop-in nobody asked for by name', () => {
    const out = Buffer.from(factsOutput(nonce, { files: { '/etc/sysctl.conf': { content: 'x = 1\n' }, '/etc/sysctl.d/99-huge.conf': { content: huge } } }));
    expect(() => parseMarked(out, nonce, req)).toThrow('/etc/sysctl.d/99-huge.conf is 8.5 MiB; vipush reads files of at most 8 MiB');
  });
});
