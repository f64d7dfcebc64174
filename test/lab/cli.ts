/**
 * The fleet lab for humans:
 *   node dist/test/lab/cli.js up --hosts N [--foreground]
 *   node dist/test/lab/cli.js down PREFIX
 *   node dist/test/lab/cli.js list
 * `up` leaves the lab running until `down`; with --foreground it stays until
 * Ctrl-C (or SIGTERM) and then tears the lab down.
 */
import { parseArgs } from 'node:util';
import { createLab, destroyLabByPrefix, listLabs, LAB_PREFIX_RE, LabError, type Lab } from './lab.js';

const USAGE = `usage:
  cli.js up --hosts N [--foreground] [--no-director-setup]
  cli.js down PREFIX
  cli.js list`;

const self = 'node dist/test/lab/cli.js';

function describeLab(lab: Lab): string {
  const first = lab.hosts[0];
  return [
    `lab ${lab.prefix} is up: ${lab.hosts.length} real servers on ${lab.subnet} (${lab.timings.total} ms)`,
    `  timings:     ${Object.entries(lab.timings)
      .map(([k, v]) => `${k} ${v} ms`)
      .join(', ')}`,
    `  lab dir:     ${lab.dir}`,
    `  inventory:   ${lab.inventoryFile}`,
    `  known_hosts: ${lab.knownHostsFile}`,
    `  key:         ${lab.privateKeyFile}`,
    `  VIP:         ${lab.vip}`,
    `  director:    ${lab.director.ip} (${lab.director.mac})`,
    `  client:      ${lab.client.ip} (ns ${lab.client.ns})`,
    `  ssh:         ssh -i ${lab.privateKeyFile} -o UserKnownHostsFile=${lab.knownHostsFile} root@${first.ip}`,
    `  arp check:   ip netns exec ${lab.client.ns} arping -c3 -w4 -I eth0 ${lab.vip}`,
    `  teardown:    ${self} down ${lab.prefix}`,
  ].join('\n');
}

async function up(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      hosts: { type: 'string', default: '3' },
      foreground: { type: 'boolean', default: false },
      'no-director-setup': { type: 'boolean', default: false },
    },
  });
  const hosts = Number(values.hosts);
  const foreground = values.foreground ?? false;
  const lab = await createLab({ hosts, persist: !foreground, log: (m) => process.stderr.write(`${m}\n`) });
  try {
    if (!values['no-director-setup']) await lab.setupDirector();
  } catch (e) {
    await lab.teardown();
    throw e;
  }
  process.stdout.write(`${describeLab(lab)}\n`);
  if (!foreground) return;
  process.stdout.write('running in the foreground; Ctrl-C tears it down\n');
  // The lab's own signal handlers tear it down and then let the signal end the process.
  setInterval(() => undefined, 1 << 30);
}

function down(args: string[]): void {
  const prefix = args[0];
  if (!prefix || !LAB_PREFIX_RE.test(prefix)) throw new LabError(`down needs a lab prefix like vp3fa1 (vp + 4 hex digits), got "${prefix ?? ''}"`);
  const r = destroyLabByPrefix(prefix);
  process.stdout.write(`lab ${prefix}: deleted ${r.namespaces.length} namespaces, killed ${r.killed} processes, removed ${r.dirs.length} lab dirs\n`);
}

function list(): void {
  const labs = listLabs();
  if (labs.length === 0) {
    process.stdout.write('no labs\n');
    return;
  }
  for (const l of labs) process.stdout.write(`${l.prefix}  ${l.namespaces} namespaces  ${l.dirs.join(' ') || '(no lab dir)'}\n`);
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === 'up') await up(rest);
  else if (command === 'down') down(rest);
  else if (command === 'list') list();
  else {
    process.stderr.write(`${USAGE}\n`);
    process.exitCode = 3;
  }
}

main(process.argv.slice(2)).catch((e: unknown) => {
  process.stderr.write(`${e instanceof LabError ? e.message : e instanceof Error ? e.stack : String(e)}\n`);
  process.exitCode = 1;
});
