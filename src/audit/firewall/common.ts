import type { Rule, Ruleset, SkippedFlow } from './ruleset.js';

/** What an emitter returns: the file, and the warnings the CLI prints beside it (also in the file as comments). */
export interface FirewallOutput {
  text: string;
  warnings: string[];
}

export type Emitter = (rs: Ruleset) => FirewallOutput;

export const oneLine = (s: string): string => s.replace(/\s+/g, ' ').trim();

/** Purposes only when few: a merged rule's name list says enough. */
export const purposeText = (r: Rule): string => (r.purpose.length <= 3 ? `: ${oneLine(r.purpose.join('; '))}` : '');
export const ruleLabel = (r: Rule): string => oneLine(`${r.names.join(', ')}${r.refs.length ? ` [${r.refs.join(', ')}]` : ''}`);

export function header(rs: Ruleset, format: string, commentChar = '#'): string[] {
  const c = commentChar;
  const lines = [
    `${c} ferry firewall — ${rs.system} — ${format} allowlist, default deny`,
    `${c} Generated from the manifest's connection model; review before loading.`,
    rs.mode === 'host' ? `${c} Perspective: hosts in zone ${rs.zone} (input and output).` : `${c} Perspective: a gateway between zones (forward).`,
  ];
  if (rs.resolution) lines.push(`${c} Hostnames resolved at ${rs.resolution.at} via ${rs.resolution.resolver}.`);
  return lines;
}

const skippedHead = (s: SkippedFlow, c: string) => `${c} not allowed: ${s.name}${s.ref ? ` [${s.ref}]` : ''} — ${oneLine(s.reason)}`;

/** One comment line per flow that is deliberately not allowed. */
export function skippedHeads(rs: Ruleset): string[] {
  return [...new Set(rs.skipped.map((s) => skippedHead(s, '#')))];
}

/** Skipped flows as comments, each followed by the rule it would be, commented out. */
export function skippedComments(skipped: SkippedFlow[], render: (r: Rule) => string[], c = '#'): string[] {
  const out: string[] = [];
  let last = '';
  for (const s of skipped) {
    const head = skippedHead(s, c);
    if (head !== last) out.push(head);
    last = head;
    if (s.rule) for (const l of render(s.rule)) out.push(`${c}   ${l}`);
  }
  return out;
}

/** The zones inside the system boundary (security groups and pod policies exist only for them). */
export function internalZones(rs: Ruleset): string[] {
  return rs.zones.filter((z) => !z.external).map((z) => z.name);
}

export const zoneTitle = (rs: Ruleset, zone: string): string => rs.zones.find((z) => z.name === zone)?.title ?? zone;

/**
 * Host mode leaves out what every host needs before any modelled flow works. Say so in the
 * file, with the rule to add when the manifest does not carry it.
 */
export function hostEssentials(rs: Ruleset): Array<{ what: string; port: number; transport: 'udp' | 'tcp+udp'; declared: boolean }> {
  const declared = (port: number) => rs.rules.some((r) => r.chain === 'output' && r.ports.some((p) => (typeof p === 'number' ? p === port : Number(p.split('-')[0]) <= port && port <= Number(p.split('-')[1]))));
  return [
    { what: 'DNS', port: 53, transport: 'tcp+udp' as const, declared: declared(53) },
    { what: 'NTP', port: 123, transport: 'udp' as const, declared: declared(123) },
    { what: 'DHCP client', port: 67, transport: 'udp' as const, declared: declared(67) },
  ];
}
