/** What one host looks like, read in one remote command (see gather.ts). */
export interface FileFact {
  content: Buffer;
  mode: number; // permission bits
  uid: number;
  gid: number;
}

export interface LiveAddress {
  dev: string;
  family: 4 | 6;
  local: string;
  prefixlen: number;
  scope: string; // host | link | global | ...
  label?: string;
}

export interface SysctlDropIn {
  path: string;
  /** where the path points if it is a symlink (Debian's 99-sysctl.conf -> ../sysctl.conf) */
  target: string;
  text: string;
}

export interface HostFacts {
  os: { id: string; idLike: string[]; prettyName: string };
  /** the server-side address of this SSH session ($SSH_CONNECTION), for the lockout guard */
  sessionAddress?: string;
  addresses: LiveAddress[];
  /** interfaces with an IPv4 address other than lo: where ARP requests arrive */
  lanIfaces: string[];
  /**
   * Live sysctls by dotted key: the ones the play touches (null when the key does not exist), and
   * net.ipv4.conf.IFACE.arp_ignore / arp_announce for every interface, "all" and "default"
   */
  sysctls: Map<string, string | null>;
  /** the files asked for by path (null when absent) and every file a glob asked for matched */
  files: Map<string, FileFact | null>;
  /** existence of paths named by creates/removes */
  paths: Map<string, boolean>;
  /** every file systemd-sysctl / sysctl --system reads at boot, in their directory order */
  sysctlDropIns: SysctlDropIn[];
  /** what each probe printed, by probe name, one entry a line */
  probes: Map<string, string[]>;
}

/**
 * A probe: shell that a module needs run with the facts (the persistence backends' look at the
 * network stacks). It runs in the facts' shell, read-only, its stderr discarded, and what it prints
 * comes back line by line under its name.
 */
export interface FactProbe {
  name: string;
  /** function definitions */
  shell: string;
  /** the call */
  argv: string[];
}

export interface FactsRequest {
  sysctlKeys: string[];
  /** files by exact path */
  files: string[];
  /** paths whose existence is asked */
  paths: string[];
  /** globs (no blanks) whose matching files are read */
  globs: string[];
  probes: FactProbe[];
}
