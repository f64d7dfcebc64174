import type { LabHost } from './lab.js';

/**
 * An Ansible YAML inventory of the lab. Paths in the lab dir are plain
 * (mkdtemp names hold no YAML-special characters; create.ts checks that).
 */
export function inventoryYaml(args: {
  prefix: string;
  privateKeyFile: string;
  hosts: readonly LabHost[];
  director: LabHost | null;
  client: LabHost | null;
}): string {
  const lines = [
    `# fleet lab ${args.prefix}: generated; removed when the lab is torn down`,
    'all:',
    '  vars:',
    '    ansible_user: root',
    `    ansible_ssh_private_key_file: ${args.privateKeyFile}`,
    '  children:',
    '    realservers:',
    '      hosts:',
    ...args.hosts.map((h) => `        ${h.name}: { ansible_host: ${h.ip} }`),
  ];
  for (const [group, node] of [
    ['director', args.director],
    ['client', args.client],
  ] as const) {
    if (!node) continue;
    lines.push(`    ${group}:`, '      hosts:', `        ${node.name}: { ansible_host: ${node.ip} }`);
  }
  return lines.join('\n') + '\n';
}
