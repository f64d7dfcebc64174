import type { GateSpec } from '../config/types.js';
import { MAC_ADDRESS } from '../net/values.js';
import { shJoin } from '../remote/quote.js';
import { vantageScript } from '../remote/script.js';
import type { Transport } from '../transport/types.js';

/**
 * Health gates run after each batch from a vantage host on the same L2 (the
 * client, say). They check the effect on the network, not our own files.
 */
export interface GateContext {
  connect(host: string): Promise<Transport>;
  commandTimeoutMs: number;
}

export function parseArpingMacs(out: string): string[] {
  const macs = new Set<string>();
  for (const m of out.matchAll(/\[((?:[0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2})\]/g)) macs.add(m[1].toLowerCase());
  return [...macs].sort();
}

/** The MAC a host uses towards the vantage: the one that should own the VIP. */
async function macOf(ctx: GateContext, host: string, towards: string): Promise<string> {
  if (MAC_ADDRESS.test(host)) return host.toLowerCase();
  const t = await ctx.connect(host);
  const r = await t.exec({ script: vantageScript('vp_mac_towards', towards) }, { timeoutMs: ctx.commandTimeoutMs });
  const mac = r.stdout.trim().toLowerCase();
  if (r.code !== 0 || !MAC_ADDRESS.test(mac)) throw new Error(`cannot read the MAC of ${host}: ${r.stderr.trim()}`);
  return mac;
}

async function vantageAddress(t: Transport, vip: string, timeoutMs: number): Promise<string> {
  const r = await t.exec({ script: vantageScript('vp_source_towards', vip) }, { timeoutMs });
  return r.stdout.trim();
}

async function runGate(g: GateSpec, ctx: GateContext): Promise<{ ok: boolean; detail: string }> {
  const t = await ctx.connect(g.from);
  switch (g.kind) {
    case 'arp_owner': {
      const r = await t.exec({ script: vantageScript('vp_arping', g.vip) }, { timeoutMs: Math.max(ctx.commandTimeoutMs, 15_000) });
      if (r.code !== 0) return { ok: false, detail: `arping from ${g.from} failed: ${r.stderr.trim() || r.stdout.trim()}` };
      const owners = parseArpingMacs(r.stdout);
      const expected = await macOf(ctx, g.expect, await vantageAddress(t, g.vip, ctx.commandTimeoutMs));
      const ok = owners.length === 1 && owners[0] === expected;
      return { ok, detail: `ARP for ${g.vip} from ${g.from}: answered by ${owners.join(', ') || 'nobody'}; expected only ${g.expect} (${expected})` };
    }
    case 'http': {
      const argv = ['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '5', g.url];
      const r = await t.exec({ argv }, { timeoutMs: ctx.commandTimeoutMs });
      const status = Number(r.stdout.trim());
      return { ok: status === g.expectStatus, detail: `GET ${g.url} from ${g.from}: ${status || 'no answer'} (expected ${g.expectStatus})` };
    }
    case 'command': {
      const r = await t.exec(g.argv ? { argv: g.argv } : { script: g.script ?? 'true' }, { timeoutMs: ctx.commandTimeoutMs });
      const what = g.argv ? shJoin(g.argv) : g.script;
      return { ok: r.code === 0, detail: `${what} on ${g.from}: exit ${r.code ?? r.signal}${r.code ? `: ${r.stderr.trim().split('\n').slice(-1)[0]}` : ''}` };
    }
  }
}

/** Runs every gate in order; returns the first failure's detail, or undefined when all pass. */
export async function runGates(
  gates: GateSpec[],
  ctx: GateContext,
  report: (g: { name: string; ok: boolean; detail: string }) => void,
): Promise<string | undefined> {
  for (const g of gates) {
    let res: { ok: boolean; detail: string };
    try {
      res = await runGate(g, ctx);
    } catch (e) {
      res = { ok: false, detail: `${g.kind} gate could not run: ${(e as Error).message}` };
    }
    report({ name: g.kind, ...res });
    if (!res.ok) return res.detail;
  }
  return undefined;
}
