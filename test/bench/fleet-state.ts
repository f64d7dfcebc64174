import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Lab } from '../lab/lab.js';

/**
 * Puts every real server back in the state a first apply starts from, in
 * parallel: VIP off lo (first, as a removal must), the ARP sysctls back to 0,
 * /etc/sysctl.conf byte-identical to the pristine one, no persisted VIP file.
 *
 * Why sysctl.conf is rewritten through the overlay rather than deleted from
 * the upper dir: overlayfs keeps serving a cached dentry for a file removed
 * from its upper dir underneath it (the host then reads the unlinked,
 * vipush-edited copy, link count 0) until the kernel's dentry cache is
 * dropped machine-wide. Writing the pristine bytes (same mode and owner)
 * gives vipush exactly the file a fresh host has.
 */
const RESET_SCRIPT = `vip="$1"
ip addr del "$vip/32" dev lo 2>/dev/null
sysctl -q -w net.ipv4.conf.all.arp_ignore=0 net.ipv4.conf.all.arp_announce=0
cat > /etc/sysctl.conf
chmod 0644 /etc/sysctl.conf
rm -f /etc/network/interfaces.d/vipush-*
printf 'state %s %s %s %s %s\\n' \\
  "$(ip -4 -o addr show dev lo to "$vip/32" | wc -l)" \\
  "$(cat /proc/sys/net/ipv4/conf/all/arp_ignore)" \\
  "$(cat /proc/sys/net/ipv4/conf/all/arp_announce)" \\
  "$(md5sum < /etc/sysctl.conf | cut -d' ' -f1)" \\
  "$(ls /etc/network/interfaces.d 2>/dev/null | grep -c '^vipush-')"
`;

/** The overlay's lower dir is this machine's /etc: that is the pristine file every host starts with. */
export function pristineSysctlConf(): Buffer {
  return readFileSync('/etc/sysctl.conf');
}

export async function resetFleet(lab: Lab, pristine: Buffer): Promise<void> {
  const want = createHash('md5').update(pristine).digest('hex');
  const results = await Promise.all(
    lab.hosts.map(async (h) => {
      const r = await lab.hostExec(h, ['sh', '-c', RESET_SCRIPT, 'sh', lab.vip], { input: pristine, timeoutMs: 60_000 });
      const line = r.stdout.split('\n').find((l) => l.startsWith('state '));
      const expected = `state 0 0 0 ${want} 0`;
      return line === expected ? null : `${h.name}: reset left "${line ?? r.stderr.trim()}", expected "${expected}"`;
    }),
  );
  const problems = results.filter((p): p is string => p !== null);
  if (problems.length > 0) throw new Error(`could not reset the fleet: ${problems.slice(0, 3).join('; ')}`);
}

/** Reads every host's live state: whether the play's end state holds (VIP scope host on lo, 3/2). */
export async function fleetApplied(lab: Lab): Promise<string[]> {
  const script = `printf '%s %s %s\\n' "$(ip -4 -o addr show dev lo to "$1/32" scope host | wc -l)" "$(cat /proc/sys/net/ipv4/conf/all/arp_ignore)" "$(cat /proc/sys/net/ipv4/conf/all/arp_announce)"`;
  const results = await Promise.all(
    lab.hosts.map(async (h) => {
      const r = await lab.hostExec(h, ['sh', '-c', script, 'sh', lab.vip], { timeoutMs: 60_000 });
      return r.stdout.trim() === '1 3 2' ? null : `${h.name}: "${r.stdout.trim()}" (want "1 3 2")`;
    }),
  );
  return results.filter((p): p is string => p !== null);
}
