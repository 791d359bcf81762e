import { stringify } from 'yaml';
import { FerryError } from '../../errors.js';
import type { Port } from '../../kinds/endpoint/spec.js';
import { familyOf, portRange, type AddressSet, type Rule, type Ruleset, type SkippedFlow } from './ruleset.js';

/**
 * Firewall emitters: one function per format, each rendering the same Ruleset. Hostnames stay
 * where the format accepts them (squid dstdomain, Cilium toFQDNs); elsewhere they become
 * addresses (--resolve, recorded) or clearly named placeholders. Zone CIDRs not given in the
 * manifest become variables/parameters.
 */
export const FIREWALL_FORMATS = ['nftables', 'iptables', 'squid', 'networkpolicy', 'cilium', 'openstack-sg', 'aws-sg'] as const;
export type FirewallFormat = (typeof FIREWALL_FORMATS)[number];

const oneLine = (s: string) => s.replace(/\s+/g, ' ').trim();
function skippedHeads(rs: Ruleset): string[] {
  return [...new Set(rs.skipped.map((s) => `# not allowed: ${s.name}${s.ref ? ` [${s.ref}]` : ''} — ${oneLine(s.reason)}`))];
}

/** Purposes only when few: a merged rule's name list says enough. */
const purposeText = (r: Rule) => (r.purpose.length <= 3 ? `: ${oneLine(r.purpose.join('; '))}` : '');
const ruleLabel = (r: Rule) => oneLine(`${r.names.join(', ')}${r.refs.length ? ` [${r.refs.join(', ')}]` : ''}`);

function header(rs: Ruleset, format: string, commentChar = '#'): string[] {
  const c = commentChar;
  const lines = [
    `${c} ferry firewall — ${rs.system} — ${format} allowlist, default deny`,
    `${c} Generated from the manifest's connection model; review before loading.`,
    rs.mode === 'host' ? `${c} Perspective: hosts in zone ${rs.zone} (input and output).` : `${c} Perspective: a gateway between zones (forward).`,
  ];
  if (rs.resolution) lines.push(`${c} Hostnames resolved at ${rs.resolution.at} via ${rs.resolution.resolver}.`);
  return lines;
}

function skippedComments(skipped: SkippedFlow[], render: (r: Rule) => string[], c = '#'): string[] {
  const out: string[] = [];
  let last = '';
  for (const s of skipped) {
    const head = `${c} not allowed: ${s.name}${s.ref ? ` [${s.ref}]` : ''} — ${oneLine(s.reason)}`;
    if (head !== last) out.push(head);
    last = head;
    if (s.rule) for (const l of render(s.rule)) out.push(`${c}   ${l}`);
  }
  return out;
}

// ---------------- nftables ----------------

function nftPorts(ports: Port[]): string {
  const list = ports.map(String);
  return list.length === 1 ? list[0] : `{ ${list.join(', ')} }`;
}

function nftAddr(dir: 'saddr' | 'daddr', set: AddressSet | undefined): string[] {
  if (!set) return [''];
  // An empty placeholder set still loads and matches nothing: deny until filled in.
  const v4 = set.cidrs.filter((c) => familyOf(c) === 'ipv4');
  const v6 = set.cidrs.filter((c) => familyOf(c) === 'ipv6');
  const out: string[] = [];
  if (v4.length || !v6.length) out.push(`ip ${dir} @${set.id} `);
  if (v6.length) out.push(`ip6 ${dir} @${set.id}_v6 `);
  return out;
}

function nftRuleLines(r: Rule): string[] {
  const srcs = nftAddr('saddr', r.src);
  const dsts = nftAddr('daddr', r.dst);
  const proto = r.transport === 'icmp' ? 'meta l4proto { icmp, ipv6-icmp } ' : r.ports.length ? `${r.transport} dport ${nftPorts(r.ports)} ` : `meta l4proto ${r.transport} `;
  const out: string[] = [];
  for (const s of srcs) for (const d of dsts) {
    if (s.startsWith('ip6') && d.startsWith('ip ') || s.startsWith('ip ') && d.startsWith('ip6')) continue;
    out.push(`${s}${d}${proto}accept`);
  }
  return out;
}

export function emitNftables(rs: Ruleset): string {
  const out = [`#!/usr/sbin/nft -f`, ...header(rs, 'nftables')];
  out.push('', `table inet ferry_${rs.system.replace(/[^a-z0-9]+/g, '_')} {`);
  for (const s of rs.sets) {
    const v4 = s.cidrs.filter((c) => familyOf(c) === 'ipv4');
    const v6 = s.cidrs.filter((c) => familyOf(c) === 'ipv6');
    out.push(`  # ${s.kind} ${oneLine(s.label)}${s.placeholder ? ` — PLACEHOLDER: fill in ${oneLine(s.placeholder)}` : ''}${s.resolved ? ` — resolved at ${s.resolved.at} via ${s.resolved.resolver}` : ''}`);
    if (v4.length || !v6.length) {
      out.push(`  set ${s.id} {`, '    type ipv4_addr', '    flags interval');
      if (v4.length) out.push(`    elements = { ${v4.join(', ')} }`);
      out.push('  }');
    }
    if (v6.length) out.push(`  set ${s.id}_v6 {`, '    type ipv6_addr', '    flags interval', `    elements = { ${v6.join(', ')} }`, '  }');
  }
  const chains: Array<Rule['chain']> = rs.mode === 'host' ? ['input', 'output'] : ['forward'];
  for (const chain of chains) {
    out.push('', `  chain ${chain} {`, `    type filter hook ${chain} priority filter; policy drop;`);
    if (chain === 'input') out.push('    iif "lo" accept');
    if (chain === 'output') out.push('    oif "lo" accept');
    out.push('    ct state established,related accept');
    for (const r of rs.rules.filter((x) => x.chain === chain)) {
      out.push(`    # ${ruleLabel(r)}${purposeText(r)}`);
      for (const l of nftRuleLines(r)) out.push(`    ${l}`);
    }
    const skipped = skippedComments(rs.skipped.filter((s) => s.chain === chain), nftRuleLines);
    for (const l of skipped) out.push(`    ${l}`);
    out.push('  }');
  }
  out.push('}', '');
  return out.join('\n');
}

// ---------------- iptables ----------------

function iptPortArgs(r: Rule): string[] {
  if (r.transport === 'icmp') return ['-p icmp'];
  if (!r.ports.length) return [`-p ${r.transport}`];
  // multiport takes at most 15 ports, a range counting as two.
  const chunks: string[][] = [];
  let cur: string[] = [];
  let weight = 0;
  for (const p of r.ports) {
    const [a, b] = portRange(p);
    const w = a === b ? 1 : 2;
    if (weight + w > 15) {
      chunks.push(cur);
      cur = [];
      weight = 0;
    }
    cur.push(a === b ? String(a) : `${a}:${b}`);
    weight += w;
  }
  if (cur.length) chunks.push(cur);
  return chunks.map((c) => (c.length === 1 && !c[0].includes(':') ? `-p ${r.transport} --dport ${c[0]}` : `-p ${r.transport} -m multiport --dports ${c.join(',')}`));
}

function iptAddrs(flag: '-s' | '-d', set: AddressSet | undefined, family: 'ipv4' | 'ipv6'): { values: string[]; placeholder?: string } {
  if (!set) return { values: [''] };
  if (!set.cidrs.length) return { values: [], placeholder: `${flag} <${set.id.toUpperCase()}>` };
  return { values: set.cidrs.filter((c) => familyOf(c) === family).map((c) => `${flag} ${c} `) };
}

function iptRuleLines(r: Rule, chainName: string, family: 'ipv4' | 'ipv6' = 'ipv4'): { active: string[]; placeholders: string[] } {
  const s = iptAddrs('-s', r.src, family);
  const d = iptAddrs('-d', r.dst, family);
  const comment = `-m comment --comment "${ruleLabel(r).replace(/"/g, '').slice(0, 250)}"`;
  const active: string[] = [];
  const placeholders: string[] = [];
  for (const p of iptPortArgs(r)) {
    if (s.placeholder || d.placeholder) {
      placeholders.push(`-A ${chainName} ${s.placeholder ? `${s.placeholder} ` : s.values[0] ?? ''}${d.placeholder ? `${d.placeholder} ` : d.values[0] ?? ''}${p} ${comment} -j ACCEPT`);
      continue;
    }
    for (const sv of s.values) for (const dv of d.values) active.push(`-A ${chainName} ${sv}${dv}${p} ${comment} -j ACCEPT`);
  }
  return { active, placeholders };
}

export function emitIptables(rs: Ruleset): string {
  const out = [...header(rs, 'iptables-restore (IPv4)')];
  out.push('# Lines starting with "# PLACEHOLDER" need addresses: fill in the <SET> and uncomment.');
  for (const s of rs.sets.filter((x) => x.placeholder)) out.push(`#   <${s.id.toUpperCase()}> = ${oneLine(s.placeholder!)}`);
  const host = rs.mode === 'host';
  if (!host) out.push("# Gateway rules: FORWARD is the allowlist; the gateway's own INPUT/OUTPUT are not part of this model.");
  out.push('*filter');
  out.push(`:INPUT ${host ? 'DROP' : 'ACCEPT'} [0:0]`, ':FORWARD DROP [0:0]', `:OUTPUT ${host ? 'DROP' : 'ACCEPT'} [0:0]`);
  const chains: Array<[Rule['chain'], string]> = host ? [['input', 'INPUT'], ['output', 'OUTPUT']] : [['forward', 'FORWARD']];
  for (const [chain, name] of chains) {
    if (name === 'INPUT') out.push('-A INPUT -i lo -j ACCEPT');
    if (name === 'OUTPUT') out.push('-A OUTPUT -o lo -j ACCEPT');
    out.push(`-A ${name} -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT`);
    for (const r of rs.rules.filter((x) => x.chain === chain)) {
      out.push(`# ${ruleLabel(r)}${purposeText(r)}`);
      const { active, placeholders } = iptRuleLines(r, name);
      out.push(...active, ...placeholders.map((l) => `# PLACEHOLDER ${l}`));
    }
    out.push(
      ...skippedComments(
        rs.skipped.filter((s) => s.chain === chain),
        (r) => {
          const x = iptRuleLines(r, name);
          return [...x.active, ...x.placeholders];
        },
      ),
    );
  }
  out.push('COMMIT', '');
  return out.join('\n');
}

// ---------------- squid ----------------

const HTTPISH = /http|https|grpc|tls|oci|registry|api|smtp/i;

export function emitSquid(rs: Ruleset): string {
  const out = [...header(rs, 'squid (forward proxy)')];
  out.push('# Outbound HTTP(S) destinations by hostname; everything else is denied.', '', 'http_port 3128', 'acl CONNECT method CONNECT');
  const ports = new Set<number>();
  const rules = rs.rules.filter((r) => r.chain !== 'input' && r.dst && r.dst.kind === 'host' && r.transport === 'tcp');
  const acls: string[] = [];
  const access: string[] = [];
  const srcAcl = new Map<string, string>();
  for (const r of rules) {
    if (!r.protocols.some((p) => HTTPISH.test(p)) && !r.ports.every((p) => p === 80 || p === 443)) {
      access.push(`# not proxied: ${ruleLabel(r)} (${r.protocols.join(', ')}) — allow it in the packet filter`);
      continue;
    }
    const dst = r.dst!;
    const portAcl = r.ports.length ? `ports_${r.ports.map((p) => String(p).replace('-', '_')).join('_')}` : '';
    for (const p of r.ports) ports.add(portRange(p)[0]);
    if (portAcl && !acls.some((a) => a.startsWith(`acl ${portAcl} `))) acls.push(`acl ${portAcl} port ${r.ports.join(' ')}`);
    const dstAcl = `dst_${dst.id.replace(/^host_/, '')}`;
    if (!acls.some((a) => a.startsWith(`acl ${dstAcl} `))) {
      const h = dst.hostname ?? dst.label;
      if (h.startsWith('<')) acls.push(`# PLACEHOLDER acl ${dstAcl} dstdomain ${h}`);
      else if (dst.cidrs.length && !/[a-z]/i.test(h.replace(/[0-9a-f:.]/gi, ''))) acls.push(`acl ${dstAcl} dst ${dst.cidrs.join(' ')}`);
      else acls.push(`acl ${dstAcl} dstdomain ${h}`);
    }
    let src = '';
    if (r.src && r.src.cidrs.length) {
      src = `src_${r.src.id.replace(/^zone_/, '')}`;
      if (!srcAcl.has(src)) srcAcl.set(src, `acl ${src} src ${r.src.cidrs.join(' ')}`);
      src += ' ';
    } else if (r.src && !srcAcl.has(`missing ${r.src.id}`)) {
      srcAcl.set(`missing ${r.src.id}`, '');
      access.push(`# source zone ${r.src.label}: CIDRs not given — add "acl src_${r.src.id.replace(/^zone_/, '')} src <CIDR>" and use it below`);
    }
    const line = `http_access allow ${src}${dstAcl}${portAcl ? ` ${portAcl}` : ''}`;
    access.push(`# ${ruleLabel(r)}${purposeText(r)}`);
    access.push((dst.hostname ?? '').startsWith('<') ? `# PLACEHOLDER ${line}` : line);
  }
  out.push(...[...srcAcl.values()].filter(Boolean), ...acls, '');
  out.push('http_access deny CONNECT !ports_connect');
  out.splice(out.indexOf('acl CONNECT method CONNECT') + 1, 0, `acl ports_connect port ${[...ports].sort((a, b) => a - b).join(' ') || '443'}`);
  out.push(...access);
  out.push(...skippedComments(rs.skipped.filter((s) => s.rule?.dst?.kind === 'host'), () => []));
  out.push('http_access deny all', '');
  return out.join('\n');
}

// ---------------- Kubernetes NetworkPolicy / Cilium ----------------

const ZONE_LABEL = 'ferry.io/zone';
const k8sName = (s: string) => s.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 63);

function k8sPorts(r: Rule): Array<Record<string, unknown>> | undefined {
  if (r.transport === 'icmp' || !r.ports.length) return undefined;
  return r.ports.map((p) => {
    const [a, b] = portRange(p);
    return a === b ? { protocol: r.transport.toUpperCase(), port: a } : { protocol: r.transport.toUpperCase(), port: a, endPort: b };
  });
}

function internalZones(rs: Ruleset): string[] {
  return rs.zones.filter((z) => !z.external).map((z) => z.name);
}

const placeholderCidr = (s: AddressSet) => `<${s.id.toUpperCase()}>`;

function k8sPeer(set: AddressSet | undefined, zone: string, internal: Set<string>): Array<Record<string, unknown>> {
  if (set?.kind !== 'host' && internal.has(zone)) return [{ podSelector: { matchLabels: { [ZONE_LABEL]: zone } } }];
  if (!set) return [{ ipBlock: { cidr: '0.0.0.0/0' } }];
  if (!set.cidrs.length) return [{ ipBlock: { cidr: placeholderCidr(set) } }];
  return set.cidrs.map((c) => ({ ipBlock: { cidr: c } }));
}

function policyRules(rs: Ruleset): Map<string, { ingress: Rule[]; egress: Rule[] }> {
  const internal = internalZones(rs);
  const by = new Map(internal.map((z) => [z, { ingress: [] as Rule[], egress: [] as Rule[] }]));
  for (const r of rs.rules) {
    if (by.has(r.fromZone) && r.chain !== 'input') by.get(r.fromZone)!.egress.push(r);
    if (by.has(r.toZone) && r.chain !== 'output') by.get(r.toZone)!.ingress.push(r);
  }
  return by;
}

function yamlDocs(docs: unknown[], head: string[]): string {
  return head.join('\n') + '\n' + docs.map((d) => stringify(d, { lineWidth: 0 })).join('---\n');
}

export function emitNetworkPolicy(rs: Ruleset): string {
  const internal = new Set(internalZones(rs));
  const docs: unknown[] = [
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: `ferry-${k8sName(rs.system)}-default-deny`, labels: { 'app.kubernetes.io/managed-by': 'ferry' } },
      spec: { podSelector: {}, policyTypes: ['Ingress', 'Egress'] },
    },
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: `ferry-${k8sName(rs.system)}-allow-dns`, labels: { 'app.kubernetes.io/managed-by': 'ferry' } },
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
  for (const [zone, { ingress, egress }] of policyRules(rs)) {
    if (!ingress.length && !egress.length) continue;
    docs.push({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: `ferry-${k8sName(rs.system)}-${k8sName(zone)}`, labels: { 'app.kubernetes.io/managed-by': 'ferry' }, annotations: { 'ferry.io/zone-title': rs.zones.find((z) => z.name === zone)?.title ?? zone } },
      spec: {
        podSelector: { matchLabels: { [ZONE_LABEL]: zone } },
        policyTypes: ['Ingress', 'Egress'],
        ingress: ingress.map((r) => ({ from: k8sPeer(r.src, r.fromZone, internal), ...(k8sPorts(r) ? { ports: k8sPorts(r) } : {}) })),
        egress: egress.map((r) => ({ to: k8sPeer(r.dst, r.toZone, internal), ...(k8sPorts(r) ? { ports: k8sPorts(r) } : {}) })),
      },
    });
  }
  const head = [...header(rs, 'Kubernetes NetworkPolicy'), `# Pods carry the label ${ZONE_LABEL}=<zone>. Hostnames are not expressible in NetworkPolicy: ipBlock <HOST_…>/<ZONE_…> values are placeholders to fill in (or use --resolve).`];
  for (const s of rs.sets.filter((x) => x.placeholder)) head.push(`#   ${placeholderCidr(s)} = ${oneLine(s.placeholder!)}`);
  head.push(...skippedHeads(rs));
  return yamlDocs(dedupe(docs), head);
}

function dedupe(docs: unknown[]): unknown[] {
  return docs;
}

export function emitCilium(rs: Ruleset): string {
  const internal = new Set(internalZones(rs));
  const docs: unknown[] = [];
  const peer = (set: AddressSet | undefined, zone: string, dir: 'to' | 'from'): Record<string, unknown> => {
    if (set?.kind !== 'host' && internal.has(zone)) return { [`${dir}Endpoints`]: [{ matchLabels: { [ZONE_LABEL]: zone } }] };
    if (!set) return { [`${dir}Entities`]: ['world'] };
    if (set.kind === 'host' && set.hostname && !set.hostname.startsWith('<') && !/^[0-9.:/]+$/.test(set.hostname)) return { toFQDNs: [{ matchName: set.hostname }] };
    if (!set.cidrs.length) return { [`${dir}CIDRSet`]: [{ cidr: placeholderCidr(set) }] };
    return { [`${dir}CIDRSet`]: set.cidrs.map((c) => ({ cidr: c })) };
  };
  const ports = (r: Rule) => {
    const p = k8sPorts(r);
    return p ? { toPorts: [{ ports: p.map((x) => ({ port: String(x.port), ...(x.endPort ? { endPort: x.endPort } : {}), protocol: x.protocol })) }] } : {};
  };
  for (const [zone, { ingress, egress }] of policyRules(rs)) {
    if (!ingress.length && !egress.length) continue;
    const needsDns = egress.some((r) => r.dst?.kind === 'host');
    const eg = egress.map((r) => ({ ...peer(r.dst, r.toZone, 'to'), ...ports(r) }));
    if (needsDns) {
      eg.unshift({
        toEndpoints: [{ matchLabels: { 'k8s:io.kubernetes.pod.namespace': 'kube-system', 'k8s:k8s-app': 'kube-dns' } }],
        toPorts: [{ ports: [{ port: '53', protocol: 'ANY' }], rules: { dns: [{ matchPattern: '*' }] } }],
      } as never);
    }
    docs.push({
      apiVersion: 'cilium.io/v2',
      kind: 'CiliumNetworkPolicy',
      metadata: { name: `ferry-${k8sName(rs.system)}-${k8sName(zone)}`, labels: { 'app.kubernetes.io/managed-by': 'ferry' } },
      spec: {
        description: `ferry: allowlist for zone ${rs.zones.find((z) => z.name === zone)?.title ?? zone}; anything not listed is denied`,
        endpointSelector: { matchLabels: { [ZONE_LABEL]: zone } },
        ingress: ingress.length ? ingress.map((r) => ({ ...peer(r.src, r.fromZone, 'from'), ...ports(r) })) : [{}],
        egress: eg.length ? eg : [{}],
      },
    });
  }
  const head = [...header(rs, 'CiliumNetworkPolicy'), `# Endpoints carry the label ${ZONE_LABEL}=<zone>; hostnames stay as toFQDNs (DNS visibility rule included).`];
  for (const s of rs.sets.filter((x) => x.placeholder && !(x.kind === 'host' && !x.label.startsWith('<')))) head.push(`#   ${placeholderCidr(s)} = ${oneLine(s.placeholder!)}`);
  head.push(...skippedHeads(rs));
  return yamlDocs(docs, head);
}

// ---------------- OpenStack / AWS security groups ----------------

interface SgRule {
  group: string;
  direction: 'ingress' | 'egress';
  transport: Rule['transport'];
  from?: number;
  to?: number;
  remoteGroup?: string;
  remoteCidr?: string;
  remoteParam?: { name: string; description: string };
  description: string;
}

function sgRules(rs: Ruleset): { groups: string[]; rules: SgRule[] } {
  const internal = new Set(internalZones(rs));
  const groups = new Set<string>();
  const out: SgRule[] = [];
  const remote = (set: AddressSet | undefined, zone: string): Array<Pick<SgRule, 'remoteGroup' | 'remoteCidr' | 'remoteParam'>> => {
    if (set?.kind !== 'host' && internal.has(zone)) return [{ remoteGroup: zone }];
    if (!set) return [{ remoteCidr: '0.0.0.0/0' }];
    if (!set.cidrs.length) return [{ remoteParam: { name: set.id, description: oneLine(set.placeholder ?? set.label) } }];
    return set.cidrs.map((c) => ({ remoteCidr: c }));
  };
  for (const r of rs.rules) {
    const ranges: Array<[number | undefined, number | undefined]> = r.transport === 'icmp' || !r.ports.length ? [[undefined, undefined]] : r.ports.map(portRange);
    const description = `${ruleLabel(r)}: ${oneLine(r.purpose.join('; '))}`.slice(0, 250);
    if (internal.has(r.fromZone) && r.chain !== 'input') {
      groups.add(r.fromZone);
      for (const [a, b] of ranges) for (const rm of remote(r.dst, r.toZone)) out.push({ group: r.fromZone, direction: 'egress', transport: r.transport, from: a, to: b, ...rm, description });
    }
    if (internal.has(r.toZone) && r.chain !== 'output') {
      groups.add(r.toZone);
      for (const [a, b] of ranges) for (const rm of remote(r.src, r.fromZone)) out.push({ group: r.toZone, direction: 'ingress', transport: r.transport, from: a, to: b, ...rm, description });
    }
  }
  return { groups: [...groups].sort(), rules: out };
}

const resId = (prefix: string, s: string) => prefix + s.split(/[^a-zA-Z0-9]+/).filter(Boolean).map((w) => w[0].toUpperCase() + w.slice(1)).join('');

export function emitOpenStackSg(rs: Ruleset): string {
  const { groups, rules } = sgRules(rs);
  const params: Record<string, unknown> = {};
  const resources: Record<string, unknown> = {};
  for (const g of groups) {
    resources[`sg_${g.replace(/-/g, '_')}`] = {
      type: 'OS::Neutron::SecurityGroup',
      properties: { name: `ferry-${rs.system}-${g}`, description: `ferry: ${rs.zones.find((z) => z.name === g)?.title ?? g} (delete the default egress rules Neutron adds: this group allows only the rules below)`, rules: [] },
    };
  }
  const counters = new Map<string, number>();
  for (const r of rules) {
    const base = `rule_${r.group.replace(/-/g, '_')}_${r.direction}`;
    const n = (counters.get(base) ?? 0) + 1;
    counters.set(base, n);
    const props: Record<string, unknown> = {
      security_group: { get_resource: `sg_${r.group.replace(/-/g, '_')}` },
      description: r.description,
      direction: r.direction,
      ethertype: r.remoteCidr && familyOf(r.remoteCidr) === 'ipv6' ? 'IPv6' : 'IPv4',
      protocol: r.transport,
    };
    if (r.from !== undefined) Object.assign(props, { port_range_min: r.from, port_range_max: r.to });
    if (r.remoteGroup) props.remote_group = { get_resource: `sg_${r.remoteGroup.replace(/-/g, '_')}` };
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
  return head.join('\n') + '\n' + stringify(doc, { lineWidth: 0 });
}

export function emitAwsSg(rs: Ruleset): string {
  const { groups, rules } = sgRules(rs);
  const params: Record<string, unknown> = { VpcId: { Type: 'AWS::EC2::VPC::Id', Description: 'VPC the security groups belong to' } };
  const resources: Record<string, unknown> = {};
  for (const g of groups) {
    resources[resId('Sg', g)] = {
      Type: 'AWS::EC2::SecurityGroup',
      Properties: {
        GroupDescription: `ferry ${rs.system}: ${rs.zones.find((z) => z.name === g)?.title ?? g}`.slice(0, 255),
        VpcId: { Ref: 'VpcId' },
        // Replaces AWS's default allow-all egress: nothing leaves except the rules below.
        SecurityGroupEgress: [{ IpProtocol: '-1', CidrIp: '127.0.0.1/32', Description: 'no default egress (ferry allowlist)' }],
        Tags: [{ Key: 'ferry:zone', Value: g }],
      },
    };
  }
  const counters = new Map<string, number>();
  for (const r of rules) {
    const base = resId(r.direction === 'ingress' ? 'Ingress' : 'Egress', r.group);
    const n = (counters.get(base) ?? 0) + 1;
    counters.set(base, n);
    const props: Record<string, unknown> = {
      GroupId: { 'Fn::GetAtt': [resId('Sg', r.group), 'GroupId'] },
      Description: r.description.replace(/[^a-zA-Z0-9. _\-:/()#,@[\]+=&;{}!$*]/g, ' ').slice(0, 255),
      IpProtocol: r.transport === 'icmp' ? 'icmp' : r.transport,
      FromPort: r.from ?? (r.transport === 'icmp' ? -1 : 0),
      ToPort: r.to ?? (r.transport === 'icmp' ? -1 : 65535),
    };
    const groupKey = r.direction === 'ingress' ? 'SourceSecurityGroupId' : 'DestinationSecurityGroupId';
    if (r.remoteGroup) props[groupKey] = { 'Fn::GetAtt': [resId('Sg', r.remoteGroup), 'GroupId'] };
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
  head.push(...skippedHeads(rs));
  return head.join('\n') + '\n' + stringify(doc, { lineWidth: 0 });
}

export function emitFirewall(rs: Ruleset, format: string): string {
  switch (format) {
    case 'nftables':
      return emitNftables(rs);
    case 'iptables':
      return emitIptables(rs);
    case 'squid':
      return emitSquid(rs);
    case 'networkpolicy':
      return emitNetworkPolicy(rs);
    case 'cilium':
      return emitCilium(rs);
    case 'openstack-sg':
      return emitOpenStackSg(rs);
    case 'aws-sg':
      return emitAwsSg(rs);
    default:
      throw new FerryError('USAGE', `--format ${format}: unknown firewall format`, { hint: `Choose one of ${FIREWALL_FORMATS.join(', ')}.` });
  }
}
