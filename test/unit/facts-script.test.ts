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
});
