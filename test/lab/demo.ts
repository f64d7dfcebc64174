/**
 * `npm run demo`: builds a 3-host lab on this machine, shows the broken
 * starting state (every real server answers ARP for the VIP), pushes
 * playbooks/hidden-arp.yml with vipush, and shows that afterwards only the
 * director answers while HTTP through the director still reaches every
 * real server. The lab is torn down at the end, whatever happens.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { ensureLabPackages, withLab, type Lab } from './lab.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

function say(text: string): void {
  process.stdout.write(`\n\x1b[1m== ${text}\x1b[0m\n`);
}

function owners(lab: Lab, macs: string[]): string {
  const byMac = new Map([...lab.hosts, lab.director].map((h) => [h.mac, h.name]));
  return macs.length ? macs.map((m) => `${byMac.get(m) ?? 'unknown'} (${m})`).join(', ') : 'nobody';
}

function vipush(lab: Lab, args: string[]): Promise<number> {
  process.stdout.write(`$ vipush ${args.join(' ')}\n`);
  // the runs' snapshots stay in the lab dir, removed with the lab, not in this machine's /var/lib/vipush
  const env = { ...process.env, VIPUSH_STATE_DIR: join(lab.dir, 'state') };
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(repo, 'bin', 'vipush.js'), ...args], { stdio: 'inherit', cwd: repo, env });
    child.on('error', reject);
    child.on('exit', (code) => resolve(code ?? 1));
  });
}

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) {
    process.stderr.write('npm run demo builds network namespaces and needs root: run it as root (sudo npm run demo)\n');
    return 1;
  }
  await ensureLabPackages();
  return withLab({ hosts: 3, log: (m) => process.stdout.write(`   ${m}\n`) }, async (lab) => {
    say(`lab ${lab.prefix}: 3 real servers, a director and a client on ${lab.subnet}; VIP ${lab.vip}`);
    await lab.setupDirector();
    for (const h of lab.hosts) await lab.naiveVip(h);

    say('before: the VIP is on each real server the naive way (scope global, default ARP sysctls)');
    const before = await lab.arpOwners();
    process.stdout.write(`ARP for ${lab.vip} from the client is answered by: ${owners(lab, before)}\n`);

    say("vipush pushes playbooks/hidden-arp.yml (the seed document's configuration)");
    const common = ['-i', lab.inventoryFile, '--known-hosts', lab.knownHostsFile, '-e', `vip=${lab.vip}`];
    const code = await vipush(lab, ['run', 'playbooks/hidden-arp.yml', ...common, '--diff', '--limit', 'h1']);
    if (code !== 0) return code;
    const code2 = await vipush(lab, ['run', 'playbooks/hidden-arp.yml', ...common]);
    if (code2 !== 0) return code2;

    say('after');
    const after = await lab.arpOwners();
    process.stdout.write(`ARP for ${lab.vip} from the client is answered by: ${owners(lab, after)}\n`);
    for (const h of lab.hosts) {
      const a = (await lab.addresses(h)).filter((x) => x.local === lab.vip);
      process.stdout.write(
        `${h.name}: ${a.map((x) => `${x.local}/${x.prefixlen} scope ${x.scope} label ${x.label}`).join(', ')}; arp_ignore=${await lab.sysctl(h, 'net.ipv4.conf.all.arp_ignore')} arp_announce=${await lab.sysctl(h, 'net.ipv4.conf.all.arp_announce')}\n`,
      );
    }

    say(`HTTP to http://${lab.vip}/ from the client goes through the director to the real servers`);
    const seen = new Map<string, number>();
    for (let i = 0; i < 12; i++) {
      const r = await lab.httpGet(`http://${lab.vip}/`);
      const who = r.status === 200 ? r.body.trim() : `error ${r.error ?? r.status}`;
      seen.set(who, (seen.get(who) ?? 0) + 1);
    }
    for (const [who, n] of seen) process.stdout.write(`${who}: ${n} of 12 requests\n`);

    say('a second run changes nothing');
    const code3 = await vipush(lab, ['run', 'playbooks/hidden-arp.yml', ...common, '--quiet']);
    const ok = after.length === 1 && after[0] === lab.director.mac && code3 === 0;
    say(ok ? 'done: only the director answers ARP for the VIP; tearing the lab down' : 'UNEXPECTED RESULT (see above); tearing the lab down');
    return ok ? 0 : 1;
  });
}

main().then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`demo failed: ${(e as Error).message}\n`);
    process.exit(1);
  },
);
