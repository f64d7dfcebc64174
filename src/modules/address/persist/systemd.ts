import { basename, dirname, type PersistFormat } from './format.js';
import type { PersistedVip } from './types.js';

const DIR = '/etc/systemd/system';
/** multi-user.target pulls the unit in through a drop-in of this directory (see systemdFormat) */
const WANTS_DIR = `${DIR}/multi-user.target.d`;

export function unitName(dev: string): string {
  return `vipush-addresses-${dev}.service`;
}

/**
 * What the unit runs at boot, once per start, with the VIPs as arguments in
 * fours: device, address/prefix, scope, label ('-': none). For each VIP: an
 * address already there as declared is left alone; otherwise, and only when
 * arp_ignore hides the VIP (conf/all, or the max of conf/all and conf/IFACE on
 * every interface with an IPv4 address, as the kernel reads it and as
 * src/remote/sh/arp-guard.sh checks it before a live add), other copies of
 * the same address on the device (wrong prefix, scope or label) go and the
 * VIP is added. Nothing else is touched. Exits 1 when a VIP was not added,
 * so the unit shows as failed.
 *
 * One line of POSIX sh (dash), written without backslash, single quote or
 * newline so that it survives systemd's ExecStart= quoting as it is; every
 * `$` and `%` is doubled when it goes into the unit (renderExecStart).
 */
export const BOOT_SCRIPT = [
  'hides() { case $1 in 1|2|8) return 0 ;; 3) [ "$2" = host ] ;; *) return 1 ;; esac; };',
  'hidden() {',
  'a=; read -r a </proc/sys/net/ipv4/conf/all/arp_ignore 2>/dev/null || :; [ -n "$a" ] || a=0;',
  'hides "$a" "$1" && return 0;',
  'ip -o -4 addr show | { n=0; while read -r x i y; do i=${i%@*}; [ "$i" != lo ] || continue; n=1;',
  'v=; read -r v <"/proc/sys/net/ipv4/conf/$i/arp_ignore" 2>/dev/null || :; [ -n "$v" ] || v=0; [ "$v" -gt "$a" ] || v=$a;',
  'hides "$v" "$1" || { echo "arp_ignore is $v on $i (max of conf/all and conf/$i), so $i would answer ARP for it"; exit 1; }; done;',
  '[ $n = 1 ] || { echo "arp_ignore is $a in conf/all and no interface holds an IPv4 address yet"; exit 1; }; };',
  '};',
  'r=0;',
  'while [ $# -ge 4 ]; do d=$1 c=$2 s=$3 l=$4; shift 4; [ "$l" != - ] || l=$d;',
  'case $c in *:*) f=6 ;; *) f=4 ;; esac;',
  'if [ $f = 4 ]; then o=$(ip -o -4 addr show dev "$d" to "$c" scope "$s" label "$l"); else o=$(ip -o -6 addr show dev "$d" to "$c"); fi;',
  'case " $o " in *" inet $c "* | *" inet6 $c "*) echo "$c is on $d already"; continue ;; esac;',
  'if [ $f = 4 ] && ! w=$(hidden "$s"); then echo "not adding $c to $d: $w" >&2; r=1; continue; fi;',
  'ip -o -$f addr show dev "$d" to "$c" | while read -r x i y p z; do ip -$f addr del "$p" dev "$d" && echo "removed $p from $d (not as declared)"; done;',
  'if [ $f = 4 ]; then ip -4 addr add "$c" dev "$d" scope "$s" label "$l"; else ip -6 addr add "$c" dev "$d"; fi',
  '&& echo "added $c to $d" || { echo "could not add $c to $d" >&2; r=1; };',
  'done;',
  'exit $r',
].join(' ');

/** systemd expands `$` (environment) and `%` (specifiers) in ExecStart=; doubled, they stay themselves. */
function systemdEscape(text: string): string {
  return text.replace(/[$%]/g, '$&$&');
}

/** The ExecStart= value: sh with the script and the VIPs (validated: [A-Za-z0-9_.:/-] only, no quoting needed). */
export function renderExecStart(vips: readonly PersistedVip[]): string {
  const args = vips.flatMap((v) => [v.dev, v.address, v.scope, v.family === 4 && v.label ? v.label : '-']);
  return ['/bin/sh', '-c', `'${systemdEscape(BOOT_SCRIPT)}'`, unitName(vips[0].dev).replace(/\.service$/, ''), ...args].join(' ');
}

/**
 * A oneshot unit of vipush's own that adds the VIPs at boot with `ip addr`,
 * for stacks that would bring them back without `scope host` or their label
 * (NetworkManager, ifcfg). One unit per device lists every vipush VIP on it.
 *
 * Ordering: after systemd-sysctl (the boot sysctls, so arp_ignore is what the
 * boot files say when the script checks it), and after the network stacks are
 * up and done (network-online.target, which it also pulls in), so that a stack
 * that sets up lo does so before the VIPs are added.
 *
 * Enabling: multi-user.target pulls the unit in through a drop-in (a plain
 * file, `Wants=`), not through a `.wants/` symlink: the drop-in goes through
 * the same file path as every persistence file (compare-and-swap, --diff,
 * drift, rollback), where a symlink would need a change kind of its own and
 * `systemctl enable` would run a program whose effect no rollback or drift
 * sees. The unit has no [Install] section: `systemctl is-enabled` says
 * "static". The drop-in directory usually does not exist: persistChanges
 * creates it (createDir).
 */
export const systemdFormat: PersistFormat = {
  backend: 'systemd',
  layout: 'per-dev',
  mode: 0o644,
  pathFor(vip) {
    return `${DIR}/${unitName(vip.dev)}`;
  },
  mayBeOurs(path) {
    return dirname(path) === DIR && /^vipush-addresses-.+\.service$/.test(basename(path));
  },
  refuse(vip) {
    return vip.dev === 'lo' ? null : `vipush persists VIPs with a systemd unit only on lo, not on ${vip.dev}`;
  },
  fileProblems() {
    return [];
  },
  render(vips) {
    const dev = vips[0].dev;
    return [
      '# Adds the VIPs above at boot, each only while arp_ignore hides it; it removes nothing else.',
      `# By hand: systemctl start ${unitName(dev)}; journalctl -u ${unitName(dev)}`,
      '[Unit]',
      `Description=vipush: hidden-ARP VIPs on ${dev}`,
      'After=systemd-sysctl.service network.target network-online.target',
      'Wants=network-online.target',
      '',
      '[Service]',
      'Type=oneshot',
      'RemainAfterExit=yes',
      // oneshot units wait forever by default, and multi-user.target waits for this one
      'TimeoutStartSec=60',
      `ExecStart=${renderExecStart(vips)}`,
      '',
    ].join('\n');
  },
  companions(path) {
    const unit = basename(path);
    return [
      {
        path: `${WANTS_DIR}/${unit.replace(/\.service$/, '.conf')}`,
        content: [`# Starts ${unit} at boot.`, '[Unit]', `Wants=${unit}`, ''].join('\n'),
        mode: 0o644,
        createDir: true,
      },
    ];
  },
  isCompanion(path) {
    return dirname(path) === WANTS_DIR && /^vipush-addresses-.+\.conf$/.test(basename(path));
  },
  applyNow(_changed, f) {
    // systemd reads the unit and the drop-in again; nothing starts (the live address is the address task's)
    return f.systemd ? [['systemctl', 'daemon-reload']] : [];
  },
};
