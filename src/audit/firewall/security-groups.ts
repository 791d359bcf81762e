import { internalZones, oneLine, ruleLabel } from './common.js';
import { familyOf, portRange, type AddressSet, type Family, type Rule, type Ruleset } from './ruleset.js';

/**
 * Shared by the OpenStack and AWS emitters: one security group per internal zone, rules as
 * ingress/egress of a group. A rule that refers to a zone's group this file does not create
 * (host mode: only the --zone group is written) refers to it through a parameter.
 */
export interface SgRule {
  group: string;
  direction: 'ingress' | 'egress';
  transport: Rule['transport'];
  from?: number;
  to?: number;
  /** An ICMP rule for one message (from = type, to = code): the family it belongs to. */
  family?: Family;
  remoteGroup?: string;
  /** The remote zone's group exists outside this template: a parameter holds its id. */
  remoteGroupParam?: string;
  remoteCidr?: string;
  remoteParam?: { name: string; description: string };
  description: string;
}

export function sgRules(rs: Ruleset): { groups: string[]; rules: SgRule[]; externalGroups: string[] } {
  const internal = new Set(internalZones(rs));
  const groups = new Set<string>();
  const out: SgRule[] = [];
  const remote = (set: AddressSet | undefined, zone: string, family: Family | undefined): Array<Pick<SgRule, 'remoteGroup' | 'remoteCidr' | 'remoteParam'>> => {
    if (set?.kind !== 'host' && internal.has(zone)) return [{ remoteGroup: zone }];
    if (!set) return [{ remoteCidr: family === 'ipv6' ? '::/0' : '0.0.0.0/0' }];
    if (!set.cidrs.length) return [{ remoteParam: { name: set.id, description: oneLine(set.placeholder ?? set.label) } }];
    // An ICMP message of one family goes only to addresses of that family (ICMPv4 8/0 is not ICMPv6 128).
    return set.cidrs.filter((c) => !family || familyOf(c) === family).map((c) => ({ remoteCidr: c }));
  };
  for (const r of rs.rules) {
    // ICMP messages by type (from) and code (to), as AWS (FromPort/ToPort) and Neutron (port_range_min/max) take them.
    const ranges: Array<[number | undefined, number | undefined, Family | undefined]> =
      r.transport === 'icmp' && r.icmp
        ? [...r.icmp.v4.map((t) => [t.type, t.code, 'ipv4'] as [number, number | undefined, Family]), ...r.icmp.v6.map((t) => [t.type, t.code, 'ipv6'] as [number, number | undefined, Family])]
        : r.transport === 'icmp' || !r.ports.length
          ? [[undefined, undefined, undefined]]
          : r.ports.map((p) => [...portRange(p), undefined] as [number, number, undefined]);
    const description = `${ruleLabel(r)}: ${oneLine(r.purpose.join('; '))}`.slice(0, 250);
    if (internal.has(r.fromZone) && r.chain !== 'input') {
      groups.add(r.fromZone);
      for (const [a, b, family] of ranges) for (const rm of remote(r.dst, r.toZone, family)) out.push({ group: r.fromZone, direction: 'egress', transport: r.transport, from: a, to: b, ...(family ? { family } : {}), ...rm, description });
    }
    if (internal.has(r.toZone) && r.chain !== 'output') {
      groups.add(r.toZone);
      for (const [a, b, family] of ranges) for (const rm of remote(r.src, r.fromZone, family)) out.push({ group: r.toZone, direction: 'ingress', transport: r.transport, from: a, to: b, ...(family ? { family } : {}), ...rm, description });
    }
  }
  const externalGroups = new Set<string>();
  for (const r of out) {
    if (r.remoteGroup && !groups.has(r.remoteGroup)) {
      externalGroups.add(r.remoteGroup);
      r.remoteGroupParam = r.remoteGroup;
      r.remoteGroup = undefined;
    }
  }
  return { groups: [...groups].sort(), rules: out, externalGroups: [...externalGroups].sort() };
}
