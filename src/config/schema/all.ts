import { GATE_ARG_SCHEMAS } from './gates.js';
import { MODULE_ARG_SCHEMAS } from './modules.js';
import { playbookSchema } from './playbook.js';

export type SchemaName = 'playbook' | 'sysctl' | 'address' | 'command' | 'gate:arp_owner' | 'gate:http' | 'gate:command';

/** Every schema, by name (the build generates a validator for each: standalone.ts). */
export const ALL_SCHEMAS: Readonly<Record<SchemaName, object>> = {
  playbook: playbookSchema,
  sysctl: MODULE_ARG_SCHEMAS.sysctl,
  address: MODULE_ARG_SCHEMAS.address,
  command: MODULE_ARG_SCHEMAS.command,
  'gate:arp_owner': GATE_ARG_SCHEMAS.arp_owner,
  'gate:http': GATE_ARG_SCHEMAS.http,
  'gate:command': GATE_ARG_SCHEMAS.command,
};
