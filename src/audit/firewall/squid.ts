import { header, oneLine, purposeText, ruleLabel, skippedComments, type FirewallOutput } from './common.js';
import type { Ruleset } from './ruleset.js';

/**
 * squid as the forward proxy of the allowlist: outbound HTTP(S) destinations by hostname. It
 * listens on loopback until told where its clients reach it; every allow names its source.
 */
const HTTPISH = /http|https|grpc|tls|oci|registry|api|smtp/i;

export function emitSquid(rs: Ruleset): FirewallOutput {
  const out = [...header(rs, 'squid (forward proxy)')];
  out.push(
    '# Outbound HTTP(S) destinations by hostname; everything else is denied.',
    '# The proxy listens on loopback only: replace 127.0.0.1 with its address on the network its clients use.',
    '',
    'http_port 127.0.0.1:3128',
    'acl CONNECT method CONNECT',
  );
  const connectPorts = new Set<string>();
  // The proxy's own allowlist: proxied endpoints are allowed here (not in the packet filter), and
  // the connection to the proxy itself is not the proxy's business.
  const viaProxy = rs.skipped.flatMap((s) => (s.viaProxy && s.rule ? [s.rule] : []));
  const rules = [...rs.rules.filter((r) => !r.toProxy), ...viaProxy].filter((r) => r.chain !== 'input' && r.dst && r.dst.kind === 'host' && r.transport === 'tcp');
  const acls: string[] = [];
  const access: string[] = [];
  const srcAcl = new Map<string, string>();
  const warnings: string[] = [];
  for (const r of rules) {
    if (!r.protocols.some((p) => HTTPISH.test(p)) && !r.ports.every((p) => p === 80 || p === 443)) {
      access.push(`# not proxied: ${ruleLabel(r)} (${r.protocols.join(', ')}) — allow it in the packet filter`);
      continue;
    }
    const dst = r.dst!;
    const portAcl = r.ports.length ? `ports_${r.ports.map((p) => String(p).replace('-', '_')).join('_')}` : '';
    for (const p of r.ports) connectPorts.add(String(p));
    if (portAcl && !acls.some((a) => a.startsWith(`acl ${portAcl} `))) acls.push(`acl ${portAcl} port ${r.ports.join(' ')}`);
    const dstAcl = `dst_${dst.id.replace(/^host_/, '')}`;
    const dstPlaceholder = (dst.hostname ?? dst.label).startsWith('<');
    if (!acls.some((a) => a.includes(`acl ${dstAcl} `))) {
      const h = dst.hostname ?? dst.label;
      if (dstPlaceholder) acls.push(`# PLACEHOLDER acl ${dstAcl} dstdomain ${h}`);
      else if (dst.cidrs.length && !/[a-z]/i.test(h.replace(/[0-9a-f:.]/gi, ''))) acls.push(`acl ${dstAcl} dst ${dst.cidrs.join(' ')}`);
      else acls.push(`acl ${dstAcl} dstdomain ${h}`);
    }
    // The source: the zone's CIDRs; the host itself in host mode; never "whoever reaches the proxy".
    let src: string;
    let srcPlaceholder = false;
    if (r.chain === 'output') {
      src = 'localhost';
    } else if (r.src && r.src.cidrs.length) {
      src = `src_${r.src.id.replace(/^zone_/, '')}`;
      if (!srcAcl.has(src)) srcAcl.set(src, `acl ${src} src ${r.src.cidrs.join(' ')}`);
    } else if (r.src) {
      src = `src_${r.src.id.replace(/^zone_/, '')}`;
      srcPlaceholder = true;
      if (!srcAcl.has(src)) srcAcl.set(src, `# PLACEHOLDER acl ${src} src <CIDR> — CIDRs of zone ${oneLine(r.src.label)} are not given`);
    } else src = 'all';
    const line = `http_access allow ${src} ${dstAcl}${portAcl ? ` ${portAcl}` : ''}`;
    access.push(`# ${ruleLabel(r)}${purposeText(r)}`);
    if (dstPlaceholder || srcPlaceholder) {
      access.push(`# PLACEHOLDER ${line}`);
      warnings.push(`squid: ${ruleLabel(r)} left commented out: ${srcPlaceholder ? `CIDRs of zone ${r.src!.label} are not given` : `${dst.label} has no value`}`);
    } else access.push(line);
  }
  const ports = [...connectPorts].sort((a, b) => Number(a.split('-')[0]) - Number(b.split('-')[0]) || a.localeCompare(b));
  out.push(`acl ports_connect port ${ports.join(' ') || '443'}`);
  out.push(...srcAcl.values(), ...acls, '');
  out.push('http_access deny CONNECT !ports_connect');
  out.push(...access);
  out.push(...skippedComments(rs.skipped.filter((s) => !s.viaProxy && s.rule?.dst?.kind === 'host'), () => []));
  out.push('http_access deny all', '');
  return { text: out.join('\n'), warnings };
}
