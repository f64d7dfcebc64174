/**
 * The fleet lab: real servers, a director and a client as network namespaces on
 * one bridge, each with its own sshd, /etc (overlay), /run and /root. The root
 * namespace is the controller: it reaches every host over the lab subnet, so
 * vitest and the vipush CLI can ssh to them directly.
 *
 * Shared by the e2e tests, the demo and the benchmark; import from here.
 */
import type { ExecResult } from '../../src/transport/types.js';

export type { ExecResult };

/** One machine of the lab. Real servers, the director and the client all have this shape. */
export interface LabHost {
  /** inventory name: h1, h2, ..., director, client */
  name: string;
  /** network namespace, `${prefix}-h1` */
  ns: string;
  /** address on eth0 (the lab subnet is a /24) */
  ip: string;
  /** eth0's MAC, lowercase, stable across reboots */
  mac: string;
  /** overlay upper dir of this host's /etc: exactly the files changed on the host */
  upperDir: string;
  /** this host's own directory in the lab dir (sshd config, host key, logs) */
  dir: string;
  /** sshd's and the HTTP server's output */
  logFile: string;
  /** output of the last simulated boot (sysctl --system, ifup -a) */
  bootLogFile: string;
  /** this host's port on the switch's bridge */
  switchPort: string;
  /** whether an sshd runs there (always for real servers) */
  ssh: boolean;
}

/** A host by object, by inventory name (`h1`, `director`) or by namespace name. */
export type HostRef = LabHost | string;

export interface HostOptions {
  /**
   * Files written into the host's /etc overlay before its first start, so a
   * host can pose as another distribution or network stack. Keys are paths
   * under /etc (`network/interfaces` or `/etc/network/interfaces`); a null
   * value hides the file the machine has (an overlay whiteout).
   */
  seedEtc?: Record<string, string | null>;
}

export interface LabOptions {
  /** number of real servers, 1..240 */
  hosts: number;
  /** create the director namespace (default true); see Lab.setupDirector */
  director?: boolean;
  /** create the client namespace (default true) */
  client?: boolean;
  /** `vp` + 4 hex digits; random by default */
  prefix?: string;
  /** run an sshd on the director and the client too, for vantage-host checks (default true) */
  sshOnDirectorAndClient?: boolean;
  /** an HTTP server on port 80 of each real server answering its name (default true) */
  httpServers?: boolean;
  /** per real server, by name (`h1`) */
  hostOptions?: Record<string, HostOptions>;
  /**
   * Keep the lab when this process exits (for `cli.ts up`). By default the
   * lab is torn down on exit, SIGINT, SIGTERM and SIGHUP.
   */
  persist?: boolean;
  /** progress messages */
  log?: (message: string) => void;
}

/** An address as `ip -j addr` reports it. */
export interface LabAddress {
  family: 'inet' | 'inet6';
  local: string;
  prefixlen: number;
  scope: string;
  label?: string;
}

export interface HttpResult {
  /** HTTP status, 0 when no response came */
  status: number;
  body: string;
  /** curl's message when no response came */
  error?: string;
}

export interface ExecOptions {
  input?: string | Buffer;
  timeoutMs?: number;
}

export interface Lab {
  readonly prefix: string;
  /** 198.18.K.0/24 */
  readonly subnet: string;
  /** the root namespace's address on the lab subnet (198.18.K.1) */
  readonly controllerIp: string;
  /** root-side veth, `${prefix}c` */
  readonly controllerIf: string;
  /** 198.18.K.250, inside eth0's subnet on purpose */
  readonly vip: string;
  readonly dir: string;
  readonly inventoryFile: string;
  readonly knownHostsFile: string;
  readonly privateKeyFile: string;
  readonly publicKeyFile: string;
  /** the switch namespace, holding bridge br0 */
  readonly switchNs: string;
  /** real servers, h1..hN */
  readonly hosts: readonly LabHost[];
  /** throws when the lab was created with director: false */
  readonly director: LabHost;
  /** throws when the lab was created with client: false */
  readonly client: LabHost;
  /** creation time by phase, in ms */
  readonly timings: Readonly<Record<string, number>>;

  host(ref: HostRef): LabHost;

  /**
   * The VIP as a normal address on the director's eth0 (so it answers ARP),
   * and nftables forwarding VIP:80 to the real servers by destination-MAC
   * rewrite. Idempotent; `hosts` defaults to every real server.
   */
  setupDirector(hosts?: readonly HostRef[]): Promise<void>;
  /** The broken starting state: the VIP on lo as a plain /32 (scope global), ARP sysctls untouched. */
  naiveVip(host: HostRef): Promise<void>;

  /**
   * Distinct MACs (lowercase, sorted) that answered ARP for `vip` (default
   * the lab's VIP), asked from `from` (default the client) after flushing its
   * neighbour cache: three broadcast probes, about 3 s. [] when nobody answered.
   */
  arpOwners(vip?: string, from?: HostRef): Promise<string[]>;
  httpGet(url: string, from?: HostRef): Promise<HttpResult>;
  /** A command in the host's network, mount (/etc overlay) and UTS namespaces. Never throws on exit codes. */
  hostExec(host: HostRef, argv: readonly string[], opts?: ExecOptions): Promise<ExecResult>;
  /** A command in a network namespace only (`ip netns exec`). */
  nsExec(ns: HostRef, argv: readonly string[], opts?: ExecOptions): Promise<ExecResult>;
  /** A live sysctl value as `sysctl -n` prints it. */
  sysctl(host: HostRef, key: string): Promise<string>;
  /** Addresses on `dev` (default lo). */
  addresses(host: HostRef, dev?: string): Promise<LabAddress[]>;
  /** The host's overlay upper dir: what changed in its /etc. */
  etcUpper(host: HostRef): string;

  /** Kills the host's sshd and every SSH session on it. */
  killSshd(host: HostRef): Promise<void>;
  /** Starts sshd (no-op if it runs) and waits until it accepts TCP. */
  startSshd(host: HostRef): Promise<void>;
  /** Sets the host's port on the switch down: the host drops off the LAN. */
  linkDown(host: HostRef): Promise<void>;
  linkUp(host: HostRef): Promise<void>;
  /**
   * Power-cycles a host: every process killed, namespace deleted (live
   * addresses and sysctls lost) and recreated, then booted from its persisted
   * /etc as Debian does (`sysctl --system`, `ifup -a`), then sshd and the HTTP
   * server start again. Resolves to the boot output.
   */
  reboot(host: HostRef): Promise<string>;

  /** Kills the lab's processes, deletes its namespaces and veth, removes the lab dir. Safe to call twice. */
  teardown(): Promise<void>;
}

export { createLab, withLab } from './create.js';
export { destroyLabByPrefix, listLabs, LAB_PREFIX_RE } from './network.js';
export { ensureLabPackages, LAB_PACKAGES } from './packages.js';
export { LabError } from './exec.js';
