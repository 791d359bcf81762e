import { stringify } from 'yaml';
import { trimBoth } from '../../ui/escape.js';
import { internalZones, oneLine, ruleLabel } from './common.js';
import { ipProtocolLabel } from '../../kinds/endpoint/spec.js';
import { portRange, type AddressSet, type Rule, type Ruleset } from './ruleset.js';

/** Shared by the NetworkPolicy and Cilium emitters: pods carry their zone as a label. */
export const ZONE_LABEL = 'ferry.io/zone';
export const k8sName = (s: string): string => trimBoth(s.toLowerCase().replace(/[^a-z0-9-]+/g, '-'), '-').slice(0, 63);

export interface K8sPort {
  protocol: string;
  /** Omitted: every port of the protocol. */
  port?: number;
  endPort?: number;
}

/**
 * The port entries of a rule, in a policy format that matches only the protocols it names
 * (NetworkPolicy: TCP, UDP, SCTP; Cilium also VRRP and IGMP). A rule without ports is every
 * port of its protocol, never "no ports" (which a policy reads as every protocol); a protocol
 * the format cannot name (ICMP, ESP, GRE…) is why it cannot be written.
 */
export function k8sPorts(r: Rule, protocols: readonly string[]): { ports: K8sPort[] } | { unsupported: string } {
  const protocol = r.transport.toUpperCase();
  if (!protocols.includes(protocol)) return { unsupported: `${r.transport === 'icmp' ? 'ICMP' : ipProtocolLabel(r.transport)} cannot be expressed (the format matches ${protocols.join(', ')} only)` };
  if (!r.ports.length) return { ports: [{ protocol }] };
  return {
    ports: r.ports.map((p) => {
      const [a, b] = portRange(p);
      return a === b ? { protocol, port: a } : { protocol, port: a, endPort: b };
    }),
  };
}

/** Allowed rules per internal zone, as ingress (the zone is the destination) and egress (the source). */
export function policyRules(rs: Ruleset): Map<string, { ingress: Rule[]; egress: Rule[] }> {
  const by = new Map(internalZones(rs).map((z) => [z, { ingress: [] as Rule[], egress: [] as Rule[] }]));
  for (const r of rs.rules) {
    if (by.has(r.fromZone) && r.chain !== 'input') by.get(r.fromZone)!.egress.push(r);
    if (by.has(r.toZone) && r.chain !== 'output') by.get(r.toZone)!.ingress.push(r);
  }
  return by;
}

/**
 * A peer without addresses cannot be written: a placeholder in `cidr` makes the API server
 * reject the allow while the default deny lands. Such a rule is left out, with a warning
 * naming it and what to fill in.
 */
export function leftOut(format: string, r: Rule, dir: 'ingress' | 'egress', set: AddressSet): string {
  // Also a comment line of the YAML file: a line break in a zone title must not start a key of its own.
  return oneLine(`${format}: ${dir} rule ${ruleLabel(r)} left out — ${set.kind} ${set.label} has no addresses (${set.placeholder ?? 'not given'}); give CIDRs in the manifest or use --resolve`);
}

/** A rule whose protocol the format cannot match: left out (denied), never widened to every protocol. */
export function protocolLeftOut(format: string, r: Rule, dir: 'ingress' | 'egress', why: string): string {
  return oneLine(`${format}: ${dir} rule ${ruleLabel(r)} left out — ${why}; it stays denied here: allow it in the host or gateway firewall (nftables, iptables)`);
}

export function yamlDocs(docs: unknown[], head: string[]): string {
  return head.join('\n') + '\n' + docs.map((d) => stringify(d, { lineWidth: 0 })).join('---\n');
}
