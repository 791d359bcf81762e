import { hasPorts, ipProtocolNumber, type Port } from '../../kinds/endpoint/spec.js';
import { header, hostEssentials, oneLine, purposeText, ruleLabel, skippedComments, type FirewallOutput } from './common.js';
import { familyOf, type AddressSet, type Rule, type Ruleset } from './ruleset.js';

/**
 * nftables (`nft -f`): one inet table with address sets and default-drop chains. Loading the
 * file twice gives the same ruleset: the table is created if missing, deleted, then defined
 * again in the same atomic transaction.
 */
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

export function nftRuleLines(r: Rule): string[] {
  const srcs = nftAddr('saddr', r.src);
  const dsts = nftAddr('daddr', r.dst);
  // Another IP protocol (esp, gre, vrrp…) by its number: nft's names come from /etc/protocols.
  const proto =
    r.transport === 'icmp'
      ? 'meta l4proto { icmp, ipv6-icmp } '
      : !hasPorts(r.transport)
        ? `meta l4proto ${ipProtocolNumber(r.transport)} `
        : r.ports.length
          ? `${r.transport} dport ${nftPorts(r.ports)} `
          : `meta l4proto ${r.transport} `;
  const out: string[] = [];
  for (const s of srcs)
    for (const d of dsts) {
      if ((s.startsWith('ip6') && d.startsWith('ip ')) || (s.startsWith('ip ') && d.startsWith('ip6'))) continue;
      if (r.transport === 'icmp' && r.icmp) {
        // Only the listed messages, each family its own: `icmp type 8 icmp code 0`, `icmpv6 type 128`.
        const six = s.startsWith('ip6') || d.startsWith('ip6');
        const four = s.startsWith('ip ') || d.startsWith('ip ');
        if (!six) for (const t of r.icmp.v4) out.push(`${s}${d}icmp type ${t.type} ${t.code === undefined ? '' : `icmp code ${t.code} `}accept`);
        if (!four) for (const t of r.icmp.v6) out.push(`${s}${d}icmpv6 type ${t.type} ${t.code === undefined ? '' : `icmpv6 code ${t.code} `}accept`);
        continue;
      }
      out.push(`${s}${d}${proto}accept`);
    }
  return out;
}

export function emitNftables(rs: Ruleset): FirewallOutput {
  const table = `inet ferry_${rs.system.replace(/[^a-z0-9]+/g, '_')}`;
  const out = [`#!/usr/sbin/nft -f`, ...header(rs, 'nftables')];
  out.push('# Loading it again replaces the table (idempotent): create if missing, delete, define.', '', `table ${table}`, `delete table ${table}`, '', `table ${table} {`);
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
  const host = rs.mode === 'host';
  const essentials = host ? hostEssentials(rs).filter((e) => !e.declared) : [];
  const chains: Array<Rule['chain']> = host ? ['input', 'output'] : ['forward'];
  for (const chain of chains) {
    out.push('', `  chain ${chain} {`, `    type filter hook ${chain} priority filter; policy drop;`);
    if (chain === 'input') out.push('    iif "lo" accept');
    if (chain === 'output') out.push('    oif "lo" accept');
    out.push('    ct state established,related accept');
    if (host) {
      // IPv6 does not work without neighbour discovery; link-local only (hop limit 255).
      out.push('    # IPv6 neighbour and router discovery (link-local, hop limit 255)', '    icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit, nd-router-advert } ip6 hoplimit 255 accept');
    }
    if (chain === 'output' && essentials.length) {
      out.push(`    # NOT ALLOWED (not in the manifest): ${essentials.map((e) => `${e.what} ${e.port}/${e.transport}`).join(', ')}.`);
      out.push('    # Name, time and DHCP servers are not known here; until the manifest declares them, this host cannot use them. For example:');
      for (const e of essentials) out.push(`    #   ${e.transport === 'udp' ? 'udp' : 'meta l4proto { tcp, udp } th'} dport ${e.port} ip daddr <${e.what.split(' ')[0].toUpperCase()}_SERVERS> accept`);
    }
    for (const r of rs.rules.filter((x) => x.chain === chain)) {
      out.push(`    # ${ruleLabel(r)}${purposeText(r)}`);
      for (const l of nftRuleLines(r)) out.push(`    ${l}`);
    }
    for (const l of skippedComments(rs.skipped.filter((s) => s.chain === chain), nftRuleLines)) out.push(`    ${l}`);
    out.push('  }');
  }
  out.push('}', '');
  const warnings = essentials.length ? [`host output chain: ${essentials.map((e) => e.what).join(', ')} not allowed (not in the manifest); see the comment in the output chain`] : [];
  return { text: out.join('\n'), warnings };
}
