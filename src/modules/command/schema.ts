/** A list of arguments: the program, then its arguments, each passed as it is (quoted for the shell). */
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
