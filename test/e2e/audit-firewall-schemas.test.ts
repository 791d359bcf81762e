import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadManifest } from '../../src/kinds/schema.js';
import { buildConnectionModel, isPlaceholder, type ConnectionModel } from '../../src/audit/model.js';
import { buildRuleset } from '../../src/audit/firewall/ruleset.js';
import { emitFirewall, FIREWALL_FORMATS } from '../../src/audit/firewall/emit.js';
import { ROOT, runCommand, runFerry } from '../support/cli.js';
import { ciliumProblems, cloudFormationProblems, heatProblems, loadValidators, networkPolicyProblems, tool, validateFirewall } from '../support/firewall-validate.js';

/**
 * Every firewall format, on every seed manifest and on a copy with every CIDR and host filled
 * in, checked by the real tool or the published schema:
 * - nftables: `nft -c -f`, and loading twice in a fresh network namespace gives one table's rules
 * - iptables / ip6tables: `iptables-restore --test` / `ip6tables-restore --test`
 * - squid: `squid -k parse -f`
 * - NetworkPolicy: the Kubernetes OpenAPI schema (kubernetes-models) plus the API server's CIDR rule
 * - CiliumNetworkPolicy: Cilium's CRD schema (@kubernetes-models/cilium)
 * - AWS CloudFormation: AWS's resource specification (@aws-cdk/cfnspec): types, properties,
 *   required properties, Ref/GetAtt targets and attributes
 * - OpenStack Heat: no schema is published in a package; checked against the documented
 *   property schemas of OS::Neutron::SecurityGroup and OS::Neutron::SecurityGroupRule (partial)
 * FERRY_SCHEMA_MODULES names another node_modules folder holding the schema packages.
 */
const SEEDS = ['ccx', 'spinifex', 'spire', 'metal-stack', 'safespring'];

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-fw-schemas-'));
  await loadValidators();
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

// ---------- the filled copy ----------

/** Every zone gets IPv4 and IPv6 CIDRs, every placeholder host a name, every name addresses. */
function fillModel(model: ConnectionModel): ConnectionModel {
  const m = structuredClone(model);
  m.zones.forEach((z, i) => {
    const real = (z.cidrs ?? []).filter((c) => !isPlaceholder(c));
    z.cidrs = real.length ? real : [`10.${i}.0.0/16`, `2001:db8:${i.toString(16)}::/48`];
  });
  const host = (h: string) => (isPlaceholder(h) ? `${h.replace(/[<>]/g, '').replace(/_/g, '-')}.example.net` : h);
  for (const e of m.endpoints) {
    e.hosts = e.hosts?.map(host);
    e.urls = e.urls?.map((u) => u.replace(/<([A-Za-z_][A-Za-z0-9_-]*)>/g, (_, n: string) => `${n.replace(/_/g, '-')}.example.net`));
  }
  for (const c of m.connections) c.hosts = c.hosts?.map(host);
  return m;
}

async function fakeResolve(host: string): Promise<string[]> {
  let n = 0;
  for (const ch of host) n = (n * 31 + ch.charCodeAt(0)) % 250;
  return [`198.51.100.${n + 1}`, `2001:db8:ffff::${(n + 1).toString(16)}`];
}

async function outputs(seed: string, filled: boolean, enable: string[]): Promise<Record<string, string>> {
  const base = buildConnectionModel(await loadManifest(path.join(ROOT, 'manifests', `${seed}.yaml`)));
  const model = filled ? fillModel(base) : base;
  const rs = await buildRuleset(model, { enable, resolve: filled ? fakeResolve : undefined, resolverName: 'test', now: () => new Date(0) });
  return Object.fromEntries(FIREWALL_FORMATS.map((f) => [f, emitFirewall(rs, f).text]));
}

const validate = (format: string, text: string, label: string): Promise<void> => validateFirewall(dir, format, text, label);

describe.each(SEEDS)('firewall %s: every format passes its validator', (seed) => {
  it.each([
    ['as written', false, [] as string[]],
    ['as written, everything enabled', false, ['all']],
    ['filled in (CIDRs, hosts, addresses)', true, []],
    ['filled in, everything enabled', true, ['all']],
  ])('%s', async (_label, filled, enable) => {
    const out = await outputs(seed, filled as boolean, enable as string[]);
    expect(Object.keys(out)).toEqual(FIREWALL_FORMATS);
    for (const [format, text] of Object.entries(out)) await validate(format, text, `${seed}-${filled ? 'filled' : 'plain'}-${(enable as string[]).join('') || 'default'}`);
  });
});

describe('the validators have teeth', () => {
  it('each rejects what the issue found', async () => {
    expect(networkPolicyProblems('apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: x}\nspec:\n  podSelector: {}\n  egress:\n    - to: [{ipBlock: {cidr: <ZONE_UNKNOWN>}}]\n')).toEqual(['x egress[0]: <ZONE_UNKNOWN> is not a valid CIDR']);
    expect(ciliumProblems('apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: x}\nspec:\n  endpointSelector: {}\n  egress:\n    - toFQDNs: [{matchName: "2001:db8::1"}]\n').join()).toMatch(/matchName must match pattern/);
    expect(cloudFormationProblems('AWSTemplateFormatVersion: "2010-09-09"\nResources:\n  E:\n    Type: AWS::EC2::SecurityGroupEgress\n    Properties:\n      GroupId: {Fn::GetAtt: [SgNever, GroupId]}\n      IpProtocol: tcp\n      CidrIp: 10.0.0.0/8\n      Bogus: 1\n')).toEqual([
      'Resources.E.GroupId: Fn::GetAtt names no resource SgNever',
      'Resources.E.Bogus: not a property of AWS::EC2::SecurityGroupEgress',
    ]);
    expect(heatProblems('heat_template_version: 2018-08-31\nresources:\n  r:\n    type: OS::Neutron::SecurityGroupRule\n    properties:\n      security_group: {get_resource: sg_never}\n      direction: out\n')).toEqual([
      'resources.r.properties: get_resource sg_never names no resource',
      'resources.r.properties.direction: out',
    ]);
    const r = await tool('/usr/sbin/ip6tables-restore', ['--test'], '*filter\n-A OUTPUT -d 10.0.0.0/8 -j ACCEPT\nCOMMIT\n');
    expect(r.code).not.toBe(0);
  });

  it('nftables: loading the file twice in a fresh network namespace leaves one copy of the rules', async () => {
    const text = (await outputs('spinifex', true, ['all'])).nftables;
    const file = path.join(dir, 'twice.nft');
    await writeFile(file, text);
    const once = await runCommand('unshare', ['-n', 'sh', '-c', `nft -f ${file} && nft list ruleset | grep -c accept`]);
    const twice = await runCommand('unshare', ['-n', 'sh', '-c', `nft -f ${file} && nft -f ${file} && nft list ruleset | grep -c accept`]);
    expect(once.code, once.stderr).toBe(0);
    expect(Number(once.stdout.trim())).toBeGreaterThan(5);
    expect(twice.stdout).toBe(once.stdout);
  });

  it('the CLI prints the warnings beside the file', async () => {
    const r = await runFerry(['firewall', 'manifests/ccx.yaml', '--format', 'networkpolicy']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^warning: networkpolicy: egress rule .* left out/m);
  });
});
