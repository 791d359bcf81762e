import { stringify } from 'yaml';
import { familyOf, type Ruleset } from './ruleset.js';
import { ipProtocolNumber } from '../../kinds/endpoint/spec.js';
import { header, oneLine, skippedHeads, zoneTitle, type FirewallOutput } from './common.js';
import { sgRules } from './security-groups.js';

/** AWS CloudFormation security groups: one per internal zone, default egress replaced. */
const resId = (prefix: string, s: string) =>
  prefix +
  s
    .split(/[^a-zA-Z0-9]+/)
    .filter(Boolean)
    .map((w) => w[0].toUpperCase() + w.slice(1))
    .join('');

export function emitAwsSg(rs: Ruleset): FirewallOutput {
  const { groups, rules, externalGroups } = sgRules(rs);
  const params: Record<string, unknown> = { VpcId: { Type: 'AWS::EC2::VPC::Id', Description: 'VPC the security groups belong to' } };
  const resources: Record<string, unknown> = {};
  for (const g of groups) {
    resources[resId('Sg', g)] = {
      Type: 'AWS::EC2::SecurityGroup',
      Properties: {
        GroupDescription: `ferry ${rs.system}: ${zoneTitle(rs, g)}`.slice(0, 255),
        VpcId: { Ref: 'VpcId' },
        // Replaces AWS's default allow-all egress: nothing leaves except the rules below.
        SecurityGroupEgress: [{ IpProtocol: '-1', CidrIp: '127.0.0.1/32', Description: 'no default egress (ferry allowlist)' }],
        Tags: [{ Key: 'ferry:zone', Value: g }],
      },
    };
  }
  for (const g of externalGroups) params[resId('Sg', g) + 'Id'] = { Type: 'AWS::EC2::SecurityGroup::Id', Description: `Existing security group of zone ${zoneTitle(rs, g)} (not created by this template)`.slice(0, 4000) };
  const counters = new Map<string, number>();
  const warnings: string[] = [];
  for (const r of rules) {
    // AWS matches ports for tcp, udp, icmp and icmpv6 only: any other protocol number allows
    // every port whatever FromPort/ToPort say. SCTP 3868 would become all of SCTP: left out.
    const six = r.family === 'ipv6' || (r.remoteCidr !== undefined && familyOf(r.remoteCidr) === 'ipv6');
    const portsMatched = r.transport === 'tcp' || r.transport === 'udp' || r.transport === 'icmp';
    if (!portsMatched && r.from !== undefined) {
      warnings.push(oneLine(`aws-sg: ${r.direction} rule of ${r.group} (${r.description}) left out — ${r.transport} ports ${r.from}${r.to !== r.from ? `-${r.to}` : ''} cannot be expressed (a security group matches every port of IP protocol ${ipProtocolNumber(r.transport)}); it stays denied`));
      continue;
    }
    const base = resId(r.direction === 'ingress' ? 'Ingress' : 'Egress', r.group);
    const n = (counters.get(base) ?? 0) + 1;
    counters.set(base, n);
    const props: Record<string, unknown> = {
      GroupId: { 'Fn::GetAtt': [resId('Sg', r.group), 'GroupId'] },
      Description: r.description.replace(/[^a-zA-Z0-9. _\-:/()#,@[\]+=&;{}!$*]/g, ' ').slice(0, 255),
      // ICMP to an IPv6 range is ICMPv6 (protocol 58); another IP protocol by number, without ports.
      IpProtocol: r.transport === 'icmp' ? (six ? 'icmpv6' : 'icmp') : portsMatched ? r.transport : String(ipProtocolNumber(r.transport)),
      ...(portsMatched ? { FromPort: r.from ?? (r.transport === 'icmp' ? -1 : 0), ToPort: r.to ?? (r.transport === 'icmp' ? -1 : 65535) } : {}),
    };
    const groupKey = r.direction === 'ingress' ? 'SourceSecurityGroupId' : 'DestinationSecurityGroupId';
    if (r.remoteGroup) props[groupKey] = { 'Fn::GetAtt': [resId('Sg', r.remoteGroup), 'GroupId'] };
    else if (r.remoteGroupParam) props[groupKey] = { Ref: resId('Sg', r.remoteGroupParam) + 'Id' };
    else if (r.remoteCidr) props[familyOf(r.remoteCidr) === 'ipv6' ? 'CidrIpv6' : 'CidrIp'] = r.remoteCidr;
    else if (r.remoteParam) {
      const p = resId('', r.remoteParam.name) + 'Cidr';
      params[p] = { Type: 'String', Description: `PLACEHOLDER: ${r.remoteParam.description}`.slice(0, 4000) };
      props.CidrIp = { Ref: p };
    }
    resources[`${base}${n}`] = { Type: r.direction === 'ingress' ? 'AWS::EC2::SecurityGroupIngress' : 'AWS::EC2::SecurityGroupEgress', Properties: props };
  }
  const doc = {
    AWSTemplateFormatVersion: '2010-09-09',
    Description: `ferry firewall - ${rs.system} - AWS security groups (one per zone), allowlist only`,
    Parameters: Object.fromEntries(Object.entries(params).sort(([a], [b]) => a.localeCompare(b))),
    Resources: resources,
  };
  const head = header(rs, 'AWS security groups (CloudFormation)');
  head.push(...warnings.map((w) => `# LEFT OUT ${w}`));
  head.push(...skippedHeads(rs));
  return { text: head.join('\n') + '\n' + stringify(doc, { lineWidth: 0 }), warnings };
}
