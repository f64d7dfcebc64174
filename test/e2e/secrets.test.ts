import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLab, ensureLabPackages, type Lab } from '../lab/lab.js';
import { readReport, vipush, type CliResult } from './vipush-cli.js';

/**
 * Secrets never leave vipush: a key passphrase (VIPUSH_KEY_PASSPHRASE), and a
 * sudo password or any other secret held in an inventory variable. Each run
 * below plants them, then searches every output for them: stdout, stderr,
 * the --report file, --log-format json events and the saved run snapshots.
 * Reports and snapshots must be private to the user (mode 0600).
 */

const SECRET = `Plant-${randomBytes(9).toString('hex')}`;
const WRONG = `Wrong-${randomBytes(9).toString('hex')}`;
const SECRETS = [SECRET, WRONG];

function keygen(file: string, passphrase: string): void {
  const r = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', passphrase, '-C', 'vipush-secrets-test', '-f', file]);
  if (r.status !== 0) throw new Error(`ssh-keygen failed: ${r.stderr.toString()}`);
}

/** Every regular file below `dir`, for the snapshot check. */
function filesBelow(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
}

describe('secrets stay secret (3 real hosts, real sshd)', () => {
  let lab: Lab;
  let dir: string;
  let stateDir: string;
  let acceptedKey: string;
  let rejectedKey: string;
  /** everything vipush wrote during these tests, searched for the secrets at the end as well */
  const seen: { what: string; text: string }[] = [];

  beforeAll(async () => {
    await ensureLabPackages();
    lab = await createLab({ hosts: 3, director: false, client: false, httpServers: false });
    dir = join(lab.dir, 'secrets');
    stateDir = join(dir, 'state');
    mkdirSync(dir, { recursive: true });
    acceptedKey = join(dir, 'accepted_ed25519');
    rejectedKey = join(dir, 'rejected_ed25519');
    keygen(acceptedKey, SECRET);
    keygen(rejectedKey, SECRET);
    // Every lab sshd reads this one file (test/lab/create.ts); only the accepted key goes in.
    const authorizedKeys = join(lab.dir, 'authorized_keys');
    if (!existsSync(authorizedKeys)) throw new Error(`the lab has no ${authorizedKeys}; test/lab/create.ts changed how it builds authorized_keys`);
    appendFileSync(authorizedKeys, readFileSync(`${acceptedKey}.pub`));
  });
  afterAll(async () => {
    await lab?.teardown();
  });

  /** An inventory of the lab's real servers that logs in with `key`, and holds the secret in two variables. */
  function inventory(name: string, key: string): string {
    const path = join(dir, `${name}.yml`);
    const hosts = lab.hosts.map((h) => `        ${h.name}: { ansible_host: ${h.ip} }`).join('\n');
    writeFileSync(
      path,
      `all:\n  vars:\n    ansible_user: root\n    ansible_ssh_private_key_file: ${key}\n    ansible_become_pass: ${SECRET}\n    db_password: ${SECRET}\n  children:\n    realservers:\n      hosts:\n${hosts}\n`,
    );
    return path;
  }

  async function run(args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
    const r = await vipush(args, { env: { VIPUSH_STATE_DIR: stateDir, SSH_AUTH_SOCK: '', ...env } });
    seen.push({ what: `stdout of vipush ${args.join(' ')}`, text: r.stdout }, { what: `stderr of vipush ${args.join(' ')}`, text: r.stderr });
    return r;
  }

  function expectNoSecret(what: string, text: string): void {
    for (const secret of SECRETS) expect(text.includes(secret), `${what} contains a planted secret:\n${text.slice(0, 2000)}`).toBe(false);
  }

  function readPrivate(path: string): string {
    expect(statSync(path).mode & 0o777, `${path} mode`).toBe(0o600);
    const text = readFileSync(path, 'utf8');
    seen.push({ what: path, text });
    return text;
  }

  const runArgs = (inv: string, report: string, ...more: string[]) => [
    'run',
    'playbooks/hidden-arp.yml',
    '-i',
    inv,
    '--known-hosts',
    lab.knownHostsFile,
    '-e',
    `vip=${lab.vip}`,
    '--report',
    report,
    '--connect-timeout',
    '5',
    ...more,
  ];

  it('a WRONG passphrase fails every host, and says so without either passphrase', async () => {
    const report = join(dir, 'wrong.json');
    const r = await run(runArgs(inventory('wrong', acceptedKey), report), { VIPUSH_KEY_PASSPHRASE: WRONG });
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stdout + r.stderr).toContain('wrong passphrase');
    const rep = await readReport(report);
    for (const h of lab.hosts) expect(rep.hosts[h.name].status).not.toMatch(/^(ok|changed)$/);
    expectNoSecret('the wrong-passphrase run', r.stdout + r.stderr + readPrivate(report));
  });

  it('no passphrase at all (no terminal to ask on) fails with a hint, not a hang', async () => {
    const report = join(dir, 'locked.json');
    const r = await run(runArgs(inventory('locked', acceptedKey), report), {});
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stdout + r.stderr).toContain('VIPUSH_KEY_PASSPHRASE');
    expectNoSecret('the run without a passphrase', r.stdout + r.stderr + readPrivate(report));
  });

  it('a key the hosts refuse (decrypted with the right passphrase) fails with an auth error', async () => {
    const report = join(dir, 'rejected.json');
    const r = await run(runArgs(inventory('rejected', rejectedKey), report), { VIPUSH_KEY_PASSPHRASE: SECRET });
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stdout + r.stderr).toMatch(/refused every key/);
    expectNoSecret('the refused-key run', r.stdout + r.stderr + readPrivate(report));
  });

  it('the right passphrase: the run succeeds, verbose, with a diff; nothing it writes holds a secret', async () => {
    const report = join(dir, 'run.json');
    const r = await run(runArgs(inventory('right', acceptedKey), report, '--diff', '--verbose'), { VIPUSH_KEY_PASSPHRASE: SECRET });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const rep = await readReport(report);
    for (const h of lab.hosts) expect(rep.hosts[h.name].status).toBe('changed');
    expectNoSecret('the run', r.stdout + r.stderr + readPrivate(report));
  });

  it('--log-format json: the event stream and the report hold no secret', async () => {
    const report = join(dir, 'json.json');
    const r = await run(runArgs(inventory('right', acceptedKey), report, '--log-format', 'json'), { VIPUSH_KEY_PASSPHRASE: SECRET });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const events = r.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string });
    expect(events.map((e) => e.event)).toContain('host_done');
    expect(events.map((e) => e.event)).toContain('run_done');
    expectNoSecret('the json events', r.stdout + r.stderr + readPrivate(report));
  });

  it('drift in json, and --check, hold no secret either', async () => {
    const drift = await run(
      [
        'drift',
        'playbooks/hidden-arp.yml',
        '-i',
        join(dir, 'right.yml'),
        '--known-hosts',
        lab.knownHostsFile,
        '-e',
        `vip=${lab.vip}`,
        '--log-format',
        'json',
        '--report',
        join(dir, 'drift.json'),
      ],
      {
        VIPUSH_KEY_PASSPHRASE: SECRET,
      },
    );
    expect(drift.code, drift.stdout + drift.stderr).toBe(0);
    const check = await run(runArgs(join(dir, 'right.yml'), join(dir, 'check.json'), '--check', '--diff'), { VIPUSH_KEY_PASSPHRASE: SECRET });
    expect(check.code, check.stdout + check.stderr).toBe(0);
    expectNoSecret(
      'drift and --check',
      drift.stdout + drift.stderr + check.stdout + check.stderr + readPrivate(join(dir, 'drift.json')) + readPrivate(join(dir, 'check.json')),
    );
  });

  it('saved run snapshots are private (0600 in a 0700 directory) and hold no secret', () => {
    const files = filesBelow(stateDir);
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) expectNoSecret(f, readPrivate(f));
    expect(statSync(join(stateDir, 'runs')).mode & 0o777).toBe(0o700);
  });

  it('input errors name variables, never the values of the ones they are not about', async () => {
    const pb = join(dir, 'typo-playbook.yml');
    writeFileSync(pb, '- hosts: realservers\n  tasks:\n    - name: typo\n      address: { address: "{{ vipp }}/32", dev: lo }\n');
    const inv = inventory('typo', acceptedKey);
    for (const args of [
      ['validate', pb, '-i', inv],
      ['run', pb, '-i', inv, '--known-hosts', lab.knownHostsFile],
    ]) {
      const r = await run(args, { VIPUSH_KEY_PASSPHRASE: SECRET });
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/vipp/);
      expectNoSecret(`vipush ${args[0]} with an undefined variable`, r.stdout + r.stderr);
    }
  });

  it('control: `vipush inventory --list`, which prints variables on request, does show it (so the searches can find it)', async () => {
    const r = await vipush(['inventory', '--list', '-i', join(dir, 'right.yml')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(SECRET);
  });

  it('all of it, once more: nothing vipush printed or wrote holds a planted secret', () => {
    expect(seen.length).toBeGreaterThan(20);
    for (const s of seen) expectNoSecret(s.what, s.text);
  });
});
