/** dot- or slash-separated, never mixed; as sysctl(8) and /proc/sys name them */
export const SYSCTL_KEY_PATTERN = '^(?:[A-Za-z0-9_-]+(?:\\.[A-Za-z0-9_-]+)+|[A-Za-z0-9_-]+(?:/[A-Za-z0-9_-]+)+)$';

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
        pattern: '^[^\\x00-\\x1f\\x7f]*$',
        'x-message': {
          type: 'must be a number or a string (YAML reads yes/no/on/off/true/false as booleans: write 1 or 0, or quote the value)',
          minLength: 'must not be empty',
          pattern: 'must be one line without control characters',
        },
      },
    },
    apply: { type: 'boolean' },
    allow_arp: { type: 'boolean' },
  },
} as const;
