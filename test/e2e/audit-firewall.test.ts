import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand, runFerry, runPrivileged as privileged } from '../support/cli.js';

/**
 * Generated firewall files checked by the real tools: `nft -c -f` (nftables), `iptables-restore
 * --test` (iptables) and `squid -k parse` (squid), for every seed manifest, as written by the
 * built CLI. Without root, the packet-filter checks run in a user+network namespace (unshare -rn).
 */
const SEEDS = ['ccx', 'spinifex', 'spire', 'metal-stack', 'safespring'];
const TOOLS: Record<string, string> = { nft: '/usr/sbin/nft', 'iptables-restore': '/usr/sbin/iptables-restore', squid: '/usr/sbin/squid' };

let dir: string;
beforeAll(async () => {
  const missing = Object.entries(TOOLS).filter(([, p]) => !existsSync(p)).map(([t]) => t);
  if (missing.length) throw new Error(`missing ${missing.join(', ')}: run scripts/install-test-deps.sh (Debian packages nftables, iptables, squid)`);
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-fw-'));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});


async function render(seed: string, format: string, extra: string[] = []): Promise<string> {
  const r = await runFerry(['firewall', `manifests/${seed}.yaml`, '--format', format, ...extra]);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
}

describe.each(SEEDS)('firewall %s checked by the real tools', (seed) => {
  it('nft -c -f accepts the nftables ruleset, default and with every optional flow enabled', async () => {
    for (const extra of [[], ['--enable', 'all']]) {
      const file = path.join(dir, `${seed}${extra.length ? '-all' : ''}.nft`);
      const text = await render(seed, 'nftables', extra);
      expect(text).toMatch(/policy drop;/);
      await writeFile(file, text);
      const r = await privileged(TOOLS.nft, ['-c', '-f', file]);
      expect(r.code, `${file}\n${r.stderr}`).toBe(0);
    }
  });

  it('iptables-restore --test accepts the iptables rules', async () => {
    for (const extra of [[], ['--enable', 'all']]) {
      const text = await render(seed, 'iptables', extra);
      expect(text).toContain(':FORWARD DROP [0:0]');
      const r = await privileged(TOOLS['iptables-restore'], ['--test'], text);
      expect(r.code, r.stderr).toBe(0);
    }
  });

  it('squid -k parse accepts the proxy allowlist and it ends in deny all', async () => {
    const file = path.join(dir, `${seed}.squid.conf`);
    const text = await render(seed, 'squid', ['--enable', 'all']);
    expect(text.trimEnd().endsWith('http_access deny all')).toBe(true);
    await writeFile(file, text);
    const r = await runCommand(TOOLS.squid, ['-k', 'parse', '-f', file]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr + r.stdout).not.toMatch(/FATAL|ERROR|Bungled/);
  });
});

describe('firewall tool checks have teeth', () => {
  it('nft -c rejects a broken ruleset and ferry refuses a wildcard destination with exit 2', async () => {
    const file = path.join(dir, 'broken.nft');
    await writeFile(file, 'table inet t {\n  chain c {\n    tcp dport { 22, nosuchport } accept\n  }\n}\n');
    expect((await privileged(TOOLS.nft, ['-c', '-f', file])).code).not.toBe(0);
    const r = await runFerry(['firewall', 'test/fixtures/audit/wildcard.yaml', '--format', 'nftables']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('connection agent-to-anything (row 2): destination 0.0.0.0/0 is a wildcard');
  });

  it('--json prints the format-neutral allowlist', async () => {
    const r = await runFerry(['firewall', 'manifests/spinifex.yaml', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const rs = JSON.parse(r.stdout);
    expect(rs).toMatchObject({ system: 'spinifex', mode: 'host', zone: 'cluster' });
    expect(rs.rules.find((x: { chain: string; src?: unknown }) => x.chain === 'input' && !x.src).ports).toEqual([22, 3000, 9999]);
    expect(rs.skipped.map((x: { name: string }) => x.name)).toContain('install-telemetry');
  });
});
