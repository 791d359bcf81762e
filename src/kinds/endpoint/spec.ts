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

export const TransportSchema = z.enum(['tcp', 'udp', 'tcp+udp', 'icmp', 'unix', 'other']);
export type Transport = z.infer<typeof TransportSchema>;

/** Protocols that run over UDP only: written as the `protocol` with no `transport`, they mean UDP. */
const UDP_PROTOCOLS = new Set(['UDP', 'VXLAN', 'GENEVE', 'WIREGUARD', 'NTP', 'DHCP', 'DHCPV6', 'TFTP', 'SNMP', 'QUIC', 'IKE', 'BFD', 'RADIUS', 'IPMI', 'RMCP']);
/** Protocols that use both (DNS answers over UDP and falls back to TCP). */
const TCP_UDP_PROTOCOLS = new Set(['DNS']);

/**
 * The transport a connection's `protocol` implies when the manifest gives no `transport`:
 * `VXLAN`, `WireGuard`, `UDP`, `NTP` … are UDP, `DNS` and `TCP/UDP` both, `ICMP` ICMP, anything
 * else TCP. Without this a CNI overlay written `protocol: VXLAN` became a TCP rule and the firewall
 * dropped every packet of the pod network.
 */
export function transportFromProtocol(protocol: string): Transport {
  const words = protocol.toUpperCase().split(/[^A-Z0-9]+/).filter(Boolean);
  const udp = words.some((w) => UDP_PROTOCOLS.has(w));
  const tcp = words.includes('TCP');
  if ((udp && tcp) || words.some((w) => TCP_UDP_PROTOCOLS.has(w))) return 'tcp+udp';
  if (udp) return 'udp';
  if (!tcp && words.some((w) => w === 'ICMP' || w === 'PING')) return 'icmp';
  return 'tcp';
}
export const RequirementSchema = z.enum(['required', 'optional', 'conditional']);
export const LifecycleSchema = z.enum(['runtime', 'bootstrap', 'install']);
export const StatusSchema = z.enum(['confirmed', 'tbd', 'blocked']);

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
    equals: z.union([z.string(), z.number(), z.boolean()]).optional(),
    notEquals: z.union([z.string(), z.number(), z.boolean()]).optional(),
    present: z.boolean().optional().describe('true (default): the key must be set and non-empty; false: it must be absent.'),
    whenMissing: z.enum(['met', 'unmet']).default('unmet').describe('Result when no scanned file sets the key (met when the default is safe).'),
    files: z.array(z.string()).optional().describe('Only files whose path ends with one of these.'),
    description: z.string().optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.kind === 'text' ? !c.pattern : !c.key) ctx.addIssue({ code: 'custom', message: c.kind === 'text' ? 'a text check needs pattern' : `a ${c.kind} check needs key` });
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
    transport: TransportSchema.optional().describe('Default: from the protocol (VXLAN, WireGuard, UDP, NTP… udp; DNS, TCP/UDP tcp+udp; ICMP icmp), else tcp.'),
    ports: z.array(PortSchema).optional(),
    portNote: z.string().optional().describe('Ports in words when not a fixed list ("socket / dynamic TCP").'),
    security: SecuritySchema.optional(),
    purpose: z.string().min(1),
    notes: z.string().optional(),
    requirement: RequirementSchema.default('required'),
    condition: z.string().optional().describe('The setting or feature that enables it (for conditional/optional).'),
    lifecycle: LifecycleSchema.default('runtime'),
    status: StatusSchema.default('confirmed'),
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
    ports: z.array(PortSchema).default([443]),
    purpose: z.string().min(1),
    requirement: RequirementSchema.default('required'),
    condition: z.string().optional(),
    lifecycle: LifecycleSchema.default('runtime'),
    status: StatusSchema.default('confirmed'),
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
  .transform((e) => ({ ...e, transport: e.transport ?? transportFromProtocol(e.protocol) }));

export type Zone = z.infer<typeof ZoneSchema>;
export type Connection = z.infer<typeof ConnectionSchema>;
export type Endpoint = z.infer<typeof EndpointSchema>;
export type Check = z.infer<typeof CheckSchema>;
export type Mitigation = z.infer<typeof MitigationSchema>;
export type Security = z.infer<typeof SecuritySchema>;
export type Port = z.infer<typeof PortSchema>;
export type TriState = z.infer<typeof TriStateSchema>;
