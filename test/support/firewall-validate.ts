import { writeFile } from 'node:fs/promises';
import { BlockList, isIP } from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { expect } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { runCommand, type RunResult } from './cli.js';

/**
 * Validators of every firewall format ferry writes, each by the real tool or the published
 * schema (see test/e2e/audit-firewall-schemas.test.ts): nft -c, iptables-restore --test,
 * squid -k parse, the Kubernetes and Cilium OpenAPI schemas, AWS's CloudFormation resource
 * specification, the documented OpenStack Heat properties. `loadValidators()` first.
 */
async function importPackage(spec: string, file: string): Promise<Record<string, unknown>> {
  try {
    return await import(spec);
  } catch (err) {
    const alt = process.env.FERRY_SCHEMA_MODULES;
    if (!alt) throw new Error(`${spec} is not installed (a devDependency; see NEEDS.md): ${(err as Error).message}`);
    return import(pathToFileURL(path.join(alt, file)).href);
  }
}

let validateNetworkPolicy: (doc: unknown) => void;
let validateCilium: (doc: unknown) => void;
let cfnSpec: { ResourceTypes: Record<string, CfnType>; PropertyTypes: Record<string, CfnType> };

export async function loadValidators(): Promise<void> {
  const k8s = await importPackage('kubernetes-models/networking.k8s.io/v1', 'kubernetes-models/networking.k8s.io/v1/index.js');
  const cilium = await importPackage('@kubernetes-models/cilium/cilium.io/v2', '@kubernetes-models/cilium/cilium.io/v2/index.js');
  const NP = k8s.NetworkPolicy as new (d: unknown) => { validate(): void };
  const CNP = cilium.CiliumNetworkPolicy as new (d: unknown) => { validate(): void };
  validateNetworkPolicy = (d) => new NP(d).validate();
  validateCilium = (d) => new CNP(d).validate();
  const cfn = (await importPackage('@aws-cdk/cfnspec', '@aws-cdk/cfnspec/lib/index.js')) as { specification?: () => typeof cfnSpec; default?: { specification: () => typeof cfnSpec } };
  cfnSpec = (cfn.specification ?? cfn.default!.specification)();
}


export async function tool(cmd: string, args: string[], input?: string): Promise<RunResult> {
  return runCommand(cmd, args, { input });
}

function checkCidr(cidr: string, where: string, problems: string[]): void {
  const [addr, bits, extra] = cidr.split('/');
  const fam = isIP(addr);
  if (!fam || bits === undefined || extra !== undefined || !/^\d+$/.test(bits) || Number(bits) > (fam === 4 ? 32 : 128)) problems.push(`${where}: ${cidr} is not a valid CIDR`);
  else new BlockList().addSubnet(addr, Number(bits), fam === 4 ? 'ipv4' : 'ipv6');
}

export function networkPolicyProblems(text: string): string[] {
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

export function ciliumProblems(text: string): string[] {
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

export function cloudFormationProblems(text: string): string[] {
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
      // AWS: tcp, udp, icmp, icmpv6 by name, any other protocol by number 0-255 (or -1); for a
      // number other than those four, FromPort/ToPort are ignored and every port is allowed.
      const proto = String(p.IpProtocol);
      if (!/^(tcp|udp|icmp|icmpv6|-1|\d{1,3})$/.test(proto) || Number(proto) > 255) problems.push(`Resources.${name}.IpProtocol: ${proto} is not a protocol name or number`);
      else if (!['tcp', 'udp', 'icmp', 'icmpv6', '6', '17', '1', '58'].includes(proto) && (p.FromPort !== undefined || p.ToPort !== undefined)) problems.push(`Resources.${name}: ports given for IP protocol ${proto}, which AWS ignores (every port is allowed)`);
    }
  }
  return problems;
}

const NEUTRON_PROTOCOLS = new Set(['ah', 'dccp', 'egp', 'esp', 'gre', 'icmp', 'icmpv6', 'igmp', 'ipip', 'ipv6-encap', 'ipv6-frag', 'ipv6-icmp', 'ipv6-nonxt', 'ipv6-opts', 'ipv6-route', 'ospf', 'pgm', 'rsvp', 'sctp', 'tcp', 'udp', 'udplite', 'vrrp']);

/** OpenStack Heat: the property schemas documented for the two resource types ferry writes. */
const HEAT_SG = new Set(['name', 'description', 'rules']);
const HEAT_INLINE_RULE = new Set(['direction', 'ethertype', 'port_range_min', 'port_range_max', 'protocol', 'remote_group_id', 'remote_ip_prefix', 'remote_mode']);
const HEAT_RULE = new Set(['security_group', 'description', 'direction', 'ethertype', 'port_range_min', 'port_range_max', 'protocol', 'remote_group', 'remote_ip_prefix']);
const HEAT_VERSIONS = new Set(['2013-05-23', '2014-10-16', '2015-04-30', '2015-10-15', '2016-04-08', '2016-10-14', '2017-02-24', '2017-09-01', '2018-03-02', '2018-08-31', '2021-04-16']);

export function heatProblems(text: string): string[] {
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
    // Neutron: a protocol name from neutron-lib or a number 0-255; port ranges only for the
    // protocols with ports (ICMP's are type and code).
    if (p.protocol !== undefined && !NEUTRON_PROTOCOLS.has(String(p.protocol)) && !(/^\d{1,3}$/.test(String(p.protocol)) && Number(p.protocol) <= 255)) problems.push(`${where}.protocol: ${p.protocol}`);
    if (p.port_range_min !== undefined && !['tcp', 'udp', 'udplite', 'dccp', 'sctp', 'icmp', 'ipv6-icmp', '6', '17', '136', '33', '132'].includes(String(p.protocol))) problems.push(`${where}: port range for protocol ${p.protocol}, which has no ports`);
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

export async function validateFirewall(dir: string, format: string, text: string, label: string): Promise<void> {
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

