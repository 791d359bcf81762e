import { stringify } from 'yaml';
import { ipProtocolNumber } from '../../kinds/endpoint/spec.js';
import { familyOf, type Ruleset } from './ruleset.js';
import { header, skippedHeads, zoneTitle, type FirewallOutput } from './common.js';
import { sgRules } from './security-groups.js';

/**
 * OpenStack Heat (OS::Neutron::SecurityGroup). Neutron gives every new group allow-all egress
 * rules; Heat deletes them only when the group's own `rules` list holds an egress rule. So each
 * group carries one inline egress rule that allows nothing useful (loopback), and the allowed
 * rules follow as separate OS::Neutron::SecurityGroupRule resources (groups that refer to each
 * other cannot list each other inline without a dependency loop).
 */
const NO_DEFAULT_EGRESS = { direction: 'egress', ethertype: 'IPv4', protocol: 'icmp', remote_ip_prefix: '127.0.0.1/32' };

/** Protocol names Neutron accepts (neutron-lib constants); any other IP protocol is given by its number. */
const NEUTRON_NAMES = new Set(['ah', 'dccp', 'egp', 'esp', 'gre', 'icmp', 'igmp', 'ipip', 'ospf', 'rsvp', 'sctp', 'tcp', 'udp', 'udplite', 'vrrp']);
const neutronProtocol = (t: string): string => (NEUTRON_NAMES.has(t) ? t : String(ipProtocolNumber(t)));

const resName = (zone: string) => `sg_${zone.replace(/-/g, '_')}`;

export function emitOpenStackSg(rs: Ruleset): FirewallOutput {
  const { groups, rules, externalGroups } = sgRules(rs);
  const params: Record<string, unknown> = {};
  const resources: Record<string, unknown> = {};
  for (const g of groups) {
    resources[resName(g)] = {
      type: 'OS::Neutron::SecurityGroup',
      properties: {
        name: `ferry-${rs.system}-${g}`,
        description: `ferry: ${zoneTitle(rs, g)}; allows only the rules below (the inline loopback egress rule makes Heat delete Neutron's default allow-all egress)`,
        rules: [NO_DEFAULT_EGRESS],
      },
    };
  }
  for (const g of externalGroups) params[`${resName(g)}_id`] = { type: 'string', description: `ID of the existing security group of zone ${zoneTitle(rs, g)} (not created by this template)` };
  const counters = new Map<string, number>();
  for (const r of rules) {
    const base = `rule_${r.group.replace(/-/g, '_')}_${r.direction}`;
    const n = (counters.get(base) ?? 0) + 1;
    counters.set(base, n);
    const props: Record<string, unknown> = {
      security_group: { get_resource: resName(r.group) },
      description: r.description,
      direction: r.direction,
      ethertype: r.family === 'ipv6' || (r.remoteCidr && familyOf(r.remoteCidr) === 'ipv6') ? 'IPv6' : 'IPv4',
      // An ICMPv6 message by type/code is ipv6-icmp (neutron-lib's name for protocol 58).
      protocol: r.transport === 'icmp' && r.family === 'ipv6' ? 'ipv6-icmp' : neutronProtocol(r.transport),
    };
    // ICMP: port_range_min is the type, port_range_max the code (absent: every code of the type).
    if (r.from !== undefined) Object.assign(props, { port_range_min: r.from, ...(r.to !== undefined ? { port_range_max: r.to } : {}) });
    if (r.remoteGroup) props.remote_group = { get_resource: resName(r.remoteGroup) };
    else if (r.remoteGroupParam) props.remote_group = { get_param: `${resName(r.remoteGroupParam)}_id` };
    else if (r.remoteCidr) props.remote_ip_prefix = r.remoteCidr;
    else if (r.remoteParam) {
      params[`${r.remoteParam.name}_cidr`] = { type: 'string', description: `PLACEHOLDER: ${r.remoteParam.description}` };
      props.remote_ip_prefix = { get_param: `${r.remoteParam.name}_cidr` };
    }
    resources[`${base}_${n}`] = { type: 'OS::Neutron::SecurityGroupRule', properties: props };
  }
  const doc = {
    heat_template_version: '2018-08-31',
    description: `ferry firewall — ${rs.system} — OpenStack security groups (one per zone), allowlist only`,
    parameters: Object.fromEntries(Object.entries(params).sort(([a], [b]) => a.localeCompare(b))),
    resources,
  };
  const head = header(rs, 'OpenStack security groups (Heat)');
  head.push(...skippedHeads(rs));
  return { text: head.join('\n') + '\n' + stringify(doc, { lineWidth: 0 }), warnings: [] };
}
