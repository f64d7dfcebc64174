/** The network stacks vipush can write a persistent loopback VIP for. */
export type StackBackend = 'ifupdown' | 'netplan' | 'networkd' | 'networkmanager' | 'ifcfg' | 'systemd';
export const STACK_BACKENDS: readonly StackBackend[] = ['ifupdown', 'netplan', 'networkd', 'networkmanager', 'ifcfg', 'systemd'];

/** systemctl's own words (`active`, `inactive`, `enabled`, `masked`...), or `unknown` when it said nothing. */
export interface ServiceState {
  active: string;
  enabled: string;
}

export type ProbedService = 'systemd-networkd' | 'NetworkManager' | 'networking' | 'network';
export const PROBED_SERVICES: readonly ProbedService[] = ['systemd-networkd', 'NetworkManager', 'networking', 'network'];

/** What the persistence probe (src/remote/sh/persist-probe.sh) found on a host. Paths are the host's own (never prefixed by a test root). */
export interface StackFacts {
  /** systemctl exists and PID 1 is systemd; service states are only known when true */
  systemd: boolean;
  services: Partial<Record<ProbedService, ServiceState>>;
  /** `NetworkManager --version` (or `nmcli --version`), e.g. "1.42.4"; null when neither answered */
  nmVersion: string | null;
  /** /etc/os-release ID and ID_LIKE, unquoted */
  osId: string;
  osIdLike: string[];

  /** /etc/network/interfaces exists */
  interfacesFile: boolean;
  /** /etc/network/interfaces.d exists */
  interfacesDir: boolean;
  /** the `source` / `source-directory` lines of /etc/network/interfaces, trimmed */
  ifupdownSources: string[];
  /** `iface NAME FAMILY` stanzas declared outside vipush's own files */
  ifupdownIfaces: { name: string; family: string }[];

  /** basenames of /etc/netplan/*.yaml */
  netplanFiles: string[];
  /** some netplan YAML says `renderer: NetworkManager` */
  netplanNmRenderer: boolean;

  /** basenames of /etc/systemd/network/*.network */
  networkdFiles: string[];
  /** .network files (any of networkd's directories) whose [Match] Name= names lo, vipush's excluded */
  networkdLoFiles: string[];

  /** /etc/sysconfig/network-scripts exists */
  ifcfgDir: boolean;
  /** /etc/sysconfig/network-scripts/ifup-aliases exists (the initscripts that bring up ifcfg-lo:N) */
  ifcfgAliases: boolean;

  /** /etc/NetworkManager exists */
  nmDir: boolean;

  /** files that exist and may be vipush's: its own names, and every ifcfg-*:* alias file */
  presentFiles: string[];
  /**
   * Contents of existing files, by path. The probe leaves this empty: the caller
   * reads persistPathsToRead() and fills in each file that exists.
   */
  existing: Record<string, string>;
}

export function emptyStackFacts(): StackFacts {
  return {
    systemd: false,
    services: {},
    nmVersion: null,
    osId: '',
    osIdLike: [],
    interfacesFile: false,
    interfacesDir: false,
    ifupdownSources: [],
    ifupdownIfaces: [],
    netplanFiles: [],
    netplanNmRenderer: false,
    networkdFiles: [],
    networkdLoFiles: [],
    ifcfgDir: false,
    ifcfgAliases: false,
    nmDir: false,
    presentFiles: [],
    existing: {},
  };
}

export interface StackDetection {
  backend: StackBackend | null;
  /** one human sentence */
  reason: string;
}

export interface PersistFile {
  path: string;
  content: string;
  mode: number;
  /** its directory may not exist yet: create it before a first write */
  createDir?: boolean;
}

export interface PersistPlan {
  /** files that must exist with exactly this content (unchanged ones included: compare before writing) */
  files: PersistFile[];
  /** vipush's files to delete: they would hold no VIP any more */
  remove: string[];
  /** the files that hold, or will hold, these tasks' VIPs */
  ownedPaths: string[];
  /** argv commands that make the running stack read the files now; absent when nothing changes or nothing is needed */
  applyNow?: string[][];
  /** refusals; when there is one, files, remove and applyNow are empty so nothing is half done */
  problems: string[];
}

/** One VIP as a persistence file records it. */
export interface PersistedVip {
  address: string;
  family: 4 | 6;
  dev: string;
  scope: 'host' | 'link' | 'global';
  label?: string;
}
