import { MODULE_NAMES, moduleSchema } from '../../modules/registry.js';
import { GATE_ARG_SCHEMAS, GATE_KINDS } from './gates.js';

/**
 * The shape of a playbook file: a list of plays, Ansible style. Semantic
 * checks that need more than a schema (serial percentages, one module per
 * task) are in src/config/playbook.ts.
 */

const booleanSchema = { type: 'boolean' } as const;

export const VAR_NAME_PATTERN = '^[A-Za-z_][A-Za-z0-9_]*$';

const serialStepSchema = {
  anyOf: [
    { type: 'integer', minimum: 1 },
    { type: 'string', pattern: '^[0-9]+%$' },
  ],
  'x-message': 'must be a number of hosts such as 2, or a percentage such as "25%"',
} as const;

const serialSchema = {
  anyOf: [...serialStepSchema.anyOf, { type: 'array', minItems: 1, items: serialStepSchema }],
  'x-message': 'must be a number of hosts such as 2, a percentage such as "25%", or a list of them',
} as const;

export const taskSchema = {
  type: 'object',
  'x-kind': 'task',
  'x-choice': { noun: 'module', keys: MODULE_NAMES },
  additionalProperties: false,
  required: ['name'],
  properties: {
    name: { type: 'string', minLength: 1 },
    changed_when: booleanSchema,
    loop: { type: ['array', 'string'], 'x-message': 'must be a list, or "{{ var }}" naming one' },
    loop_control: {
      type: 'object',
      'x-kind': '`loop_control`',
      additionalProperties: false,
      properties: {
        loop_var: {
          type: 'string',
          pattern: VAR_NAME_PATTERN,
          'x-message': { pattern: 'is not a variable name: use letters, digits and `_`, not starting with a digit' },
        },
        index_var: {
          type: 'string',
          pattern: VAR_NAME_PATTERN,
          'x-message': { pattern: 'is not a variable name: use letters, digits and `_`, not starting with a digit' },
        },
        label: { type: 'string' },
      },
    },
    when: {
      anyOf: [{ type: ['string', 'boolean'] }, { type: 'array', minItems: 1, items: { type: ['string', 'boolean'] } }],
      'x-message': 'must be a condition (such as `vip_role == "web"`), or a list of conditions that must all hold',
    },
    ...Object.fromEntries(MODULE_NAMES.map((n) => [n, moduleSchema(n)])),
  },
} as const;

export const gateSchema = {
  type: 'object',
  'x-kind': 'gate',
  'x-choice': { noun: 'gate', keys: GATE_KINDS },
  additionalProperties: false,
  properties: { ...GATE_ARG_SCHEMAS },
} as const;

export const playSchema = {
  type: 'object',
  'x-kind': 'play',
  additionalProperties: false,
  required: ['hosts'],
  properties: {
    name: { type: 'string' },
    hosts: { type: 'string', pattern: '\\S', 'x-message': { pattern: 'must not be empty' } },
    serial: serialSchema,
    max_fail_percentage: { type: 'number', minimum: 0, maximum: 100 },
    any_errors_fatal: booleanSchema,
    confirm_timeout: { type: 'integer', minimum: 5, maximum: 3600 },
    become: booleanSchema,
    vars: {
      type: 'object',
      propertyNames: {
        pattern: VAR_NAME_PATTERN,
        'x-message': 'is not a variable name: use letters, digits and `_`, not starting with a digit',
      },
    },
    tasks: { type: 'array', items: taskSchema },
    verify: { type: 'array', items: gateSchema },
  },
} as const;

export const playbookSchema = {
  type: 'array',
  minItems: 1,
  items: playSchema,
  'x-message': { type: 'must be a list of plays (start each play with "- ")', minItems: 'has no plays' },
} as const;
