import { describe, expect, it } from 'vitest';
import { parseAptSources } from '../lab/nspawn/rootfs.js';

describe("the systemd lab tier's rootfs takes the machine's Debian 12 archive from apt's sources", () => {
  it('deb822 stanzas: bookworm suites of deb entries, signed-by kept; deb-src, disabled stanzas and other suites left out', () => {
    const text = [
      'Types: deb',
      '# http://snapshot.debian.org/archive/debian/20250520T000000Z',
      'URIs: http://deb.debian.org/debian',
      'Suites: bookworm bookworm-updates trixie',
      'Components: main contrib',
      'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg',
      '',
      'Types: deb-src',
      'URIs: http://deb.debian.org/debian',
      'Suites: bookworm',
      'Components: main',
      '',
      'Types: deb',
      'URIs: http://mirror.example/debian',
      'Suites: bookworm',
      'Components: main',
      'Enabled: no',
    ].join('\n');
    expect(parseAptSources([{ name: 'debian.sources', text }])).toEqual([
      { uri: 'http://deb.debian.org/debian', suite: 'bookworm', components: 'main contrib', signedBy: '/usr/share/keyrings/debian-archive-keyring.gpg' },
      {
        uri: 'http://deb.debian.org/debian',
        suite: 'bookworm-updates',
        components: 'main contrib',
        signedBy: '/usr/share/keyrings/debian-archive-keyring.gpg',
      },
    ]);
  });

  it('one-line entries: options and comments handled, third-party suites left out', () => {
    const text = [
      '# deb http://old.example/debian bookworm main',
      'deb [arch=amd64 signed-by=/k.gpg] http://deb.debian.org/debian-security bookworm-security main # security',
      'deb https://packages.cloud.google.com/apt cloud-sdk-bookworm main',
      'deb-src http://deb.debian.org/debian bookworm main',
      'deb http://deb.debian.org/debian bookworm main',
    ].join('\n');
    expect(parseAptSources([{ name: 'sources.list', text }])).toEqual([
      { uri: 'http://deb.debian.org/debian-security', suite: 'bookworm-security', components: 'main', signedBy: '/k.gpg' },
      { uri: 'http://deb.debian.org/debian', suite: 'bookworm', components: 'main', signedBy: undefined },
    ]);
  });
});
