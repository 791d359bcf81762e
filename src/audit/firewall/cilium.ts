import { isIP } from 'node:net';
import { header, internalZones, skippedHeads, zoneTitle, type FirewallOutput } from './common.js';
import { k8sName, k8sPorts, leftOut, policyRules, protocolLeftOut, yamlDocs, ZONE_LABEL } from './k8s.js';
import type { AddressSet, Rule, Ruleset } from './ruleset.js';

/**
 * CiliumNetworkPolicy, one per internal zone. Hostnames stay names (toFQDNs), which needs the
 * DNS proxy rule; every zone with egress gets DNS to kube-dns, since its pods resolve names
 * whatever the rule matches on. Address literals (IPv4 and IPv6) are CIDRs, never FQDNs.
 */
const isAddressLiteral = (h: string) => isIP(h.replace(/\/\d+$/, '')) !== 0;

function peer(set: AddressSet | undefined, zone: string, dir: 'to' | 'from', internal: Set<string>): Record<string, unknown> | undefined {
  if (set?.kind !== 'host' && internal.has(zone)) return { [`${dir}Endpoints`]: [{ matchLabels: { [ZONE_LABEL]: zone } }] };
  if (!set) return { [`${dir}Entities`]: ['world'] };
  if (dir === 'to' && set.kind === 'host' && set.hostname && !set.placeholder?.includes('has no value') && !isAddressLiteral(set.hostname) && !set.hostname.startsWith('<')) {
    return { toFQDNs: [{ matchName: set.hostname }] };
  }
  if (!set.cidrs.length) return undefined;
  return { [`${dir}CIDRSet`]: set.cidrs.map((c) => ({ cidr: c })) };
}

const DNS_RULE = {
  toEndpoints: [{ matchLabels: { 'k8s:io.kubernetes.pod.namespace': 'kube-system', 'k8s:k8s-app': 'kube-dns' } }],
  toPorts: [{ ports: [{ port: '53', protocol: 'ANY' }], rules: { dns: [{ matchPattern: '*' }] } }],
};

/** PortProtocol.protocol as Cilium's CRD accepts it (ICMP is matched by type only, under icmps). */
const CILIUM_PROTOCOLS = ['TCP', 'UDP', 'SCTP', 'VRRP', 'IGMP'];

export function emitCilium(rs: Ruleset): FirewallOutput {
  const internal = new Set(internalZones(rs));
  const docs: unknown[] = [];
  const warnings: string[] = [];
  const ports = (r: Rule) => {
    const p = k8sPorts(r, CILIUM_PROTOCOLS);
    if ('unsupported' in p) return p;
    return { toPorts: [{ ports: p.ports.map((x) => ({ ...(x.port !== undefined ? { port: String(x.port) } : {}), ...(x.endPort ? { endPort: x.endPort } : {}), protocol: x.protocol })) }] };
  };
  const entries = (rules: Rule[], dir: 'ingress' | 'egress') =>
    rules.flatMap((r) => {
      const set = dir === 'ingress' ? r.src : r.dst;
      const p = peer(set, dir === 'ingress' ? r.fromZone : r.toZone, dir === 'ingress' ? 'from' : 'to', internal);
      if (!p) {
        warnings.push(leftOut('cilium', r, dir, set!));
        return [];
      }
      const l4 = ports(r);
      if ('unsupported' in l4) {
        warnings.push(protocolLeftOut('cilium', r, dir, l4.unsupported));
        return [];
      }
      return [{ ...p, ...l4 }];
    });
  for (const [zone, { ingress, egress }] of policyRules(rs)) {
    if (!ingress.length && !egress.length) continue;
    const ing = entries(ingress, 'ingress');
    const eg: unknown[] = entries(egress, 'egress');
    if (egress.length) eg.unshift(DNS_RULE);
    docs.push({
      apiVersion: 'cilium.io/v2',
      kind: 'CiliumNetworkPolicy',
      metadata: { name: `ferry-${k8sName(rs.system)}-${k8sName(zone)}`, labels: { 'app.kubernetes.io/managed-by': 'ferry' } },
      spec: {
        description: `ferry: allowlist for zone ${zoneTitle(rs, zone)}; anything not listed is denied`,
        endpointSelector: { matchLabels: { [ZONE_LABEL]: zone } },
        // An empty rule list would mean "no policy" for that direction; [{}] selects nothing: deny.
        ingress: ing.length ? ing : [{}],
        egress: eg.length ? eg : [{}],
      },
    });
  }
  const head = [...header(rs, 'CiliumNetworkPolicy'), `# Endpoints carry the label ${ZONE_LABEL}=<zone>; hostnames stay as toFQDNs, with DNS to kube-dns for every zone that has egress.`];
  head.push(...warnings.map((w) => `# LEFT OUT ${w}`));
  head.push(...skippedHeads(rs));
  return { text: yamlDocs(docs, head), warnings };
}
