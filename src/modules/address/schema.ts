export const PERSIST_BACKENDS = ['auto', 'ifupdown', 'netplan', 'networkd', 'networkmanager', 'ifcfg', 'systemd', 'none'] as const;

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
    persist: { type: 'string', enum: PERSIST_BACKENDS },
    allow_arp: { type: 'boolean' },
  },
} as const;
