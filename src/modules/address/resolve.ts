import ipaddr from 'ipaddr.js';
import { interfaceNameProblem, ipv6KernelScope, parseInterfaceAddress, type AddressScope } from '../../net/values.js';
import type { ArgProblems } from '../types.js';
import type { PERSIST_BACKENDS } from './schema.js';

export type PersistBackend = (typeof PERSIST_BACKENDS)[number];

export interface AddressArgs {
  /** normalised CIDR, e.g. 192.168.0.181/32 or 2001:db8::1/128 */
  address: string;
  family: 4 | 6;
  dev: string;
  scope: AddressScope;
  label?: string;
  state: 'present' | 'absent';
  persist: PersistBackend;
  allowArp: boolean;
  /** these VIPs (the task's items) and no others that vipush manages on `dev`: see retire.ts */
  exclusive?: true;
}

export function resolveAddress(value: unknown, ctx: ArgProblems): AddressArgs | undefined {
  const args = value as Record<string, unknown>;
  const dev = args.dev as string;
  const devProblem = interfaceNameProblem(dev, 'device name');
  if (devProblem) ctx.error('/dev', devProblem);

  const parsed = parseInterfaceAddress(args.address as string);
  if ('error' in parsed) {
    ctx.error('/address', parsed.error);
  } else if (dev === 'lo') {
    const full = parsed.family === 4 ? 32 : 128;
    if (parsed.prefix !== full) {
      const network = parsed.family === 4 ? ipaddr.IPv4.networkAddressFromCIDR(parsed.cidr) : ipaddr.IPv6.networkAddressFromCIDR(parsed.cidr);
      const subnet = `${network.toString()}/${parsed.prefix}`;
      const effect =
        parsed.family === 4 ? `the kernel would treat every address in ${subnet} as local to this host` : `the kernel would route all of ${subnet} into lo`;
      ctx.error(
        '/address',
        `address ${JSON.stringify(args.address)} on lo must be a /${full}: with a shorter prefix ${effect}, and the host could no longer reach its neighbours there`,
      );
    }
  }

  const label = args.label as string | undefined;
  if (label !== undefined) {
    const labelProblem = interfaceNameProblem(label, 'label');
    if (labelProblem) ctx.error('/label', labelProblem);
    else if (!devProblem && !label.startsWith(dev))
      ctx.error('/label', `label ${JSON.stringify(label)} must start with the device name "${dev}" (the kernel refuses other labels)`);
    else if (!('error' in parsed) && parsed.family === 6) ctx.error('/label', 'labels exist only for IPv4 addresses; remove `label`');
  }
  if (args.exclusive === true && args.state === 'absent') {
    ctx.error(
      '/exclusive',
      '`exclusive: true` declares the VIPs that stay on the device; it does not go with `state: absent` (delete the VIP from the list instead)',
    );
  }
  if ('error' in parsed) return undefined;
  let scope = (args.scope as AddressArgs['scope'] | undefined) ?? (dev === 'lo' ? 'host' : 'global');
  if (parsed.family === 6) {
    // No ARP in IPv6, and the kernel answers no neighbour solicitation on eth0 for an address held on lo:
    // an IPv6 VIP needs no hiding, only the scope the kernel will give it anyway.
    const own = ipv6KernelScope(parsed.cidr);
    if ('error' in own) {
      ctx.error('/address', own.error);
      return undefined;
    }
    if (args.scope !== undefined && args.scope !== own.scope) {
      ctx.error(
        '/scope',
        `IPv6 addresses take their scope from the address: the kernel gives ${parsed.cidr} scope ${own.scope} whatever \`ip\` asks; remove \`scope\``,
      );
    }
    scope = own.scope;
  }
  return {
    address: parsed.cidr,
    family: parsed.family,
    dev,
    scope,
    ...(label !== undefined ? { label } : {}),
    state: (args.state as AddressArgs['state'] | undefined) ?? 'present',
    persist: (args.persist as AddressArgs['persist'] | undefined) ?? 'none',
    allowArp: (args.allow_arp as boolean | undefined) ?? false,
    ...(args.exclusive === true ? { exclusive: true as const } : {}),
  };
}
