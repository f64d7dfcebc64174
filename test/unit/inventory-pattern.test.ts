import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { UserInputError } from '../../src/errors.js';
import { loadInventory, parseInventoryText } from '../../src/inventory/load.js';
import { limitHosts, selectHosts, splitPattern } from '../../src/inventory/pattern.js';
import type { Inventory } from '../../src/inventory/types.js';

const site = relative(process.cwd(), join(dirname(fileURLToPath(import.meta.url)), '../fixtures/inventory/good/site.yml'));
// Inventory order: bastion, lb1, web01, web02, web03, api1.
let inv: Inventory;
beforeAll(async () => {
  inv = await loadInventory(site);
});

describe('splitPattern', () => {
  it('splits like Ansible', () => {
    expect(splitPattern('web:db')).toEqual(['web', 'db']);
    expect(splitPattern('web, db ,&x')).toEqual(['web', 'db', '&x']);
    expect(splitPattern('web[1:3]:!db')).toEqual(['web[1:3]', '!db']);
    expect(splitPattern('2001:db8::1')).toEqual(['2001:db8::1']);
    expect(splitPattern('~web\\d:db')).toEqual(['~web\\d', 'db']);
  });
});

describe('selectHosts', () => {
  it('selects a host, a group, all and *', () => {
    expect(selectHosts(inv, 'web01')).toEqual(['web01']);
    expect(selectHosts(inv, 'web')).toEqual(['web01', 'web02', 'web03']);
    expect(selectHosts(inv, 'lvs')).toEqual(['lb1', 'web01', 'web02', 'web03', 'api1']);
    expect(selectHosts(inv, 'all')).toEqual(['bastion', 'lb1', 'web01', 'web02', 'web03', 'api1']);
    expect(selectHosts(inv, '*')).toEqual(selectHosts(inv, 'all'));
    expect(selectHosts(inv, 'ungrouped')).toEqual(['bastion']);
  });

  it('matches globs against group and host names', () => {
    expect(selectHosts(inv, 'web0*')).toEqual(['web01', 'web02', 'web03']);
    expect(selectHosts(inv, 'web0?')).toEqual(['web01', 'web02', 'web03']);
    expect(selectHosts(inv, 'web0[!2]')).toEqual(['web01', 'web03']);
    expect(selectHosts(inv, 'site_*')).toEqual(['web01', 'web02', 'web03', 'api1']);
    expect(selectHosts(inv, '*rs')).toEqual(['lb1', 'web01', 'web02', 'web03', 'api1']);
  });

  it('unions with : and , in inventory order, whatever the pattern order', () => {
    expect(selectHosts(inv, 'api1:directors')).toEqual(['lb1', 'api1']);
    expect(selectHosts(inv, 'site_west,web01')).toEqual(['web01', 'web02', 'web03']);
    expect(selectHosts(inv, 'web01:web01')).toEqual(['web01']);
  });

  it('intersects with :& and excludes with :!', () => {
    expect(selectHosts(inv, 'realservers:&site_east')).toEqual(['web01', 'api1']);
    expect(selectHosts(inv, 'lvs:!web')).toEqual(['lb1', 'api1']);
    expect(selectHosts(inv, 'realservers:!web01:&site_east')).toEqual(['api1']);
    expect(selectHosts(inv, '!web')).toEqual(['bastion', 'lb1', 'api1']);
    expect(selectHosts(inv, '&site_west')).toEqual(['web02', 'web03']);
  });

  it('applies unions first, then intersections, then exclusions, wherever they are written', () => {
    // Read left to right, the exclusion would come before web01 is added.
    expect(selectHosts(inv, '!web01:web')).toEqual(['web02', 'web03']);
    expect(selectHosts(inv, '&site_east:web:api1')).toEqual(['web01', 'api1']);
  });

  it('matches ~regex from the start of the name, as Python re.match does', () => {
    expect(selectHosts(inv, '~web0[12]')).toEqual(['web01', 'web02']);
    expect(selectHosts(inv, '~(lb|api)\\d')).toEqual(['lb1', 'api1']);
    expect(selectHosts(inv, '~real')).toEqual(['web01', 'web02', 'web03', 'api1']);
    expect(() => selectHosts(inv, '~eb01')).toThrow(`pattern "~eb01" matches no hosts in ${site}`);
  });

  it('selects IPv6-named hosts', () => {
    const v6 = parseInventoryText('all:\n  hosts:\n    "2001:db8::1":\n    "2001:db8::2":\n', 'v6.yml');
    expect(selectHosts(v6, '2001:db8::2')).toEqual(['2001:db8::2']);
    expect(selectHosts(v6, '2001:db8::2,2001:db8::1')).toEqual(['2001:db8::1', '2001:db8::2']);
  });

  it('refuses a pattern or a term that matches nothing', () => {
    expect(() => selectHosts(inv, 'nosuch')).toThrow(new UserInputError(`pattern "nosuch" matches no hosts in ${site}`));
    expect(() => selectHosts(inv, 'web:nosuch')).toThrow(`pattern "web:nosuch": "nosuch" matches no host or group in ${site}`);
    expect(() => selectHosts(inv, 'lvs:!nosuch')).toThrow(`pattern "lvs:!nosuch": "nosuch" matches no host or group in ${site}`);
    expect(() => selectHosts(inv, 'directors:&web')).toThrow(`pattern "directors:&web" matches no hosts in ${site}`);
    expect(() => selectHosts(inv, 'web:!web')).toThrow(`pattern "web:!web" matches no hosts in ${site}`);
    expect(() => selectHosts(inv, ' , ')).toThrow('pattern " , " is empty');
    expect(() => selectHosts(inv, '~(')).toThrow(/^pattern "~\(": "~\(" is not a valid regular expression/);
  });
});

describe('limitHosts', () => {
  it('keeps the play hosts the limit selects, in play order', () => {
    const play = selectHosts(inv, 'realservers');
    expect(limitHosts(inv, play, 'site_east')).toEqual(['web01', 'api1']);
    expect(limitHosts(inv, play, 'all:!web02')).toEqual(['web01', 'web03', 'api1']);
    expect(limitHosts(inv, ['api1', 'web01'], 'lvs')).toEqual(['api1', 'web01']);
  });

  it('may leave a play with no hosts; a limit term that matches nothing is warned about and ignored, as in Ansible', () => {
    expect(limitHosts(inv, selectHosts(inv, 'web'), 'directors')).toEqual([]);
    const warnings: string[] = [];
    expect(limitHosts(inv, ['web01'], 'nosuch', (m) => warnings.push(m))).toEqual([]);
    expect(limitHosts(inv, ['web01', 'web02'], 'nosuch,web02', (m) => warnings.push(m))).toEqual(['web02']);
    expect(warnings).toEqual([
      '--limit: could not match supplied host pattern, ignoring: "nosuch"',
      '--limit: could not match supplied host pattern, ignoring: "nosuch"',
    ]);
    expect(limitHosts(inv, ['web01', 'web02'], '')).toEqual(['web01', 'web02']);
    expect(limitHosts(inv, ['web01', 'web02'], ',')).toEqual(['web01', 'web02']);
    expect(() => limitHosts(inv, ['web01'], '@retry.txt')).toThrow('--limit "@retry.txt": reading hosts from a file is not supported; give a pattern');
  });
});
