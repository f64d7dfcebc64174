import { shQuote } from '../../src/remote/quote.js';

/** The one read-only command both floors run on every host. */
export const FLOOR_COMMAND = 'cat /proc/sys/net/ipv4/conf/all/arp_ignore';

export interface FloorTarget {
  ips: readonly string[];
  user: string;
  privateKeyFile: string;
  knownHostsFile: string;
}

/**
 * The OpenSSH floor as a POSIX sh script: one `ssh` per host, all started at
 * once, then every exit status collected. -F /dev/null keeps the user's
 * ssh_config (ControlMaster, ProxyJump...) out of the measurement; host keys
 * are checked strictly against the lab's known_hosts. Prints each host's
 * output and a last line `failed=N`.
 */
export function openSshFloorScript(t: FloorTarget): string {
  const ssh = [
    'ssh',
    '-n',
    '-F',
    '/dev/null',
    '-i',
    t.privateKeyFile,
    '-o',
    'BatchMode=yes',
    '-o',
    `UserKnownHostsFile=${t.knownHostsFile}`,
    '-o',
    'GlobalKnownHostsFile=/dev/null',
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    'ControlMaster=no',
    '-o',
    'ControlPath=none',
    '-o',
    'LogLevel=ERROR',
  ]
    .map(shQuote)
    .join(' ');
  return [
    'pids=',
    `for ip in ${t.ips.map(shQuote).join(' ')}; do`,
    `  ${ssh} ${shQuote(t.user)}@"$ip" ${shQuote(FLOOR_COMMAND)} &`,
    '  pids="$pids $!"',
    'done',
    'failed=0',
    'for p in $pids; do wait "$p" || failed=$((failed + 1)); done',
    'echo "failed=$failed"',
    '[ "$failed" -eq 0 ]',
    '',
  ].join('\n');
}
