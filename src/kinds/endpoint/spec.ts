import { z } from 'zod';

/**
 * The connection model: zones (with CIDRs), connections (who talks to whom, how, why, and
 * how it is secured) and external endpoints that cannot simply be mirrored, each with a
 * mitigation and checks ferry can run. Designed so each seed document (Spinifex, CCX,
 * SPIRE, metal-stack, Safespring) can be written in it without loss.
 */

const NAME = /^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$/;
const NAME_MSG = 'must be lowercase letters, digits, . _ -';

/** x / blank / ? as the metal-stack matrix writes them. */
export const TriStateSchema = z.union([z.boolean(), z.literal('unknown')]);

/** A port, or an inclusive range written `6660-6662`. */
export const PortSchema = z.union([
  z.number().int().min(0).max(65535),
  z.string().regex(/^\d{1,5}-\d{1,5}$/, 'a port range must look like 6660-6662'),
]);

/**
 * IP protocols by IANA keyword ("Assigned Internet Protocol Numbers"), for `transport`: a
 * connection that is not TCP/UDP (IPsec ESP/AH, GRE, VRRP, SCTP, PIM…) is written by its
 * keyword or number. Only these few carry ports (transport-layer ports; SCTP/UDP-Lite/DCCP
 * have them, ESP or GRE have none).
 */
export const IP_PROTOCOLS: Readonly<Record<string, number>> = {
  icmp: 1,
  igmp: 2,
  ipip: 4,
  tcp: 6,
  egp: 8,
  udp: 17,
  dccp: 33,
  ipv6: 41,
  rsvp: 46,
  gre: 47,
  esp: 50,
  ah: 51,
  eigrp: 88,
  ospf: 89,
  etherip: 97,
  pim: 103,
  vrrp: 112,
  l2tp: 115,
  sctp: 132,
  udplite: 136,
};
const PORTED = new Set(['tcp', 'udp', 'tcp+udp', 'sctp', 'udplite', 'dccp']);
/** The protocols with ports (a rule may name them); every other transport is matched as a whole protocol. */
export const hasPorts = (transport: string): boolean => PORTED.has(transport);
/** ICMP is `icmp` (ICMP of the address family: ICMPv6 for IPv6); 58 is IPv6-ICMP. */
const NUMBER_NAMES = new Map<number, string>([...Object.entries(IP_PROTOCOLS).map(([n, v]) => [v, n] as [number, string]), [58, 'icmp']]);
/** The IANA protocol number of a transport (icmp: 1), or undefined for tcp+udp, unix, other. */
export function ipProtocolNumber(transport: string): number | undefined {
  if (/^\d+$/.test(transport)) return Number(transport);
  return IP_PROTOCOLS[transport];
}
/** `esp` → "IP protocol 50 (esp)"; a bare number → "IP protocol 253". */
export const ipProtocolLabel = (transport: string): string => {
  const n = ipProtocolNumber(transport);
  return /^\d+$/.test(transport) ? `IP protocol ${n}` : `IP protocol ${n} (${transport})`;
};

/**
 * `tcp`, `udp`, `tcp+udp`, `icmp`, `unix`, `other` (not TCP/UDP and not known: no rule is
 * written), or any IP protocol by IANA keyword (`esp`, `ah`, `gre`, `vrrp`, `sctp`, `pim`…) or
 * number (0-255; a known number becomes its keyword, `50` → `esp`, `58` → `icmp`).
 */
export const TransportSchema = z
  .union([
    z.enum(['tcp', 'udp', 'tcp+udp', 'icmp', 'unix', 'other']),
    z.string().refine((s) => Object.hasOwn(IP_PROTOCOLS, s) || s === 'ipv6-icmp', { message: `transport must be tcp, udp, tcp+udp, icmp, unix, other, an IP protocol number 0-255 or one of ${Object.keys(IP_PROTOCOLS).join(', ')}` }),
    z.number().int().min(0).max(255),
    z.string().regex(/^\d{1,3}$/).refine((s) => Number(s) <= 255, { message: 'an IP protocol number is 0-255' }),
  ])
  .transform((t): string => {
    if (t === 'ipv6-icmp') return 'icmp';
    if (typeof t === 'number' || /^\d+$/.test(t)) return NUMBER_NAMES.get(Number(t)) ?? String(Number(t));
    return t;
  });
export type Transport = z.infer<typeof TransportSchema>;

/** Protocols that run over UDP only: written as the `protocol` with no `transport`, they mean UDP. */
const UDP_PROTOCOLS = new Set(['UDP', 'VXLAN', 'GENEVE', 'WIREGUARD', 'NTP', 'DHCP', 'DHCPV6', 'TFTP', 'SNMP', 'QUIC', 'IKE', 'BFD', 'RADIUS', 'IPMI', 'RMCP', 'COROSYNC', 'KNET', 'RTP', 'NAT-T']);
/** Protocols that use both (DNS answers over UDP and falls back to TCP). */
const TCP_UDP_PROTOCOLS = new Set(['DNS', 'SERF']);
/** Protocol words that are IP protocols themselves (ESP, GRE, VRRP…): the protocol is the transport. */
const IP_PROTOCOL_WORDS = new Map<string, string>([
  ['ESP', 'esp'],
  ['AH', 'ah'],
  ['GRE', 'gre'],
  ['VRRP', 'vrrp'],
  ['CARP', 'vrrp'],
  ['SCTP', 'sctp'],
  ['IGMP', 'igmp'],
  ['PIM', 'pim'],
  ['OSPF', 'ospf'],
  ['EIGRP', 'eigrp'],
]);
/**
 * Words that name a family of protocols, not one: "VPN", "IPsec", "tunnel" say neither which
 * IP protocols nor which ports. Without a `transport` such a flow is `other` (unknown: no
 * rule), never TCP by default.
 */
const VAGUE_WORDS = new Set(['VPN', 'IPSEC', 'TUNNEL', 'MULTICAST', 'L2TP']);

/**
 * The transport a connection's `protocol` implies when the manifest gives no `transport`:
 * `VXLAN`, `WireGuard`, `UDP`, `NTP` … are UDP, `DNS` and `TCP/UDP` both, `ICMP` ICMP, an IP
 * protocol's name (`ESP`, `GRE`, `VRRP`, `SCTP`…) that protocol, a family of protocols (`VPN`,
 * `IPsec`) `other` (unknown: no rule), anything else TCP. Without this a CNI overlay written
 * `protocol: VXLAN` became a TCP rule and the firewall dropped every packet of the pod network;
 * `protocol: ESP` became "all of TCP".
 */
export function transportFromProtocol(protocol: string): Transport {
  const upper = protocol.toUpperCase();
  const words = upper.split(/[^A-Z0-9]+/).filter(Boolean);
  const udp = words.some((w) => UDP_PROTOCOLS.has(w)) || /\bNAT-T\b/.test(upper);
  const tcp = words.includes('TCP');
  const ip = [...new Set(words.flatMap((w) => (IP_PROTOCOL_WORDS.has(w) ? [IP_PROTOCOL_WORDS.get(w)!] : [])))];
  if ((udp && tcp) || words.some((w) => TCP_UDP_PROTOCOLS.has(w))) return 'tcp+udp';
  // One IP protocol and nothing else: that protocol. Two (IKE + ESP) or a mix: not one rule.
  if (ip.length === 1 && !udp && !tcp) return ip[0];
  // IKE + ESP, "SSL VPN", "GRE tunnel over UDP": several protocols or none named; write one
  // connection per protocol, or an explicit transport.
  if (ip.length || words.some((w) => VAGUE_WORDS.has(w))) return 'other';
  if (udp) return 'udp';
  if (!tcp && words.some((w) => w === 'ICMP' || w === 'PING' || w === 'ICMPV6')) return 'icmp';
  return 'tcp';
}
/**
 * An ICMP message as firewall documents write it: `8` (type) or `8/0` (type/code), 0-255 each
 * (RKE2's "ICMP 8/0" for Cilium's health check is echo request, code 0).
 */
export const IcmpTypeSchema = z.union([z.number().int().min(0).max(255), z.string().regex(/^\d{1,3}(\/\d{1,3})?$/, 'an ICMP type is written 8 or 8/0 (type/code)')]);
export interface IcmpType {
  type: number;
  /** Undefined: every code of the type. */
  code?: number;
}
/** The ICMP messages a flow allows, per address family; undefined on a flow means every ICMP message. */
export interface IcmpMatch {
  v4: IcmpType[];
  v6: IcmpType[];
}
export function parseIcmpType(t: number | string): IcmpType {
  const [a, b] = String(t).split('/');
  return b === undefined ? { type: Number(a) } : { type: Number(a), code: Number(b) };
}
/** `8/0`, `8` (every code). */
export const icmpTypeText = (t: IcmpType): string => (t.code === undefined ? String(t.type) : `${t.type}/${t.code}`);
/** The flow's ICMP match from the manifest fields: undefined when neither list is given (all ICMP). */
export function icmpMatch(v4: Array<number | string> | undefined, v6: Array<number | string> | undefined): IcmpMatch | undefined {
  if (v4 === undefined && v6 === undefined) return undefined;
  return { v4: (v4 ?? []).map(parseIcmpType), v6: (v6 ?? []).map(parseIcmpType) };
}
const ICMP_FIELDS = {
  icmpTypes: z
    .array(IcmpTypeSchema)
    .optional()
    .describe('transport icmp only: the ICMPv4 messages allowed, as type or type/code (8/0 is echo request). With icmpTypes or icmpv6Types given, only the listed messages of each family are allowed (an empty or absent list: none of that family); with neither, every ICMP message.'),
  icmpv6Types: z.array(IcmpTypeSchema).optional().describe('transport icmp only: the ICMPv6 messages allowed, as type or type/code (128/0 is echo request).'),
};

export const RequirementSchema = z.enum(['required', 'optional', 'conditional']);
export const LifecycleSchema = z.enum(['runtime', 'bootstrap', 'install']);
export const StatusSchema = z.enum(['confirmed', 'tbd', 'blocked']);
/** Omitted stays omitted (the audit's flows take it as confirmed and say it was not recorded). */
const STATUS_DOC = 'confirmed, tbd (the source document leaves it open: no rule) or blocked (no rule). Omitted: taken as confirmed (the firewall allows it), and the inventory\'s evidence says the status is not recorded.';

export const SecuritySchema = z
  .object({
    encrypted: TriStateSchema.optional().describe('C: the traffic is encrypted.'),
    integrity: TriStateSchema.optional().describe('I: the traffic is integrity-protected.'),
    authenticated: TriStateSchema.optional().describe('Auth: the parties are authenticated.'),
    trustedOnly: TriStateSchema.optional().describe('Trust: only trusted networks are involved.'),
    auth: z.string().optional().describe('How authentication and verification work, in words.'),
  })
  .strict();

export const ZoneSchema = z
  .object({
    name: z.string().regex(NAME, `zone name ${NAME_MSG}`),
    title: z.string().optional().describe('Name as the document writes it, e.g. "Metal Control Plane".'),
    description: z.string().optional(),
    cidrs: z.array(z.string().min(1)).optional().describe('CIDRs of the zone; <var> placeholders allowed. Omitted: a variable in firewall output.'),
    hosts: z.array(z.string().min(1)).optional().describe('Hostnames that live in this zone (audit classifies them as internal).'),
    external: z.boolean().default(false).describe('Outside the system boundary (internet, operator networks, unknown).'),
    self: z.boolean().default(false).describe('The zone whose hosts run the generated host firewall (input/output chains).'),
  })
  .strict();

export const CheckSchema = z
  .object({
    kind: z.enum(['values', 'env', 'config', 'text']).describe('values: Helm values key; env: environment setting; config: config-file key; text: a pattern in any scanned file.'),
    key: z.string().optional().describe('Dotted key path (values/config) or variable name (env).'),
    pattern: z.string().optional().describe('Literal text to find (kind text).'),
    equals: z.union([z.string(), z.number(), z.boolean()]).optional().describe('The value the key must have.'),
    notEquals: z.union([z.string(), z.number(), z.boolean()]).optional().describe('A value the key must not have.'),
    present: z.boolean().optional().describe('true (default): the key must be set and non-empty; false: it must be absent.'),
    whenMissing: z.enum(['met', 'unmet']).default('unmet').describe('Result when no scanned file sets the key (met when the default is safe).'),
    files: z.array(z.string()).optional().describe('Only files whose path ends with one of these.'),
    description: z.string().optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.kind === 'text' ? !c.pattern : !c.key) ctx.addIssue({ code: 'custom', message: c.kind === 'text' ? 'a text check needs pattern' : `${c.kind === 'env' ? 'an' : 'a'} ${c.kind} check needs key` });
    // A field the check's kind never reads would be ignored without a word, and the audit would
    // report a verdict the manifest did not ask for (`present: false` on a text check: "unmet,
    // not found", where the writer meant "met when absent").
    const unread = c.kind === 'text' ? (['key', 'equals', 'notEquals', 'present'] as const) : (['pattern'] as const);
    for (const field of unread) {
      if (c[field] === undefined) continue;
      ctx.addIssue({
        code: 'custom',
        path: [field],
        message:
          c.kind === 'text'
            ? `a text check does not read ${field}: it is met when pattern is found in a scanned file, and there is no "must not appear" form; check the setting that turns the feature on (a values, env or config check with equals, notEquals or present: false), or make the mitigation an exception`
            : `${c.kind === 'env' ? 'an' : 'a'} ${c.kind} check does not read pattern (only a text check does); use equals, notEquals or present on key`,
      });
    }
  });

export const ConnectionSchema = z
  .object({
    name: z.string().regex(NAME, `connection name ${NAME_MSG}`),
    ref: z.string().optional().describe('Row number or section in the source document (e.g. "2.4", "S1.1", "§1").'),
    component: z.string().optional().describe('The component that opens the connection (or the listening service, for inbound).'),
    source: z.string().optional().describe('Who connects, in words, when not a component.'),
    from: z.string().min(1).describe('Source zone.'),
    to: z.string().min(1).describe('Destination zone.'),
    destination: z.string().optional().describe('Destination component or service.'),
    hosts: z.array(z.string().min(1)).optional().describe('Destination hostnames or addresses, when narrower than the zone.'),
    endpoint: z.string().optional().describe('Name of the endpoint entry this connection reaches (mitigation and checks).'),
    direction: z.enum(['inbound', 'outbound', 'internal', 'local']),
    scope: z.enum(['external', 'cluster', 'localhost']),
    protocol: z.string().min(1).describe('Application protocol as documented (HTTPS, NATS + TLS, gRPC, IPMI…).'),
    transport: TransportSchema.optional().describe('Default: from the protocol (VXLAN, WireGuard, UDP, NTP, IKE, Corosync… udp; DNS, TCP/UDP tcp+udp; ICMP icmp; ESP, AH, GRE, VRRP, SCTP, PIM… that IP protocol; VPN, IPsec, or several IP protocols: other, which writes no rule), else tcp. Any IP protocol by IANA keyword or number 0-255.'),
    ports: z.array(PortSchema).optional(),
    ...ICMP_FIELDS,
    portNote: z.string().optional().describe('Ports in words when not a fixed list ("socket / dynamic TCP").'),
    security: SecuritySchema.optional(),
    purpose: z.string().min(1),
    notes: z.string().optional(),
    requirement: RequirementSchema.default('required'),
    condition: z.string().optional().describe('The setting or feature that enables it (for conditional/optional).'),
    lifecycle: LifecycleSchema.default('runtime'),
    status: StatusSchema.optional().describe(STATUS_DOC),
    statusNote: z.string().optional(),
    checks: z.array(CheckSchema).optional().describe('Checks that the configuration matches this entry (a blocked listener stays off, SSH keys only); all must be met.'),
    owner: z
      .string()
      .min(1)
      .optional()
      .describe('Responsible owner or team for this connection (who approves and answers for it). Omitted: the inventory says "not recorded"; a connection to an endpoint without its own owner takes the endpoint\'s.'),
  })
  .strict()
  .transform((c) => ({ ...c, transport: c.transport ?? transportFromProtocol(c.protocol) }));

export const MitigationSchema = z
  .object({
    type: z.enum(['mirrored', 'preset', 'disabled', 'exception', 'proxied', 'none']),
    description: z.string().optional().describe('What is done, e.g. "cmon.license set in Helm values".'),
    reason: z.string().optional().describe('Why an exception is accepted.'),
    review: z
      .string()
      .regex(/^(\d{4}-\d{2}-\d{2}|<[A-Za-z_][A-Za-z0-9_-]*>)$/, 'review must be a date YYYY-MM-DD (or a <var>)')
      .optional(),
    proxy: z.string().optional().describe('The proxy (host:port) for a proxied endpoint.'),
  })
  .strict()
  .superRefine((m, ctx) => {
    if (m.type === 'exception' && (!m.reason || !m.review)) ctx.addIssue({ code: 'custom', message: 'an exception needs a reason and a review date' });
    if (m.type === 'proxied' && !m.proxy) ctx.addIssue({ code: 'custom', message: 'a proxied endpoint needs proxy' });
  });

export const EndpointSchema = z
  .object({
    name: z.string().regex(NAME, `endpoint name ${NAME_MSG}`),
    title: z.string().optional(),
    ref: z.string().optional(),
    category: z.enum([
      'registry',
      'chart-repository',
      'package-repository',
      'download',
      'license',
      'telemetry',
      'notification',
      'billing',
      'cloud-api',
      'storage',
      'dns',
      'identity',
      'analytics',
      'update',
      'other',
    ]),
    hosts: z.array(z.string().min(1)).optional().describe('Hostnames or addresses (no wildcards in firewall output).'),
    urls: z.array(z.string().min(1)).optional(),
    from: z.string().min(1).describe('Zone that opens the connection.'),
    to: z.string().optional().describe('Zone the endpoint lives in (default: the zone named internet; required when there is none).'),
    side: z.enum(['server', 'browser']).default('server'),
    protocol: z.string().default('HTTPS'),
    transport: TransportSchema.optional().describe('Default: from the protocol, as for a connection.'),
    ports: z.array(PortSchema).optional().describe('Default: [443] for a transport with ports (tcp, udp, sctp…); none for icmp, esp, gre….'),
    ...ICMP_FIELDS,
    purpose: z.string().min(1),
    requirement: RequirementSchema.default('required'),
    condition: z.string().optional(),
    lifecycle: LifecycleSchema.default('runtime'),
    status: StatusSchema.optional().describe(STATUS_DOC),
    settings: z.array(z.string()).optional().describe('Settings that configure it (env vars, values keys).'),
    default: z.string().optional().describe('Default state as documented, e.g. "disabled".'),
    security: SecuritySchema.optional(),
    mitigation: MitigationSchema,
    checks: z.array(CheckSchema).optional().describe('Any one met means the mitigation is in place.'),
    notes: z.string().optional(),
    owner: z.string().min(1).optional().describe('Responsible owner or team for this endpoint. Omitted: the inventory says "not recorded".'),
  })
  .strict()
  .superRefine((e, ctx) => {
    if (!e.hosts?.length && !e.urls?.length) ctx.addIssue({ code: 'custom', message: 'an endpoint needs hosts or urls (use a <var> placeholder when the operator chooses)' });
  })
  .transform((e) => {
    const transport = e.transport ?? transportFromProtocol(e.protocol);
    return { ...e, transport, ports: e.ports ?? (hasPorts(transport) ? [443] : []) };
  });

export type Zone = z.infer<typeof ZoneSchema>;
export type Connection = z.infer<typeof ConnectionSchema>;
export type Endpoint = z.infer<typeof EndpointSchema>;
export type Check = z.infer<typeof CheckSchema>;
export type Mitigation = z.infer<typeof MitigationSchema>;
export type Security = z.infer<typeof SecuritySchema>;
export type Port = z.infer<typeof PortSchema>;
export type TriState = z.infer<typeof TriStateSchema>;
