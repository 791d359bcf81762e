import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { BlockList, isIP } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { loadManifest } from '../../src/kinds/schema.js';
import { buildConnectionModel, isPlaceholder, type ConnectionModel } from '../../src/audit/model.js';
import { buildRuleset } from '../../src/audit/firewall/ruleset.js';
import { emitFirewall, FIREWALL_FORMATS } from '../../src/audit/firewall/emit.js';
import { ROOT, runCommand, runFerry, type RunResult } from '../support/cli.js';

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

async function importPackage(spec: string, file: string): Promise<Record<string, unknown>> {
  try {
    return await import(spec);
  } catch (err) {
    const alt = process.env.FERRY_SCHEMA_MODULES;
    if (!alt) throw new Error(`${spec} is not installed (a devDependency; see NEEDS.md): ${(err as Error).message}`);
    return import(pathToFileURL(path.join(alt, file)).href);
  }
}

let dir: string;
let validateNetworkPolicy: (doc: unknown) => void;
let validateCilium: (doc: unknown) => void;
let cfnSpec: { ResourceTypes: Record<string, CfnType>; PropertyTypes: Record<string, CfnType> };
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-fw-schemas-'));
  const k8s = await importPackage('kubernetes-models/networking.k8s.io/v1', 'kubernetes-models/networking.k8s.io/v1/index.js');
  const cilium = await importPackage('@kubernetes-models/cilium/cilium.io/v2', '@kubernetes-models/cilium/cilium.io/v2/index.js');
  const NP = k8s.NetworkPolicy as new (d: unknown) => { validate(): void };
  const CNP = cilium.CiliumNetworkPolicy as new (d: unknown) => { validate(): void };
  validateNetworkPolicy = (d) => new NP(d).validate();
  validateCilium = (d) => new CNP(d).validate();
  const cfn = (await importPackage('@aws-cdk/cfnspec', '@aws-cdk/cfnspec/lib/index.js')) as { specification?: () => typeof cfnSpec; default?: { specification: () => typeof cfnSpec } };
  cfnSpec = (cfn.specification ?? cfn.default!.specification)();
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

// ---------- validators ----------

async function tool(cmd: string, args: string[], input?: string): Promise<RunResult> {
  return runCommand(cmd, args, { input });
}

function checkCidr(cidr: string, where: string, problems: string[]): void {
  const [addr, bits, extra] = cidr.split('/');
  const fam = isIP(addr);
  if (!fam || bits === undefined || extra !== undefined || !/^\d+$/.test(bits) || Number(bits) > (fam === 4 ? 32 : 128)) problems.push(`${where}: ${cidr} is not a valid CIDR`);
  else new BlockList().addSubnet(addr, Number(bits), fam === 4 ? 'ipv4' : 'ipv6');
}

function networkPolicyProblems(text: string): string[] {
  const problems: string[] = [];
  for (const doc of parseAllDocuments(text).map((d) => d.toJS())) {
    try {
      validateNetworkPolicy(doc);
    } catch (err) {
      problems.push(`${doc.metadata.name}: ${(err as Error).message}`);
    }
    // The API server also parses every ipBlock.cidr (the OpenAPI schema types it as a string).
    for (const dir of ['ingress', 'egress'] as const)
      (doc.spec[dir] ?? []).forEach((r: Record<string, Array<{ ipBlock?: { cidr: string } }>>, i: number) => {
        for (const p of r.from ?? r.to ?? []) if (p.ipBlock) checkCidr(p.ipBlock.cidr, `${doc.metadata.name} ${dir}[${i}]`, problems);
      });
  }
  return problems;
}

function ciliumProblems(text: string): string[] {
  const problems: string[] = [];
  for (const doc of parseAllDocuments(text).map((d) => d.toJS())) {
    try {
      validateCilium(doc);
    } catch (err) {
      problems.push(`${doc.metadata.name}: ${(err as Error).message}`);
    }
  }
  return problems;
}

interface CfnProp {
  Required?: boolean;
  PrimitiveType?: string;
  Type?: string;
  ItemType?: string;
  PrimitiveItemType?: string;
}
interface CfnType {
  Properties?: Record<string, CfnProp>;
  Attributes?: Record<string, unknown>;
}
const CFN_PARAMETER_TYPES = /^(String|Number|List<Number>|CommaDelimitedList|AWS::EC2::[A-Za-z]+::Id|AWS::SSM::Parameter::Value<.+>|List<AWS::EC2::[A-Za-z]+::Id>)$/;

function cloudFormationProblems(text: string): string[] {
  const t = parse(text) as { AWSTemplateFormatVersion?: string; Parameters?: Record<string, { Type: string }>; Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }> };
  const problems: string[] = [];
  if (t.AWSTemplateFormatVersion !== '2010-09-09') problems.push('AWSTemplateFormatVersion must be 2010-09-09');
  const params = t.Parameters ?? {};
  for (const [n, p] of Object.entries(params)) if (!CFN_PARAMETER_TYPES.test(p.Type)) problems.push(`Parameters.${n}: unknown type ${p.Type}`);
  const resources = t.Resources ?? {};
  const intrinsic = (v: unknown, where: string): boolean => {
    if (!v || typeof v !== 'object' || Array.isArray(v)) return false;
    const [k, arg] = Object.entries(v)[0] ?? [];
    if (k === 'Ref') {
      if (!(String(arg) in params) && !(String(arg) in resources) && !String(arg).startsWith('AWS::')) problems.push(`${where}: Ref ${arg} names nothing`);
      return true;
    }
    if (k === 'Fn::GetAtt') {
      const [res, attr] = arg as [string, string];
      const r = resources[res];
      if (!r) problems.push(`${where}: Fn::GetAtt names no resource ${res}`);
      else if (!(attr in (cfnSpec.ResourceTypes[r.Type]?.Attributes ?? {}))) problems.push(`${where}: ${r.Type} has no attribute ${attr}`);
      return true;
    }
    return k?.startsWith('Fn::') ?? false;
  };
  const checkValue = (v: unknown, spec: CfnProp, owner: string, where: string) => {
    if (intrinsic(v, where)) return;
    const prim = (p: string | undefined, x: unknown) => {
      if (p === 'String' && typeof x !== 'string') problems.push(`${where}: expected a string`);
      if (p === 'Integer' && !(Number.isInteger(x) || (typeof x === 'string' && /^-?\d+$/.test(x)))) problems.push(`${where}: expected an integer`);
    };
    if (spec.PrimitiveType) return prim(spec.PrimitiveType, v);
    if (spec.Type === 'List') {
      if (!Array.isArray(v)) return problems.push(`${where}: expected a list`);
      v.forEach((item, i) => (spec.PrimitiveItemType ? prim(spec.PrimitiveItemType, item) : checkProps(item as Record<string, unknown>, cfnSpec.PropertyTypes[`${owner}.${spec.ItemType}`] ?? cfnSpec.PropertyTypes[spec.ItemType!], owner, `${where}[${i}]`)));
    }
  };
  const checkProps = (props: Record<string, unknown>, type: CfnType | undefined, owner: string, where: string) => {
    if (!type) return problems.push(`${where}: no such property type`);
    for (const [k, v] of Object.entries(props)) {
      const spec = type.Properties?.[k];
      if (!spec) problems.push(`${where}.${k}: not a property of ${owner}`);
      else checkValue(v, spec, owner, `${where}.${k}`);
    }
    for (const [k, spec] of Object.entries(type.Properties ?? {})) if (spec.Required && !(k in props)) problems.push(`${where}: required property ${k} missing`);
  };
  for (const [name, r] of Object.entries(resources)) {
    const type = cfnSpec.ResourceTypes[r.Type];
    if (!type) problems.push(`Resources.${name}: unknown type ${r.Type}`);
    else checkProps(r.Properties ?? {}, type, r.Type, `Resources.${name}`);
    const p = r.Properties ?? {};
    if (r.Type.startsWith('AWS::EC2::SecurityGroup') && r.Type !== 'AWS::EC2::SecurityGroup') {
      const remotes = ['CidrIp', 'CidrIpv6', 'SourceSecurityGroupId', 'DestinationSecurityGroupId', 'SourcePrefixListId', 'DestinationPrefixListId'].filter((k) => k in p);
      if (remotes.length !== 1) problems.push(`Resources.${name}: needs exactly one of CidrIp, CidrIpv6 or a group (has ${remotes.join(', ') || 'none'})`);
      for (const k of ['CidrIp', 'CidrIpv6']) if (typeof p[k] === 'string') checkCidr(p[k] as string, `Resources.${name}.${k}`, problems);
    }
  }
  return problems;
}

/** OpenStack Heat: the property schemas documented for the two resource types ferry writes. */
const HEAT_SG = new Set(['name', 'description', 'rules']);
const HEAT_INLINE_RULE = new Set(['direction', 'ethertype', 'port_range_min', 'port_range_max', 'protocol', 'remote_group_id', 'remote_ip_prefix', 'remote_mode']);
const HEAT_RULE = new Set(['security_group', 'description', 'direction', 'ethertype', 'port_range_min', 'port_range_max', 'protocol', 'remote_group', 'remote_ip_prefix']);
const HEAT_VERSIONS = new Set(['2013-05-23', '2014-10-16', '2015-04-30', '2015-10-15', '2016-04-08', '2016-10-14', '2017-02-24', '2017-09-01', '2018-03-02', '2018-08-31', '2021-04-16']);

function heatProblems(text: string): string[] {
  const t = parse(text) as { heat_template_version: string; parameters?: Record<string, { type: string }>; resources: Record<string, { type: string; properties: Record<string, unknown> }> };
  const problems: string[] = [];
  if (!HEAT_VERSIONS.has(String(t.heat_template_version))) problems.push(`heat_template_version ${t.heat_template_version} unknown`);
  const params = t.parameters ?? {};
  for (const [n, p] of Object.entries(params)) if (!['string', 'number', 'json', 'comma_delimited_list', 'boolean'].includes(p.type)) problems.push(`parameters.${n}: type ${p.type}`);
  const resources = t.resources ?? {};
  const refs = (v: unknown, where: string) => {
    const s = JSON.stringify(v);
    for (const m of s.matchAll(/"get_resource":"([^"]+)"/g)) if (!(m[1] in resources)) problems.push(`${where}: get_resource ${m[1]} names no resource`);
    for (const m of s.matchAll(/"get_param":"([^"]+)"/g)) if (!(m[1] in params)) problems.push(`${where}: get_param ${m[1]} names no parameter`);
  };
  const rule = (p: Record<string, unknown>, allowed: Set<string>, where: string) => {
    for (const k of Object.keys(p)) if (!allowed.has(k)) problems.push(`${where}.${k}: not a documented property`);
    if (p.direction !== undefined && !['ingress', 'egress'].includes(p.direction as string)) problems.push(`${where}.direction: ${p.direction}`);
    if (p.ethertype !== undefined && !['IPv4', 'IPv6'].includes(p.ethertype as string)) problems.push(`${where}.ethertype: ${p.ethertype}`);
    for (const k of ['port_range_min', 'port_range_max']) if (p[k] !== undefined && !(Number.isInteger(p[k]) && (p[k] as number) >= 0 && (p[k] as number) <= 65535)) problems.push(`${where}.${k}: ${p[k]}`);
    if ((p.remote_group ?? p.remote_group_id) !== undefined && p.remote_ip_prefix !== undefined) problems.push(`${where}: remote group and remote_ip_prefix are exclusive`);
    if (typeof p.remote_ip_prefix === 'string') {
      checkCidr(p.remote_ip_prefix, `${where}.remote_ip_prefix`, problems);
      if ((isIP(p.remote_ip_prefix.split('/')[0]) === 6 ? 'IPv6' : 'IPv4') !== (p.ethertype ?? 'IPv4')) problems.push(`${where}: ethertype ${p.ethertype} does not match ${p.remote_ip_prefix}`);
    }
  };
  for (const [name, r] of Object.entries(resources)) {
    const where = `resources.${name}.properties`;
    refs(r.properties, where);
    if (r.type === 'OS::Neutron::SecurityGroup') {
      for (const k of Object.keys(r.properties)) if (!HEAT_SG.has(k)) problems.push(`${where}.${k}: not a documented property`);
      ((r.properties.rules as Array<Record<string, unknown>>) ?? []).forEach((x, i) => rule(x, HEAT_INLINE_RULE, `${where}.rules[${i}]`));
    } else if (r.type === 'OS::Neutron::SecurityGroupRule') {
      if (!r.properties.security_group) problems.push(`${where}: security_group is required`);
      rule(r.properties, HEAT_RULE, where);
    } else problems.push(`resources.${name}: unexpected type ${r.type}`);
  }
  return problems;
}

async function validate(format: string, text: string, label: string): Promise<void> {
  const file = path.join(dir, `${label}.${format}`);
  switch (format) {
    case 'nftables': {
      await writeFile(file, text);
      const r = await tool('/usr/sbin/nft', ['-c', '-f', file]);
      expect(r.code, `${label}\n${r.stderr}`).toBe(0);
      return;
    }
    case 'iptables':
    case 'ip6tables': {
      const r = await tool(`/usr/sbin/${format}-restore`, ['--test'], text);
      expect(r.code, `${label}\n${r.stderr}`).toBe(0);
      return;
    }
    case 'squid': {
      await writeFile(file, text);
      const r = await tool('/usr/sbin/squid', ['-k', 'parse', '-f', file]);
      expect(r.code, `${label}\n${r.stderr}`).toBe(0);
      expect(r.stderr + r.stdout, label).not.toMatch(/FATAL|ERROR|Bungled/);
      return;
    }
    case 'networkpolicy':
      expect(networkPolicyProblems(text), label).toEqual([]);
      return;
    case 'cilium':
      expect(ciliumProblems(text), label).toEqual([]);
      return;
    case 'aws-sg':
      expect(cloudFormationProblems(text), label).toEqual([]);
      return;
    case 'openstack-sg':
      expect(heatProblems(text), label).toEqual([]);
      return;
    default:
      throw new Error(`no validator for ${format}`);
  }
}

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
