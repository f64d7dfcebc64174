export const MAIN_HELP = `vipush - push hidden-ARP VIPs (and other network state) to Linux fleets over SSH

Usage:
  vipush run       PLAYBOOK -i INVENTORY [options]   apply a playbook
  vipush drift     PLAYBOOK -i INVENTORY [--fix]     compare hosts with a playbook (exit 2 on drift)
  vipush validate  PLAYBOOK -i INVENTORY             check files and templates; touches no host
  vipush inventory -i INVENTORY [--list]            show the hosts an inventory and --limit select
  vipush rollback  --run RUN_ID -i INVENTORY        undo a past run on the hosts it changed
  vipush merge-reports REPORT... [-o FILE]          join the JSON reports of --shard runs
  vipush schedule  PLAYBOOK -i INVENTORY --every 15m [--fix] [--install]
                                                    run drift from a systemd timer (or cron)

Exit codes: 0 success, 1 a host failed or was unreachable, 2 drift found,
3 invalid input or usage, 4 another run holds the lock, 130 interrupted.

Run "vipush COMMAND --help" for a command's options and an example.
`;

const CONNECTION = `Connection options:
  -u, --user USER            remote user (default: ansible_user, ~/.ssh/config, then root)
      --private-key FILE     private key (default: ansible_ssh_private_key_file, ~/.ssh/config, ssh-agent)
      --known-hosts FILE     known_hosts to verify host keys against (default ~/.ssh/known_hosts
                             and /etc/ssh/ssh_known_hosts); unknown or changed keys are refused
      --accept-new-host-keys record keys of hosts not yet in known_hosts (a changed key is still refused)
      --connect-timeout SEC  SSH connect timeout (default 10)
      --command-timeout SEC  per remote command timeout (default 120); a script that runs your
                             commands also gets it on the host (timeout -k)
  -f, --forks N              hosts in parallel (default 50)
  -l, --limit PATTERN        Ansible host pattern: names, groups, web*, web[0], web[1:], a:b, a:&b, a:!b;
                             a term that matches nothing is a warning
      --shard K/N            take only shard K of N (a stable split by host name), for running
                             one fleet from N controllers; join their reports with merge-reports
  -e, --extra-vars K=V       extra variables, highest precedence (repeatable)
      --report FILE          write the JSON report (mode 0600)
      --history DIR          also keep the report in DIR, the newest --history-keep N (default 50)
      --log-format FORMAT    text (default) or json (one event per line)
  -q, --quiet                no progress, only the recap`;

export const RUN_HELP = `vipush run - apply a playbook to the hosts it targets

Usage: vipush run PLAYBOOK -i INVENTORY [--check] [--diff] [options]

Every host is read, planned and then changed in one transaction: when a step
fails, that host is rolled back to where it was.

  -i, --inventory SOURCE     Ansible inventory: a YAML or INI file, a directory of them, or
                             a host list 'web1,web2,'; repeat -i to merge several, in order.
                             group_vars/ and host_vars/ beside it and beside the playbook are
                             read with Ansible's precedence. Default: $ANSIBLE_INVENTORY, then
                             inventory in ansible.cfg
  -C, --check                change nothing; say what would change
  -D, --diff                 show unified diffs of files and before/after of live values
${CONNECTION}

Example:
  vipush run playbooks/hidden-arp.yml -i inventory/example.yml --check --diff -e vip=192.0.2.10
`;

export const DRIFT_HELP = `vipush drift - find (and with --fix, repair) drift from a playbook

Usage: vipush drift PLAYBOOK -i INVENTORY [--fix] [options]

Read-only unless --fix. Exit 0 in sync, 2 drift found, 1 hosts failed or unreachable.
With --fix, only what drifted is applied (with the same rollback as run); exit 0 when all was fixed.

  -i, --inventory SOURCE     Ansible inventory: a YAML or INI file, a directory of them, or
                             a host list 'web1,web2,'; repeat -i to merge several, in order.
                             group_vars/ and host_vars/ beside it and beside the playbook are
                             read with Ansible's precedence. Default: $ANSIBLE_INVENTORY, then
                             inventory in ansible.cfg
      --fix                  repair what drifted
${CONNECTION}

Example:
  vipush drift playbooks/hidden-arp.yml -i inventory/example.yml --report /tmp/drift.json
`;

export const VALIDATE_HELP = `vipush validate - check a playbook and inventory without touching any host

Usage: vipush validate PLAYBOOK -i INVENTORY [-e K=V]... [--limit PATTERN]

Loads both files, substitutes variables for every targeted host and reports every
problem at once, one line each, as file:line:col. Exit 0 when valid, 3 otherwise.

Example:
  vipush validate playbooks/hidden-arp.yml -i inventory/example.yml
`;

export const INVENTORY_HELP = `vipush inventory - show what an inventory holds

Usage: vipush inventory -i INVENTORY [-i INVENTORY]... [--limit PATTERN] [--list] [--playbook-dir DIR]

Without --list, prints the selected host names, one per line.
With --list, prints JSON in the shape of "ansible-inventory --list".

  -i, --inventory SOURCE   a YAML or INI file, a directory of them, or 'web1,web2,';
                           repeat -i to merge several, in order
  -l, --limit PATTERN      as Ansible: web, web:!web2, web[0], web[1:3], ~regex;
                           a term that matches nothing is warned about and ignored
      --playbook-dir DIR   also read DIR/group_vars and DIR/host_vars (as a playbook there would)

Example:
  vipush inventory -i inventory/example.yml --limit 'realservers:!web2'
`;

export const ROLLBACK_HELP = `vipush rollback - undo a past run on the hosts it changed

Usage: vipush rollback --run RUN_ID -i INVENTORY [--check] [--force] [options]
       vipush rollback --list

Every run that changes something saves what it changed, with the state before
each change, under /var/lib/vipush/runs (root) or ~/.local/state/vipush/runs
(VIPUSH_STATE_DIR overrides), each host's part as soon as that host changed,
so a run cut short can be undone too; the last 20 runs are kept.

rollback first reads each host and shows what it will do there: for a file,
the diff from what the host holds now; for a sysctl, "key: now -> restored";
for an address, its ip line. Then it restores in reverse order (VIPs come down
before sysctls and files go back), each change only where the host still
holds what the run wrote: one changed since is left as it is, shown as "not
restored: changed since the run", and the exit code is 1.

  -i, --inventory SOURCE inventory, as for vipush run (repeatable; default: $ANSIBLE_INVENTORY, ansible.cfg)
  -C, --check            only show what would be done; write nothing
      --force            restore what changed since the run too (overwriting it)
  -l, --limit PATTERN    only these hosts of the run
  Connection options as for vipush run (-u, --private-key, --known-hosts, -f...).

Example:
  vipush rollback --list
  vipush rollback --run 20261125T101500Z-3fa1c2 -i inventory/example.yml --check
  vipush rollback --run 20261125T101500Z-3fa1c2 -i inventory/example.yml
`;

export const SCHEDULE_HELP = `vipush schedule - run a drift check (or fix) from a timer

Usage: vipush schedule PLAYBOOK -i INVENTORY --every INTERVAL [--fix] [--install]

Prints a systemd service and timer pair (and an equivalent cron line) that run
"vipush drift" every INTERVAL (e.g. 15m, 1h, 1d) with JSON log lines for the
journal and a history of reports under /var/lib/vipush/history. The service is
hardened (Nice, I/O priority, TimeoutStartSec, ProtectSystem, NoNewPrivileges...).
A second run while one is still going exits 4 (the run lock) instead of colliding.
With --install it writes the units to /etc/systemd/system and enables the timer.

  -i, --inventory SOURCE inventory, as for vipush run (repeatable; default: $ANSIBLE_INVENTORY, ansible.cfg)
      --every INTERVAL   how often (required; at least 1m)
      --fix              repair drift, not only report it
      --install          install and start the units (needs systemd and root)
      --known-hosts, --private-key, -u, --limit, -e   passed on to vipush drift

Example:
  vipush schedule playbooks/hidden-arp.yml -i inventory/example.yml --every 15m
`;

export const MERGE_HELP = `vipush merge-reports - join the JSON reports of sharded runs

Usage: vipush merge-reports REPORT... [-o FILE]

A fleet too large for one controller runs as N shards ("--shard K/N", e.g. as
CI jobs or Kubernetes Indexed Jobs with K = index + 1), each writing --report.
This joins them into one report of the same shape (summary recomputed; a host
in two reports is an error). Exit 1 when any host failed or was unreachable.

Example:
  vipush run playbooks/hidden-arp.yml -i inventory/example.yml --shard 1/2 --report s1.json
  vipush run playbooks/hidden-arp.yml -i inventory/example.yml --shard 2/2 --report s2.json
  vipush merge-reports s1.json s2.json -o fleet.json
`;
