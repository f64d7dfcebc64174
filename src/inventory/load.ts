import { extname } from 'node:path';
import { parseYamlText, readInputFile } from '../source/yaml.js';
import { InventoryBuilder } from './builder.js';
import { readIniInventory } from './ini-inventory.js';
import type { Inventory } from './types.js';
import { readYamlInventory } from './yaml-inventory.js';

export type InventoryFormat = 'yaml' | 'ini';

/**
 * The format of an inventory: by extension when it says (.yml/.yaml/.json vs
 * .ini/.cfg), otherwise by its first meaningful line, as Ansible's files are
 * often called just `hosts`.
 */
export function detectInventoryFormat(path: string, text: string): InventoryFormat {
  const ext = extname(path).toLowerCase();
  if (ext === '.yml' || ext === '.yaml' || ext === '.json') return 'yaml';
  if (ext === '.ini' || ext === '.cfg') return 'ini';
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    if (line === '---' || line.startsWith('{')) return 'yaml';
    if (/^\[[^\]]*\]\s*(?:[#;].*)?$/.test(line)) return 'ini';
    // `all:` or `web: {hosts: ...}`; an INI line is a host name with key=value words.
    if (!line.includes('=') && /^[^\s#;][^\s]*:(?:\s|$)/.test(line)) return 'yaml';
    return 'ini';
  }
  return 'ini';
}

export async function loadInventory(path: string): Promise<Inventory> {
  return parseInventoryText(await readInputFile(path, 'inventories'), path);
}

/** For callers (and tests) that already hold the text; `file` is used in locations. */
export function parseInventoryText(text: string, file: string, format = detectInventoryFormat(file, text)): Inventory {
  const builder = new InventoryBuilder(file);
  if (format === 'yaml') readYamlInventory(parseYamlText(text, file), builder);
  else readIniInventory(text, file, builder);
  return builder.finish();
}
