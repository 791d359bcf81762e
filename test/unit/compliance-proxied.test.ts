import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditReferences } from '../../src/audit/audit.js';
import { emitFirewall } from '../../src/audit/firewall/emit.js';
import { buildRuleset } from '../../src/audit/firewall/ruleset.js';
import { buildConnectionModel } from '../../src/audit/model.js';
import { scanPaths } from '../../src/audit/scan.js';
import { validateManifest } from '../../src/kinds/schema.js';

/**
 * A compliance engineer's reading of a `proxied` endpoint (SPIRE seed, §7.2: "any intermediate
 * proxy in the path"): egress goes through the proxy, so the packet filter opens the proxy, not the
 * endpoint; and a reference counts as mitigated only when the proxy check was read as met.
 */
const manifest = (proxy = '127.0.0.1:13128') =>
  buildConnectionModel({
    manifest: validateManifest(
      {
        apiVersion: 'ferry/v1alpha1',
        kind: 'Manifest',
        metadata: { name: 'spire-c' },
        zones: [{ name: 'agents', self: true, cidrs: ['10.10.0.0/16'] }, { name: 'internet', external: true }],
        endpoints: [
          {
            name: 'oidc-discovery',
            category: 'identity',
            hosts: ['oidc.example.com'],
            from: 'agents',
            ports: [443],
            purpose: 'OIDC discovery',
            mitigation: { type: 'proxied', proxy, description: 'through squid' },
            checks: [{ kind: 'env', key: 'HTTPS_PROXY', equals: `http://${proxy}` }],
          },
          { name: 'direct', category: 'other', hosts: ['192.0.2.7'], from: 'agents', ports: [443], purpose: 'direct', mitigation: { type: 'exception', reason: 'r', review: '2030-01-01' } },
        ],
      },
      'inline',
    ),
    file: 'inline.yaml',
    dir: '.',
    digest: 'sha256:x',
  });
const emit = async (format: string, enable: string[] = []) => emitFirewall(await buildRuleset(manifest(), { enable, now: () => new Date(0) }), format);

describe('firewall: a proxied endpoint is opened at its proxy, not directly', () => {
  it('nftables and iptables allow the proxy port and comment the direct flow out', async () => {
    const nft = (await emit('nftables')).text;
    expect(nft).toContain('ip daddr @host_127_0_0_1 tcp dport 13128 accept');
    expect(nft).not.toMatch(/^\s*ip daddr @host_oidc_example_com tcp dport 443 accept/m);
    expect(nft).toContain('# not allowed: oidc-discovery — reached through proxy 127.0.0.1:13128 (mitigation proxied), not directly; --enable oidc-discovery to allow it directly');
    const ipt = (await emit('iptables')).text;
    expect(ipt).toContain('-A OUTPUT -d 127.0.0.1/32 -p tcp --dport 13128');
    expect(ipt).not.toMatch(/^(# PLACEHOLDER )?-A OUTPUT -d <HOST_OIDC_EXAMPLE_COM> -p tcp --dport 443/m);
    // the unproxied endpoint stays a direct rule
    expect(ipt).toMatch(/^-A OUTPUT -d 192\.0\.2\.7\/32 -p tcp --dport 443 /m);
  });

  it('security groups open the proxy, not 443 to the endpoint', async () => {
    const sg = (await emit('aws-sg')).text;
    expect(sg).toContain('FromPort: 13128');
    expect(sg).not.toContain('HostOidcExampleComCidr');
  });

  it("squid, the proxy itself, allows the endpoint by name and does not list its own port", async () => {
    const sq = (await emit('squid')).text;
    expect(sq).toContain('http_access allow localhost dst_oidc_example_com ports_443');
    expect(sq).not.toContain('13128');
    expect(sq).toContain('http_access allow localhost dst_192_0_2_7 ports_443');
  });

  it('--enable allows it directly', async () => {
    const nft = (await emit('nftables', ['oidc-discovery'])).text;
    expect(nft).toMatch(/^\s*# PLACEHOLDER|^\s*ip daddr @host_oidc_example_com tcp dport 443 accept/m);
    expect(nft).not.toContain('tcp dport 13128');
  });
});

describe('audit: a proxied endpoint is mitigated only when its check was read as met', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-compliance-'));
    await writeFile(path.join(dir, 'server.yaml'), 'oidc: https://oidc.example.com/.well-known/openid-configuration\n');
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const classOf = async (env: string) => {
    await writeFile(path.join(dir, 'agent.env'), env);
    const scan = await scanPaths([dir], dir);
    const report = auditReferences(manifest(), undefined, scan, { manifestFile: 'm.yaml' });
    return report.findings.find((f) => f.host === 'oidc.example.com')!.class;
  };

  it('HTTPS_PROXY pointing elsewhere: unmitigated (the check is unmet)', async () => {
    expect(await classOf('HTTPS_PROXY=http://10.0.0.9:3128\n')).toBe('declared-unmitigated');
  });
  it('HTTPS_PROXY set to the declared proxy: mitigated', async () => {
    expect(await classOf('HTTPS_PROXY=http://127.0.0.1:13128\n')).toBe('declared-mitigated');
  });
});
