/**
 * Module argument schemas. Each is checked twice: at load time, where values
 * that are still `{{ templates }}` are skipped, and again on the substituted
 * values for each host (src/config/resolve.ts). Checks that need the parsed
 * value (CIDRs, interface names, ranges that depend on the key) live in
 * resolve.ts.
 */

/** dot- or slash-separated, never mixed; as sysctl(8) and /proc/sys name them */
export const SYSCTL_KEY_PATTERN = '^(?:[A-Za-z0-9_-]+(?:\\.[A-Za-z0-9_-]+)+|[A-Za-z0-9_-]+(?:/[A-Za-z0-9_-]+)+)$';

const NO_CONTROL_CHARACTERS = '^[^\\x00-\\x1f\\x7f]*$';

export const sysctlArgsSchema = {
  type: 'object',
  'x-kind': '`sysctl`',
  additionalProperties: false,
  required: ['set'],
  properties: {
    file: { type: 'string' },
    set: {
      type: 'object',
      minProperties: 1,
      propertyNames: {
        pattern: SYSCTL_KEY_PATTERN,
        'x-message':
          'is not a sysctl name: use names of letters, digits, `_` and `-` separated by dots (or all by slashes), such as net.ipv4.conf.all.arp_ignore',
      },
      additionalProperties: {
        type: ['string', 'number'],
        minLength: 1,
        pattern: NO_CONTROL_CHARACTERS,
        'x-message': {
          type: 'must be a number or a string (YAML reads yes/no/on/off/true/false as booleans: write 1 or 0, or quote the value)',
          minLength: 'must not be empty',
          pattern: 'must be one line without control characters',
        },
      },
    },
    apply: { type: 'boolean' },
  },
} as const;

export const addressArgsSchema = {
  type: 'object',
  'x-kind': '`address`',
  additionalProperties: false,
  required: ['address', 'dev'],
  properties: {
    address: { type: 'string' },
    dev: { type: 'string' },
    scope: { type: 'string', enum: ['host', 'link', 'global'] },
    label: { type: 'string' },
    state: { type: 'string', enum: ['present', 'absent'] },
    persist: { type: 'string', enum: ['auto', 'ifupdown', 'netplan', 'networkd', 'networkmanager', 'ifcfg', 'none'] },
    allow_arp: { type: 'boolean' },
  },
} as const;

export const argvSchema = {
  type: 'array',
  minItems: 1,
  items: {
    type: ['string', 'number'],
    pattern: '^[^\\x00]*$',
    'x-message': { type: 'must be a string', pattern: 'must not contain a NUL byte' },
  },
} as const;

const shellSchema = { type: 'string', minLength: 1, pattern: '^[^\\x00]*$', 'x-message': { pattern: 'must not contain a NUL byte' } } as const;

export const commandArgsSchema = {
  anyOf: [
    argvSchema,
    shellSchema,
    {
      type: 'object',
      'x-kind': '`command`',
      additionalProperties: false,
      properties: {
        argv: argvSchema,
        shell: shellSchema,
        creates: { type: 'string' },
        removes: { type: 'string' },
        undo: { anyOf: [argvSchema, shellSchema], 'x-message': 'must be a list of arguments or a string run by sh' },
        confirm: { type: 'boolean' },
      },
    },
  ],
  'x-message': 'must be a list of arguments, a string run by sh, or a map with `argv` or `shell`',
} as const;

export const MODULE_ARG_SCHEMAS = {
  sysctl: sysctlArgsSchema,
  address: addressArgsSchema,
  command: commandArgsSchema,
} as const;
