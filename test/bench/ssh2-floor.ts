/**
 * The in-process floor: one bare ssh2 connection and one exec per host, all in
 * parallel, in this one Node process. It is what any in-process SSH
 * orchestrator pays at least, so vipush is compared with it.
 *
 *   node dist/test/bench/ssh2-floor.js --known-hosts FILE --key FILE [--user root] [--command CMD] HOST...
 *
 * Host keys are checked against known_hosts (the key blob must equal the one
 * listed for the address), as vipush does. Prints one JSON line
 * {ok, failed, errors, outputs}; exits 1 when any host failed.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Client } from 'ssh2';
import { FLOOR_COMMAND } from './floors.js';

/** address -> key blobs; only the plain `address type base64` lines the lab writes */
function parseKnownHosts(text: string): Map<string, Buffer[]> {
  const keys = new Map<string, Buffer[]>();
  for (const line of text.split('\n')) {
    const [names, , blob] = line.trim().split(/\s+/);
    if (!names || !blob || names.startsWith('#') || names.startsWith('|')) continue;
    for (const name of names.split(',')) {
      const list = keys.get(name) ?? [];
      list.push(Buffer.from(blob, 'base64'));
      keys.set(name, list);
    }
  }
  return keys;
}

function runOne(host: string, user: string, privateKey: Buffer, known: Buffer[], command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const client = new Client();
    let settled = false;
    const fail = (e: Error) => {
      if (settled) return;
      settled = true;
      client.end();
      reject(new Error(`${host}: ${e.message}`));
    };
    client.on('error', fail);
    client.on('ready', () => {
      client.exec(command, (err, channel) => {
        if (err) return fail(err);
        let out = '';
        channel.on('data', (b: Buffer) => (out += b.toString()));
        channel.stderr.on('data', () => undefined);
        channel.on('close', (code: number | null) => {
          if (settled) return;
          settled = true;
          client.end();
          if (code === 0) resolve(out.trim());
          else reject(new Error(`${host}: exit ${code}`));
        });
      });
    });
    client.connect({
      host,
      port: 22,
      username: user,
      privateKey,
      readyTimeout: 120_000,
      hostVerifier: (key: Buffer) => known.some((k) => k.equals(key)),
    });
  });
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      'known-hosts': { type: 'string' },
      key: { type: 'string' },
      user: { type: 'string', default: 'root' },
      command: { type: 'string', default: FLOOR_COMMAND },
    },
  });
  if (!values['known-hosts'] || !values.key || positionals.length === 0) {
    process.stderr.write('usage: ssh2-floor.js --known-hosts FILE --key FILE [--user U] [--command CMD] HOST...\n');
    return 3;
  }
  const known = parseKnownHosts(readFileSync(values['known-hosts'], 'utf8'));
  const key = readFileSync(values.key);
  const results = await Promise.allSettled(positionals.map((h) => runOne(h, values.user!, key, known.get(h) ?? [], values.command!)));
  const outputs = results.filter((r): r is PromiseFulfilledResult<string> => r.status === 'fulfilled').map((r) => r.value);
  const errors = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => (r.reason as Error).message);
  process.stdout.write(`${JSON.stringify({ ok: outputs.length, failed: errors.length, errors: errors.slice(0, 5), outputs })}\n`);
  return errors.length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`ssh2-floor: ${(e as Error).message}\n`);
    process.exit(1);
  },
);
