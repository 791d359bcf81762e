import { header, internalZones, skippedHeads, zoneTitle, type FirewallOutput } from './common.js';
import { k8sName, k8sPorts, leftOut, policyRules, protocolLeftOut, yamlDocs, ZONE_LABEL } from './k8s.js';
import type { AddressSet, Rule, Ruleset } from './ruleset.js';

/** Kubernetes NetworkPolicy: a default deny, DNS to kube-dns, and one policy per internal zone. */
function peer(set: AddressSet | undefined, zone: string, internal: Set<string>): Array<Record<string, unknown>> | undefined {
  if (set?.kind !== 'host' && internal.has(zone)) return [{ podSelector: { matchLabels: { [ZONE_LABEL]: zone } } }];
  if (!set) return [{ ipBlock: { cidr: '0.0.0.0/0' } }];
  if (!set.cidrs.length) return undefined;
  return set.cidrs.map((c) => ({ ipBlock: { cidr: c } }));
}

/** NetworkPolicyPort.protocol: TCP, UDP or SCTP. */
const NP_PROTOCOLS = ['TCP', 'UDP', 'SCTP'];

export function emitNetworkPolicy(rs: Ruleset): FirewallOutput {
  const internal = new Set(internalZones(rs));
  const system = k8sName(rs.system);
  const labels = { 'app.kubernetes.io/managed-by': 'ferry' };
  const docs: unknown[] = [
    { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: `ferry-${system}-default-deny`, labels }, spec: { podSelector: {}, policyTypes: ['Ingress', 'Egress'] } },
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: `ferry-${system}-allow-dns`, labels },
      spec: {
        podSelector: {},
        policyTypes: ['Egress'],
        egress: [
          {
            to: [{ namespaceSelector: {}, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }],
            ports: [
              { protocol: 'UDP', port: 53 },
              { protocol: 'TCP', port: 53 },
            ],
          },
        ],
      },
    },
  ];
  const warnings: string[] = [];
  const entries = (rules: Rule[], dir: 'ingress' | 'egress') =>
    rules.flatMap((r) => {
      const set = dir === 'ingress' ? r.src : r.dst;
      const peers = peer(set, dir === 'ingress' ? r.fromZone : r.toZone, internal);
      if (!peers) {
        warnings.push(leftOut('networkpolicy', r, dir, set!));
        return [];
      }
      const ports = k8sPorts(r, NP_PROTOCOLS);
      if ('unsupported' in ports) {
        warnings.push(protocolLeftOut('networkpolicy', r, dir, ports.unsupported));
        return [];
      }
      return [{ [dir === 'ingress' ? 'from' : 'to']: peers, ports: ports.ports }];
    });
  for (const [zone, { ingress, egress }] of policyRules(rs)) {
    if (!ingress.length && !egress.length) continue;
    const ing = entries(ingress, 'ingress');
    const eg = entries(egress, 'egress');
    docs.push({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: `ferry-${system}-${k8sName(zone)}`, labels, annotations: { 'ferry.io/zone-title': zoneTitle(rs, zone) } },
      spec: { podSelector: { matchLabels: { [ZONE_LABEL]: zone } }, policyTypes: ['Ingress', 'Egress'], ingress: ing, egress: eg },
    });
  }
  const head = [
    ...header(rs, 'Kubernetes NetworkPolicy'),
    `# Pods carry the label ${ZONE_LABEL}=<zone>. NetworkPolicy cannot name hosts: a rule whose peer has no addresses is left out (listed below); give CIDRs in the manifest or use --resolve.`,
  ];
  head.push(...warnings.map((w) => `# LEFT OUT ${w}`));
  head.push(...skippedHeads(rs));
  return { text: yamlDocs(docs, head), warnings };
}
