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

export interface ArpConf {
  arpIgnore: number;
  arpAnnounce: number;
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
  /** conf/<iface>/arp_* for every interface, plus "all" and "default" */
  arp: Map<string, ArpConf>;
  /** live values of the sysctls the play touches; null when the key does not exist */
  sysctls: Map<string, string | null>;
  /** managed files; null when absent */
  files: Map<string, FileFact | null>;
  /** existence of paths named by creates/removes */
  paths: Map<string, boolean>;
  /** every file systemd-sysctl / sysctl --system reads at boot, in their directory order */
  sysctlDropIns: SysctlDropIn[];
  /** raw `persist.*` probe lines for the persistence backends */
  persistProbe: string[];
}

export interface FactsRequest {
  sysctlKeys: string[];
  files: string[];
  paths: string[];
}
