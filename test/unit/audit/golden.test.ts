import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { firewallCommand } from '../../../src/commands/firewall.js';
import { inventoryCommand } from '../../../src/commands/inventory.js';
import { renderInventoryCsv, renderInventoryMarkdown } from '../../../src/audit/inventory.js';
import { FIREWALL_FORMATS } from '../../../src/audit/firewall/emit.js';

/**
 * Golden files: every format on every seed manifest, rendered and compared byte for byte.
 * UPDATE_GOLDEN=1 rewrites them; review the diff against the seed documents.
 */
const ROOT = path.resolve(import.meta.dirname, '../../..');
const SEEDS = ['ccx', 'spinifex', 'spire', 'metal-stack', 'safespring', 'rke2'];
const FW_FILE: Record<string, string> = {
  nftables: 'firewall.nft',
  iptables: 'firewall.iptables',
  squid: 'firewall.squid.conf',
  networkpolicy: 'firewall.networkpolicy.yaml',
  cilium: 'firewall.cilium.yaml',
  'openstack-sg': 'firewall.openstack-sg.yaml',
  'aws-sg': 'firewall.aws-sg.yaml',
  ip6tables: 'firewall.ip6tables',
};

async function compare(file: string, actual: string): Promise<void> {
  const abs = path.join(ROOT, 'test', 'golden', file);
  if (process.env.UPDATE_GOLDEN) {
    await mkdir(path.dirname(abs), { recursive: true });
    await writeFile(abs, actual);
  }
  let expected: string;
  try {
    expected = await readFile(abs, 'utf8');
  } catch {
    throw new Error(`golden file ${abs} is missing: run UPDATE_GOLDEN=1 npx vitest run test/unit/audit/golden.test.ts and review it`);
  }
  expect(actual).toBe(expected);
}

describe.each(SEEDS)('golden %s', (seed) => {
  const manifest = path.join(ROOT, 'manifests', `${seed}.yaml`);

  it('inventory md / json / csv', async () => {
    const inv = await inventoryCommand(manifest, {});
    await compare(`${seed}/inventory.md`, renderInventoryMarkdown(inv));
    await compare(`${seed}/inventory.json`, JSON.stringify(inv, null, 2) + '\n');
    await compare(`${seed}/inventory.csv`, renderInventoryCsv(inv));
  });

  it.each([...FIREWALL_FORMATS])('firewall %s', async (format) => {
    await compare(`${seed}/${FW_FILE[format]}`, (await firewallCommand(manifest, { format })).text);
  });
});
