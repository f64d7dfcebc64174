import { argvSchema } from '../../modules/command/schema.js';

/** Health gates under a play's `verify:`; run after each batch. */

const hostName = { type: 'string', minLength: 1 } as const;

export const arpOwnerGateSchema = {
  type: 'object',
  'x-kind': '`arp_owner`',
  additionalProperties: false,
  required: ['vip', 'from', 'expect'],
  properties: {
    vip: { type: 'string', anyOf: [{ format: 'ipv4' }, { format: 'ipv6' }], 'x-message': 'must be an IPv4 or IPv6 address' },
    from: hostName,
    expect: hostName,
  },
} as const;

export const httpGateSchema = {
  type: 'object',
  'x-kind': '`http`',
  additionalProperties: false,
  required: ['url', 'from'],
  properties: {
    url: { type: 'string', minLength: 1 },
    from: hostName,
    expect_status: { type: 'integer', minimum: 100, maximum: 599 },
  },
} as const;

export const commandGateSchema = {
  type: 'object',
  'x-kind': '`command` gate',
  additionalProperties: false,
  required: ['from'],
  properties: {
    argv: argvSchema,
    shell: { type: 'string', minLength: 1 },
    from: hostName,
  },
} as const;

export const GATE_KINDS = ['arp_owner', 'http', 'command'] as const;
export type GateKind = (typeof GATE_KINDS)[number];

export const GATE_ARG_SCHEMAS = {
  arp_owner: arpOwnerGateSchema,
  http: httpGateSchema,
  command: commandGateSchema,
} as const;
