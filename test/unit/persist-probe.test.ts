import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parsePersistProbe, persistProbeScript, PROBE_READ_GLOBS, probeLinesFromFiles } from '../../src/modules/address/persist/index.js';
import { OS_RELEASE_FILES } from '../../src/facts/gather.js';

const roots: string[] = [];
afterAll(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'vipush-probe-'));
  roots.push(root);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  return root;
}

/** Every file's path, mode, mtime and content, to show the probe wrote nothing. */
function snapshot(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      const st = statSync(p);
      out.push(`${p} ${st.mode} ${st.mtimeMs}`);
      if (st.isDirectory()) walk(p);
      else out.push(readFileSync(p, 'latin1'));
    }
  };
  walk(root);
  return out;
}

/** Runs the probe the way the facts script does: sh, errexit and nounset on. */
function runProbe(script: string) {
  const r = spawnSync('sh', ['-eu', '-c', `${script}echo probe-finished`], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  expect(r.stderr).toBe('');
  const lines = r.stdout.split('\n').filter(Boolean);
  expect(lines.pop()).toBe('probe-finished');
  for (const line of lines) expect(line).toMatch(/^persist\.[A-Za-z_.-]+=[^\n]*$/);
  return lines;
}

/**
 * The whole probe as the facts script runs it against a tree: the script's
 * lines, plus the lines read from the files it asks for (expanded by sh under
 * the root, as on a host, regular files only, no name with a newline).
 */
function probeTree(root: string): string[] {
  const list = spawnSync(
    'sh',
    [
      '-c',
      `R=$1; for f in ${[...OS_RELEASE_FILES, ...PROBE_READ_GLOBS].map((g) => `"$R"${g}`).join(' ')}; do [ -f "$f" ] || continue; case "$f" in *'\n'*) continue;; esac; printf '%s\\0' "\${f#"$R"}"; done`,
      'sh',
      root,
    ],
    { encoding: 'utf8' },
  );
  const files = list.stdout
    .split('\0')
    .filter(Boolean)
    .map((path) => {
      const st = statSync(join(root, path));
      return { path, content: readFileSync(join(root, path)), id: `${st.dev}:${st.ino}` };
    });
  return [...runProbe(persistProbeScript(root)), ...probeLinesFromFiles(files)];
}

const PERSIST_PROBE_SCRIPT = persistProbeScript('');

describe('the persistence probe (src/remote/sh/persist-probe.sh)', () => {
  it('is valid POSIX sh that reads the real / without failing', () => {
    expect(spawnSync('sh', ['-n', '-c', PERSIST_PROBE_SCRIPT]).status).toBe(0);
    const lines = runProbe(PERSIST_PROBE_SCRIPT);
    expect(lines.some((l) => /^persist\.systemd=[01]$/.test(l))).toBe(true);
  });

  it('reports a Debian/Ubuntu-like tree, skips vipush stanzas and names with a newline, and writes nothing', () => {
    const root = tree({
      'etc/os-release': 'PRETTY_NAME="Ubuntu 24.04 LTS"\nID=ubuntu\nID_LIKE=debian\n',
      'etc/network/interfaces': [
        '# interfaces(5)',
        'auto lo',
        'iface lo inet loopback',
        'source-directory interfaces.d',
        '  source /etc/network/extra/*.cfg',
        'iface eth0 inet dhcp',
        '',
      ].join('\n'),
      'etc/network/interfaces.d/50-cloud-init': 'auto ens3\niface ens3 inet6 dhcp\n',
      'etc/network/interfaces.d/vipush-lo-1': '# Managed by vipush\nauto lo:1\niface lo:1 inet static\n',
      'etc/netplan/01-network-manager-all.yaml': 'network:\n  version: 2\n  renderer: NetworkManager\n',
      'etc/netplan/60-vipush-lo-198-18-1-250.yaml': 'network: {}\n',
      'etc/netplan/evil\npersist.file=/etc/shadow.yaml': 'x\n',
      'etc/systemd/network/10-lo.network': '[Match]\nName=lo\n',
      'etc/systemd/network/20-wired.network': '[Match]\nName=en* eth*\n',
      'etc/systemd/network/05-vipush-lo.network': '[Match]\nName=lo\n',
      'usr/lib/systemd/network/99-all.network': '[Match]\nName=eth0 lo\n',
      'usr/lib/systemd/network/80-container.network': '[Match]\nName=host0 lorem\n',
      'etc/NetworkManager/system-connections/vipush-lo.nmconnection': '[connection]\n',
    });
    const before = snapshot(root);
    const f = parsePersistProbe(probeTree(root));
    expect(snapshot(root)).toEqual(before);

    expect(f.osId).toBe('ubuntu');
    expect(f.osIdLike).toEqual(['debian']);
    expect(f.interfacesFile).toBe(true);
    expect(f.interfacesDir).toBe(true);
    expect(f.ifupdownSources).toEqual(['source-directory interfaces.d', 'source /etc/network/extra/*.cfg']);
    expect(f.ifupdownIfaces).toEqual([
      { name: 'lo', family: 'inet' },
      { name: 'eth0', family: 'inet' },
      { name: 'ens3', family: 'inet6' },
    ]);
    expect(f.netplanFiles).toEqual(['01-network-manager-all.yaml', '60-vipush-lo-198-18-1-250.yaml']);
    expect(f.netplanNmRenderer).toBe(true);
    expect(f.networkdFiles).toEqual(['05-vipush-lo.network', '10-lo.network', '20-wired.network']);
    expect(f.networkdLoFiles).toEqual(['/etc/systemd/network/10-lo.network', '/usr/lib/systemd/network/99-all.network']);
    expect(f.nmDir).toBe(true);
    expect(f.ifcfgDir).toBe(false);
    expect(f.presentFiles).toEqual([
      '/etc/network/interfaces.d/vipush-lo-1',
      '/etc/netplan/60-vipush-lo-198-18-1-250.yaml',
      '/etc/systemd/network/05-vipush-lo.network',
      '/etc/NetworkManager/system-connections/vipush-lo.nmconnection',
    ]);
  });

  it('reports a RHEL-like tree with network-scripts aliases', () => {
    const root = tree({
      'usr/lib/os-release': 'NAME="Red Hat Enterprise Linux Server"\nID="rhel"\nID_LIKE="fedora"\n',
      'etc/sysconfig/network-scripts/ifup-aliases': '#!/bin/bash\n',
      'etc/sysconfig/network-scripts/ifcfg-lo': 'DEVICE=lo\n',
      'etc/sysconfig/network-scripts/ifcfg-lo:0': 'DEVICE=lo:0\n',
      'etc/sysconfig/network-scripts/ifcfg-eth0': 'DEVICE=eth0\n',
      'etc/NetworkManager/NetworkManager.conf': '',
    });
    const f = parsePersistProbe(probeTree(root));
    expect(f.osId).toBe('rhel');
    expect(f.osIdLike).toEqual(['fedora']);
    expect(f.interfacesFile).toBe(false);
    expect(f.ifcfgDir).toBe(true);
    expect(f.ifcfgAliases).toBe(true);
    expect(f.presentFiles).toEqual(['/etc/sysconfig/network-scripts/ifcfg-lo:0']);
  });

  it('reports an empty tree without failing', () => {
    const f = parsePersistProbe(probeTree(tree({})));
    expect(f.interfacesFile).toBe(false);
    expect(f.netplanFiles).toEqual([]);
    expect(f.presentFiles).toEqual([]);
    expect(f.osId).toBe('');
  });

  it('asks systemd about every unit with one systemctl call when systemd is PID 1', () => {
    const root = tree({
      'proc/1/comm': 'systemd\n',
      'etc/network/interfaces': 'source /etc/network/interfaces.d/*\n',
      // a fake systemctl that logs its arguments and answers as systemd 252 does (units in order, a blank line between)
      'bin/systemctl': [
        '#!/bin/sh',
        'printf "%s\\n" "$*" >> "$(dirname "$0")/calls"',
        'printf "Id=systemd-networkd.service\\nActiveState=inactive\\nUnitFileState=disabled\\n\\n"',
        'printf "ActiveState=active\\nId=NetworkManager.service\\nUnitFileState=enabled\\n\\n"',
        'printf "Id=networking.service\\nActiveState=active\\nUnitFileState=enabled\\n\\n"',
        'printf "Id=network.service\\nActiveState=inactive\\nUnitFileState=\\n"',
      ].join('\n'),
    });
    spawnSync('chmod', ['+x', join(root, 'bin/systemctl')]);
    const r = spawnSync('sh', ['-eu', '-c', `${persistProbeScript(root)}echo probe-finished`], {
      encoding: 'utf8',
      env: { ...process.env, PATH: `${root}/bin:${process.env.PATH}` },
    });
    expect(r.status, r.stderr).toBe(0);
    const f = parsePersistProbe(r.stdout.split('\n'));
    expect(f.systemd).toBe(true);
    expect(f.services).toEqual({
      'systemd-networkd': { active: 'inactive', enabled: 'disabled' },
      NetworkManager: { active: 'active', enabled: 'enabled' },
      networking: { active: 'active', enabled: 'enabled' },
      network: { active: 'inactive', enabled: 'unknown' },
    });
    expect(readFileSync(join(root, 'bin/calls'), 'utf8')).toBe(
      'show -p Id,ActiveState,UnitFileState -- systemd-networkd.service NetworkManager.service networking.service network.service\n',
    );
  });

  it('changes no variable, function or directory of the script around it (it runs in that shell, no subshell)', () => {
    // every name a probe-like script might use, plus the facts script's own
    const names = ['R', 'nl', 'c', 'o', 'u', 'a', 'e', 'l', 'nmc', 'p', 'v', 'm', 'f', 'say', 'named'];
    const set = names.map((n) => `${n}=outer-${n}`).join('; ');
    const show = names.map((n) => `"$${n}"`).join(' ');
    const r = spawnSync('sh', ['-eu', '-c', `say() { echo outer-say; }; ${set}; cd /tmp; ${PERSIST_PROBE_SCRIPT}echo ${show} "$(pwd)" "$(say)"`], {
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines.at(-1)).toBe(`${names.map((n) => `outer-${n}`).join(' ')} /tmp outer-say`);
    expect(lines.some((l) => l.startsWith('persist.'))).toBe(true);
  });
});
