import { describe, expect, it } from 'vitest';
import { effectiveValue, parseSysctlConf, setSysctlConf } from '../../src/modules/sysctl/conf.js';
import { bootOverrides } from '../../src/modules/sysctl/boot.js';

const SEED = `# Disable response to broadcasts.
# You don't want yourself becoming a Smurf amplifier.
net.ipv4.icmp_echo_ignore_broadcasts = 1
# enable route verification on all interfaces
net.ipv4.conf.all.rp_filter = 1
# enable ipV6 forwarding
#net.ipv6.conf.all.forwarding = 1
`;

describe('setSysctlConf', () => {
  it('appends missing keys and keeps every other byte', () => {
    const out = setSysctlConf(SEED, { 'net.ipv4.conf.all.arp_ignore': '3', 'net.ipv4.conf.all.arp_announce': '2' });
    expect(out.startsWith(SEED)).toBe(true);
    expect(out.slice(SEED.length)).toBe('net.ipv4.conf.all.arp_ignore = 3\nnet.ipv4.conf.all.arp_announce = 2\n');
  });

  it('returns the same string when nothing changes (idempotent)', () => {
    const once = setSysctlConf(SEED, { 'net.ipv4.conf.all.arp_ignore': '3' });
    expect(setSysctlConf(once, { 'net.ipv4.conf.all.arp_ignore': '3' })).toBe(once);
  });

  it('rewrites every duplicate that has another value, whichever wins in sysctl -p', () => {
    const text = 'a.b = 1\n# keep me\n  a/b=0\n-a.b = 5\nc.d = 9';
    const out = setSysctlConf(text, { 'a.b': '1' });
    expect(out).toBe('a.b = 1\n# keep me\n  a.b = 1\n-a.b = 1\nc.d = 9');
    expect(effectiveValue(out, 'a.b')).toBe('1');
  });

  it('starts appended keys on a new line when the file lacks a final newline', () => {
    expect(setSysctlConf('x.y = 1', { 'a.b': '2' })).toBe('x.y = 1\na.b = 2\n');
    expect(setSysctlConf('', { 'a.b': '2' })).toBe('a.b = 2\n');
  });

  it('compares values with normalised whitespace', () => {
    const text = 'net.ipv4.ip_local_port_range = 32768\t60999\n';
    expect(setSysctlConf(text, { 'net.ipv4.ip_local_port_range': '32768 60999' })).toBe(text);
  });

  it('ignores comments with ; and #, and lines without =', () => {
    expect(parseSysctlConf('; a.b = 1\n# c = 2\nnonsense\n d.e=3\n').map((l) => l.key)).toEqual(['d.e']);
  });
});

describe('bootOverrides', () => {
  const key = 'net.ipv4.conf.all.arp_ignore';
  it('reports a later sysctl.d file that sets our key to another value', () => {
    const o = bootOverrides(
      '/etc/sysctl.conf',
      [key],
      [
        { path: '/etc/sysctl.d/99-sysctl.conf', target: '/etc/sysctl.conf', text: `${key} = 3\n` },
        { path: '/etc/sysctl.d/99-zz-reset.conf', target: '/etc/sysctl.d/99-zz-reset.conf', text: `${key} = 0\n` },
        { path: '/etc/sysctl.d/10-early.conf', target: '/etc/sysctl.d/10-early.conf', text: `${key} = 1\n` },
      ],
    );
    expect(o).toEqual([{ key, value: '0', path: '/etc/sysctl.d/99-zz-reset.conf' }]);
  });

  it('lets a file in /etc mask the same name in /usr/lib', () => {
    const o = bootOverrides(
      '/etc/sysctl.d/50-vip.conf',
      [key],
      [
        { path: '/etc/sysctl.d/90-x.conf', target: '/etc/sysctl.d/90-x.conf', text: '' },
        { path: '/usr/lib/sysctl.d/90-x.conf', target: '/usr/lib/sysctl.d/90-x.conf', text: `${key} = 0\n` },
      ],
    );
    expect(o).toEqual([]);
  });
});
