import { FerryError } from '../../errors.js';
import { emitAwsSg } from './aws.js';
import { emitCilium } from './cilium.js';
import type { Emitter, FirewallOutput } from './common.js';
import { emitIp6tables, emitIptables } from './iptables.js';
import { emitNetworkPolicy } from './networkpolicy.js';
import { emitNftables } from './nftables.js';
import { emitOpenStackSg } from './openstack.js';
import type { Ruleset } from './ruleset.js';
import { emitSquid } from './squid.js';

/**
 * Firewall formats: one emitter a file, each rendering the same Ruleset. Hostnames stay where
 * the format accepts them (squid dstdomain, Cilium toFQDNs); elsewhere they become addresses
 * (--resolve, recorded) or clearly named placeholders. The format list is this record's keys.
 */
export const EMITTERS = {
  nftables: emitNftables,
  iptables: emitIptables,
  ip6tables: emitIp6tables,
  squid: emitSquid,
  networkpolicy: emitNetworkPolicy,
  cilium: emitCilium,
  'openstack-sg': emitOpenStackSg,
  'aws-sg': emitAwsSg,
} as const satisfies Record<string, Emitter>;

export type FirewallFormat = keyof typeof EMITTERS;
export const FIREWALL_FORMATS = Object.keys(EMITTERS) as FirewallFormat[];

const isFormat = (f: string): f is FirewallFormat => Object.hasOwn(EMITTERS, f);

export function emitFirewall(rs: Ruleset, format: string): FirewallOutput {
  if (!isFormat(format)) throw new FerryError('USAGE', `--format ${format}: unknown firewall format`, { hint: `Choose one of ${FIREWALL_FORMATS.join(', ')}.` });
  return EMITTERS[format](rs);
}
