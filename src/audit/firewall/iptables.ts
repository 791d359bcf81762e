import { hasPorts, icmpTypeText, ipProtocolNumber } from '../../kinds/endpoint/spec.js';
import { header, hostEssentials, oneLine, purposeText, ruleLabel, skippedComments, type FirewallOutput } from './common.js';
import { familyOf, portRange, type AddressSet, type Family, type Rule, type Ruleset } from './ruleset.js';

/**
 * iptables-restore and ip6tables-restore files: one per address family, so an IPv6 destination
 * is never silently dropped from the IPv4 file; a rule whose addresses are all of the other
 * family says where it went.
 */
function iptPortArgs(r: Rule, family: Family): string[] {
  if (r.transport === 'icmp' && r.icmp) {
    // Only the listed messages of this family (none listed: no line, that family stays denied).
    const list = family === 'ipv6' ? r.icmp.v6 : r.icmp.v4;
    return list.map((t) => (family === 'ipv6' ? `-p ipv6-icmp --icmpv6-type ${icmpTypeText(t)}` : `-p icmp --icmp-type ${icmpTypeText(t)}`));
  }
  if (r.transport === 'icmp') return [family === 'ipv6' ? '-p ipv6-icmp' : '-p icmp'];
  // Another IP protocol (esp, gre, vrrp…) by its number, with no ports.
  if (!hasPorts(r.transport)) return [`-p ${ipProtocolNumber(r.transport)}`];
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

interface Addrs {
  values: string[];
  placeholder?: string;
  /** The set has addresses, all of the other family. */
  otherFamily?: boolean;
}

function iptAddrs(flag: '-s' | '-d', set: AddressSet | undefined, family: Family): Addrs {
  if (!set) return { values: [''] };
  if (!set.cidrs.length) return { values: [], placeholder: `${flag} <${set.id.toUpperCase()}>` };
  const values = set.cidrs.filter((c) => familyOf(c) === family).map((c) => `${flag} ${c} `);
  return { values, otherFamily: !values.length };
}

function iptRuleLines(r: Rule, chainName: string, family: Family): { active: string[]; placeholders: string[]; otherFamily: boolean } {
  const s = iptAddrs('-s', r.src, family);
  const d = iptAddrs('-d', r.dst, family);
  // iptables-restore reads a backslash as an escape even inside quotes: one left before the
  // closing quote (a label cut there) kept the quote open and took `-j ACCEPT` into the comment
  // (a rule with no target). Neither quotes nor backslashes are written.
  const comment = `-m comment --comment "${ruleLabel(r).replace(/["\\]/g, '').slice(0, 250)}"`;
  const active: string[] = [];
  const placeholders: string[] = [];
  if (s.otherFamily || d.otherFamily) return { active, placeholders, otherFamily: true };
  for (const p of iptPortArgs(r, family)) {
    if (s.placeholder || d.placeholder) {
      placeholders.push(`-A ${chainName} ${s.placeholder ? `${s.placeholder} ` : (s.values[0] ?? '')}${d.placeholder ? `${d.placeholder} ` : (d.values[0] ?? '')}${p} ${comment} -j ACCEPT`);
      continue;
    }
    for (const sv of s.values) for (const dv of d.values) active.push(`-A ${chainName} ${sv}${dv}${p} ${comment} -j ACCEPT`);
  }
  return { active, placeholders, otherFamily: false };
}

function emitFamily(rs: Ruleset, family: Family): FirewallOutput {
  const v6 = family === 'ipv6';
  const other = v6 ? 'iptables (IPv4)' : 'ip6tables (IPv6)';
  const out = [...header(rs, v6 ? 'ip6tables-restore (IPv6)' : 'iptables-restore (IPv4)')];
  out.push(`# The other address family is in --format ${v6 ? 'iptables' : 'ip6tables'}; load both.`);
  out.push('# Lines starting with "# PLACEHOLDER" need addresses: fill in the <SET> and uncomment.');
  for (const s of rs.sets.filter((x) => x.placeholder)) out.push(`#   <${s.id.toUpperCase()}> = ${oneLine(s.placeholder!)}`);
  const host = rs.mode === 'host';
  if (!host) out.push("# Gateway rules: FORWARD is the allowlist; the gateway's own INPUT/OUTPUT are not part of this model.");
  const essentials = host ? hostEssentials(rs).filter((e) => !e.declared) : [];
  out.push('*filter');
  out.push(`:INPUT ${host ? 'DROP' : 'ACCEPT'} [0:0]`, ':FORWARD DROP [0:0]', `:OUTPUT ${host ? 'DROP' : 'ACCEPT'} [0:0]`);
  const chains: Array<[Rule['chain'], string]> = host ? [['input', 'INPUT'], ['output', 'OUTPUT']] : [['forward', 'FORWARD']];
  for (const [chain, name] of chains) {
    if (name === 'INPUT') out.push('-A INPUT -i lo -j ACCEPT');
    if (name === 'OUTPUT') out.push('-A OUTPUT -o lo -j ACCEPT');
    out.push(`-A ${name} -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT`);
    if (host && v6) {
      out.push('# IPv6 neighbour and router discovery (link-local, hop limit 255)');
      for (const t of ['neighbour-solicitation', 'neighbour-advertisement', 'router-solicitation', 'router-advertisement']) out.push(`-A ${name} -p ipv6-icmp --icmpv6-type ${t} -m hl --hl-eq 255 -j ACCEPT`);
    }
    if (name === 'OUTPUT' && essentials.length) {
      out.push(`# NOT ALLOWED (not in the manifest): ${essentials.map((e) => `${e.what} ${e.port}/${e.transport}`).join(', ')}; add them to the manifest to allow them.`);
    }
    for (const r of rs.rules.filter((x) => x.chain === chain)) {
      out.push(`# ${ruleLabel(r)}${purposeText(r)}`);
      const { active, placeholders, otherFamily } = iptRuleLines(r, name, family);
      if (otherFamily) out.push(`# ${v6 ? 'IPv4' : 'IPv6'} addresses only: see ${other}`);
      else if (r.transport === 'icmp' && r.icmp && !(v6 ? r.icmp.v6 : r.icmp.v4).length) out.push(`# no ${v6 ? 'ICMPv6' : 'ICMPv4'} message listed for this flow (icmp${v6 ? 'v6' : ''}Types): none allowed${(v6 ? r.icmp.v4 : r.icmp.v6).length ? `; see ${other}` : ''}`);
      out.push(...active, ...placeholders.map((l) => `# PLACEHOLDER ${l}`));
    }
    out.push(
      ...skippedComments(
        rs.skipped.filter((s) => s.chain === chain),
        (r) => {
          const x = iptRuleLines(r, name, family);
          return [...x.active, ...x.placeholders];
        },
      ),
    );
  }
  out.push('COMMIT', '');
  return { text: out.join('\n'), warnings: [] };
}

export const emitIptables = (rs: Ruleset): FirewallOutput => emitFamily(rs, 'ipv4');
export const emitIp6tables = (rs: Ruleset): FirewallOutput => emitFamily(rs, 'ipv6');
