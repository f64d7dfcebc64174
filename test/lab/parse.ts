import type { HttpResult, LabAddress } from './lab.js';

/** iputils arping prints `Unicast reply from 198.18.7.250 [02:76:70:07:00:0B]  0.6ms` per reply. */
export function parseArpingMacs(output: string): string[] {
  const macs = new Set<string>();
  for (const m of output.matchAll(/reply from \S+ \[([0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5})\]/g)) {
    macs.add(m[1].toLowerCase());
  }
  return [...macs].sort();
}

/** Output of `curl -w '\n%{http_code}'`: the body, a newline, then the status ("000" when no response). */
export function parseCurlOutput(stdout: string, stderr: string): HttpResult {
  const cut = stdout.lastIndexOf('\n');
  const status = Number(stdout.slice(cut + 1).trim()) || 0;
  const body = cut >= 0 ? stdout.slice(0, cut) : '';
  return status === 0 ? { status, body, error: stderr.trim() || 'no response' } : { status, body };
}

interface IpJsonLink {
  addr_info?: { family: string; local: string; prefixlen: number; scope: string; label?: string }[];
}

export function parseIpAddrJson(json: string): LabAddress[] {
  const links = JSON.parse(json || '[]') as IpJsonLink[];
  return links.flatMap((l) =>
    (l.addr_info ?? []).map((a) => {
      const addr: LabAddress = { family: a.family === 'inet6' ? 'inet6' : 'inet', local: a.local, prefixlen: a.prefixlen, scope: a.scope };
      if (a.label !== undefined) addr.label = a.label;
      return addr;
    }),
  );
}
