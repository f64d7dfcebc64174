import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { factsScript, parseFacts } from '../../src/facts/gather.js';
import { PERSIST_PROBE_SCRIPT } from '../../src/modules/persist/index.js';

describe('the facts script, run for real by sh on this machine (read-only)', () => {
  const req = { sysctlKeys: ['net.ipv4.conf.all.arp_ignore', 'net.ipv4.conf.nosuchdev.arp_ignore'], files: ['/etc/sysctl.conf', '/etc/hostname', '/nonexistent/file'], paths: ['/etc', '/nonexistent'] };
  const out = execFileSync('sh', ['-c', factsScript(req, PERSIST_PROBE_SCRIPT)]).toString();
  const facts = parseFacts(out, req);

  it('reads files byte for byte with their mode, and knows which are absent', () => {
    expect(facts.files.get('/etc/sysctl.conf')?.content.equals(readFileSync('/etc/sysctl.conf'))).toBe(true);
    expect(facts.files.get('/etc/hostname')?.content.equals(readFileSync('/etc/hostname'))).toBe(true);
    expect(facts.files.get('/etc/sysctl.conf')?.mode).toBe(statSync('/etc/sysctl.conf').mode & 0o7777);
    expect(facts.files.get('/nonexistent/file')).toBeNull();
  });

  it('reads sysctls and every interface ARP setting as the kernel has them', () => {
    expect(facts.sysctls.get('net.ipv4.conf.all.arp_ignore')).toBe(readFileSync('/proc/sys/net/ipv4/conf/all/arp_ignore', 'utf8').trim());
    expect(facts.sysctls.get('net.ipv4.conf.nosuchdev.arp_ignore')).toBeNull();
    expect(facts.arp.get('lo')?.arpIgnore).toBe(Number(readFileSync('/proc/sys/net/ipv4/conf/lo/arp_ignore', 'utf8')));
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
    expect(facts.persistProbe.some((l) => l.startsWith('persist.'))).toBe(true);
  });

  it('carries any bytes exactly: NULs, no final newline, lines that look like its own markers', async () => {
    const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(`${tmpdir()}/vipush-facts-`);
    try {
      const odd = Buffer.concat([Buffer.from('a\0b\n@@vipush:end\n@@vipush:filedata\n'), Buffer.from([0xff, 0xfe, 0x80]), Buffer.from('no newline')]);
      writeFileSync(`${dir}/odd`, odd);
      writeFileSync(`${dir}/empty`, '');
      const r2 = { sysctlKeys: [], files: [`${dir}/odd`, `${dir}/empty`, '/etc/hostname'], paths: [] };
      const raw = execFileSync('sh', ['-c', factsScript(r2)]);
      const f = parseFacts(raw, r2);
      expect(f.files.get(`${dir}/odd`)?.content.equals(odd)).toBe(true);
      expect(f.files.get(`${dir}/empty`)?.content.length).toBe(0);
      expect(f.files.get('/etc/hostname')?.content.equals(readFileSync('/etc/hostname'))).toBe(true);
      // cut short or grown while read: refused, never misread
      expect(() => parseFacts(raw.subarray(0, raw.length - 3), r2)).toThrow(/cut short/);
      const i = raw.indexOf('no newline');
      expect(() => parseFacts(Buffer.concat([raw.subarray(0, i), Buffer.from('X'), raw.subarray(i)]), r2)).toThrow(/changed while they were read/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
