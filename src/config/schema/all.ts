import { MODULE_NAMES, moduleSchema, type ModuleName } from '../../modules/registry.js';
import { GATE_ARG_SCHEMAS } from './gates.js';
import { playbookSchema } from './playbook.js';

export type SchemaName = 'playbook' | ModuleName | 'gate:arp_owner' | 'gate:http' | 'gate:command';

/** Every schema, by name (the build generates a validator for each: standalone.ts). */
export const ALL_SCHEMAS: Readonly<Record<SchemaName, object>> = {
  playbook: playbookSchema,
  ...(Object.fromEntries(MODULE_NAMES.map((n) => [n, moduleSchema(n)])) as Record<ModuleName, object>),
  'gate:arp_owner': GATE_ARG_SCHEMAS.arp_owner,
  'gate:http': GATE_ARG_SCHEMAS.http,
  'gate:command': GATE_ARG_SCHEMAS.command,
};
