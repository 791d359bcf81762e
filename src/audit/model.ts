import { FerryError } from '../errors.js';
import type { LoadedManifest, Manifest } from '../kinds/schema.js';
import { ALL_KINDS, type KindName } from '../kinds/index.js';
import { ConnectionSchema, EndpointSchema, hasPorts, icmpMatch, ipProtocolLabel, parseIcmpType, ZoneSchema, type Connection, type Endpoint, type IcmpMatch, type Port, type Zone } from '../kinds/endpoint/spec.js';
import { issuesToProblems } from '../manifest/validate.js';
import { normalizeImageReference } from '../oci/reference.js';
import { chartOciReference, hostOfUrl } from '../mapping/index.js';

export { hostOfUrl };

/**
 * The connection model of one manifest, with `<var>` placeholders expanded: zones,
 * connections, endpoints, and the upstream hosts the artifact sections carry (mirrored).
 * Placeholders without a value stay as they are; renderers show them as named variables.
 */
export interface MirroredUpstream {
  /** The host the manifest names (a registry, a chart repository, a download or APT host). */
  host: string;
  /**
   * Other hosts a fetch from `host` reaches for the same artifacts, sorted: Docker Hub's API, auth
   * and CDN hosts under docker.io, GitHub's release hosts under a *.github.io chart repository.
   * Counted under `host`, not as upstreams of their own.
   */
  serviceHosts: string[];
  kind: KindName;
  /** Upstream references or URLs carried for this host, sorted. */
  items: string[];
}

export interface ConnectionModel {
  name: string;
  description?: string;
  zones: Zone[];
  connections: Connection[];
  endpoints: Endpoint[];
  mirrored: MirroredUpstream[];
  /** The manifest's entries of every kind, by the kind's field (the audit asks each kind what they carry). */
  entries: Record<string, unknown[]>;
  artifacts: {
    images: string[];
    charts: Array<{ repo: string; name: string; version: string; reference: string }>;
    files: string[];
    apt: string[];
  };
}

const PLACEHOLDER = /<([A-Za-z_][A-Za-z0-9_-]*)>/g;
export const isPlaceholder = (s: string): boolean => /<[A-Za-z_][A-Za-z0-9_-]*>/.test(s);

type Vars = NonNullable<Manifest['vars']>;

function substituteScalar(s: string, vars: Vars): string {
  return s.replace(PLACEHOLDER, (whole, name: string) => {
    const v = vars[name];
    if (v === undefined) return whole;
    return Array.isArray(v) ? v.map(String).join(', ') : String(v);
  });
}

/** One string in a list becomes several when it uses list vars (every combination). */
function substituteInList(s: string, vars: Vars): string[] {
  let out = [s];
  const names = [...new Set([...s.matchAll(PLACEHOLDER)].map((m) => m[1]))].sort();
  for (const name of names) {
    const v = vars[name];
    if (v === undefined) continue;
    const values = Array.isArray(v) ? v.map(String) : [String(v)];
    out = out.flatMap((x) => values.map((val) => x.split(`<${name}>`).join(val)));
  }
  return out;
}

function expand(value: unknown, vars: Vars): unknown {
  if (typeof value === 'string') return substituteScalar(value, vars);
  if (Array.isArray(value)) {
    return value.flatMap((v) => {
      if (typeof v !== 'string') return [expand(v, vars)];
      const parts = substituteInList(v, vars);
      // A whole-number port written as a var stays a number.
      return parts.map((p) => (/^\d+$/.test(p) && p !== v ? Number(p) : p));
    });
  }
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, expand(v, vars)]));
  return value;
}

/** Host part of an endpoint URL or host entry, lowercased. */
export function endpointHosts(e: Pick<Endpoint, 'hosts' | 'urls'>): string[] {
  const out = new Set<string>();
  for (const h of e.hosts ?? []) out.add(h.toLowerCase());
  for (const u of e.urls ?? []) {
    const h = /^[a-z][a-z0-9+.-]*:\/\//i.test(u) ? hostOfUrl(u) : u.split('/')[0].toLowerCase();
    if (h) out.add(h);
  }
  return [...out].sort();
}

export function buildConnectionModel(loaded: LoadedManifest): ConnectionModel {
  const m = loaded.manifest;
  const vars: Vars = m.vars ?? {};
  const problems: string[] = [];

  const reparse = <T>(schema: { safeParse(d: unknown): { success: true; data: T } | { success: false; error: { issues: ReadonlyArray<never> } } }, list: unknown[], field: string): T[] =>
    list.flatMap((raw, i) => {
      // Twice: a var's value may itself use a var (cloud_api_host: ec2.<aws_region>.amazonaws.com).
      const expanded = expand(expand(raw, vars), vars);
      const r = schema.safeParse(expanded);
      if (!r.success) {
        problems.push(...issuesToProblems(r.error.issues, [field, i], undefined, expanded));
        return [];
      }
      return [r.data];
    });

  const zones = reparse<Zone>(ZoneSchema as never, m.zones, 'zones');
  const connections = reparse<Connection>(ConnectionSchema as never, m.connections, 'connections');
  const endpoints = reparse<Endpoint>(EndpointSchema as never, m.endpoints, 'endpoints');

  const zoneNames = new Set<string>();
  zones.forEach((z, i) => {
    if (zoneNames.has(z.name)) problems.push(`zones[${i}].name: duplicate zone ${z.name}`);
    zoneNames.add(z.name);
  });
  const endpointNames = new Set<string>();
  endpoints.forEach((e, i) => {
    if (endpointNames.has(e.name)) problems.push(`endpoints[${i}].name: duplicate endpoint ${e.name}`);
    endpointNames.add(e.name);
    if (!zoneNames.has(e.from)) problems.push(`endpoints[${i}].from: no zone named ${e.from}`);
    if (e.to && !zoneNames.has(e.to)) problems.push(`endpoints[${i}].to: no zone named ${e.to}`);
  });
  const connectionNames = new Set<string>();
  connections.forEach((c, i) => {
    if (connectionNames.has(c.name)) problems.push(`connections[${i}].name: duplicate connection ${c.name}`);
    connectionNames.add(c.name);
    if (!zoneNames.has(c.from)) problems.push(`connections[${i}].from: no zone named ${c.from}`);
    if (!zoneNames.has(c.to)) problems.push(`connections[${i}].to: no zone named ${c.to}`);
    if (c.endpoint && !endpointNames.has(c.endpoint)) problems.push(`connections[${i}].endpoint: no endpoint named ${c.endpoint}`);
    problems.push(...portProblems(`connections[${i}]`, c.ports ?? [], c.transport), ...icmpProblems(`connections[${i}]`, c));
  });
  endpoints.forEach((e, i) => problems.push(...portProblems(`endpoints[${i}]`, e.ports, e.transport), ...icmpProblems(`endpoints[${i}]`, e)));
  if (problems.length) {
    throw new FerryError('VALIDATION', `${loaded.file}: ${problems.length} problem${problems.length === 1 ? '' : 's'} in the connection model`, {
      details: problems,
      hint: 'Fix each listed field; zones, connections and endpoints refer to each other by name.',
    });
  }

  // Upstream hosts the artifact sections carry: these are mirrored by construction.
  const images = m.images.map((i) => normalizeImageReference(i.ref)).sort();
  const charts = m.charts
    .map((c) => ({ repo: c.repo, name: c.name, version: c.version, reference: chartOciReference(c.repo, c.name, c.version) }))
    .sort((a, b) => a.reference.localeCompare(b.reference));
  const files = m.files.map((f) => f.url).sort();
  const apt = m.apt.map((a) => a.url).sort();
  const mirroredMap = new Map<string, MirroredUpstream>();
  // Each kind says which hosts its specs reach: the one the spec names first, then those a fetch from
  // it also reaches (Docker Hub's pull hosts, GitHub release hosts of a chart repository), grouped
  // under it: one docker.io image is one upstream with three more hosts, not four upstreams.
  for (const kind of ALL_KINDS) {
    if (!kind.upstreamHosts) continue;
    for (const spec of (m as unknown as Record<string, unknown[] | undefined>)[kind.field] ?? []) {
      const [first, ...rest] = kind.upstreamHosts(spec).filter((h) => h.host);
      if (!first) continue;
      const key = `${kind.name} ${first.host}`;
      const entry = mirroredMap.get(key) ?? { host: first.host, serviceHosts: [], kind: kind.name as KindName, items: [] };
      if (!entry.items.includes(first.item)) entry.items.push(first.item);
      for (const { host } of rest) if (host !== first.host && !entry.serviceHosts.includes(host)) entry.serviceHosts.push(host);
      mirroredMap.set(key, entry);
    }
  }
  const mirrored = [...mirroredMap.values()]
    .map((e) => ({ ...e, serviceHosts: e.serviceHosts.sort(), items: e.items.sort() }))
    .sort((a, b) => a.host.localeCompare(b.host) || a.kind.localeCompare(b.kind));

  return {
    name: m.metadata.name,
    description: m.metadata.description,
    zones,
    connections,
    endpoints,
    mirrored,
    entries: Object.fromEntries(ALL_KINDS.map((k) => [k.field, (m as unknown as Record<string, unknown[] | undefined>)[k.field] ?? []])),
    artifacts: { images, charts, files, apt },
  };
}

/**
 * Ports must be low-high ranges and only on a transport that has ports: `esp` or `icmp` with
 * ports would be written as the whole protocol (every firewall matches ESP as a protocol), so
 * a port list there is a document misread, refused rather than dropped.
 */
function portProblems(where: string, ports: Port[], transport: string): string[] {
  const out: string[] = [];
  for (const p of ports) {
    if (typeof p === 'string') {
      const [a, b] = p.split('-').map(Number);
      if (a > b || b > 65535) out.push(`${where}.ports: range ${p} is not low-high within 0-65535`);
    }
  }
  if (ports.length && !hasPorts(transport) && transport !== 'other' && transport !== 'unix') {
    out.push(`${where}.ports: transport ${transport} (${ipProtocolLabel(transport)}) has no ports; ${transport === 'icmp' ? 'ICMP is allowed as a protocol' : 'it is matched as a whole IP protocol'} — remove ports, or give the transport that carries them (e.g. udp for IKE 500/4500 beside esp)`);
  }
  return out;
}

/** ICMP types and codes are 0-255, and only on transport icmp (on udp they would be read as nothing, or dropped). */
function icmpProblems(where: string, f: { transport: string; icmpTypes?: Array<number | string>; icmpv6Types?: Array<number | string> }): string[] {
  const out: string[] = [];
  for (const field of ['icmpTypes', 'icmpv6Types'] as const) {
    const list = f[field];
    if (list === undefined) continue;
    if (f.transport !== 'icmp') out.push(`${where}.${field}: only a connection with transport icmp has ICMP types (this one is ${f.transport}); write the ICMP messages as a connection of their own`);
    list.forEach((t, j) => {
      const { type, code } = parseIcmpType(t);
      if (type > 255 || (code ?? 0) > 255) out.push(`${where}.${field}[${j}]: ${t} is not an ICMP type/code (each 0-255)`);
    });
  }
  return out;
}

export function zoneByName(model: ConnectionModel, name: string): Zone | undefined {
  return model.zones.find((z) => z.name === name);
}

export function portsText(ports: Port[] | undefined, note?: string): string {
  const list = (ports ?? []).map(String);
  if (note) return list.length ? `${list.join(', ')} (${note})` : note;
  return list.join(', ') || 'any';
}

/** Endpoints and connections as one list of flows, for matrices and firewall rules. */
export interface Flow {
  kind: 'connection' | 'endpoint';
  name: string;
  ref?: string;
  component?: string;
  from: string;
  to: string;
  destination: string;
  hosts: string[];
  direction: Connection['direction'];
  scope: Connection['scope'];
  protocol: string;
  transport: Connection['transport'];
  ports: Port[];
  /** transport icmp: the messages allowed per family; undefined: every ICMP message. */
  icmp?: IcmpMatch;
  portNote?: string;
  security: NonNullable<Connection['security']>;
  purpose: string;
  notes?: string;
  requirement: Connection['requirement'];
  condition?: string;
  lifecycle: Connection['lifecycle'];
  status: NonNullable<Connection['status']>;
  /** False: the manifest wrote no status, and `status` is the default (confirmed). */
  statusRecorded: boolean;
  statusNote?: string;
  endpoint?: Endpoint;
  side: 'server' | 'browser';
}

/**
 * Where an endpoint lives when the manifest does not say: endpoints are services outside the
 * system (registries, license servers, APIs), so the internet (the zone of that name, whether
 * or not the manifest lists it). Never "the first external zone": a browser or operator zone
 * is external too, and list order is no evidence.
 */
export const INTERNET_ZONE = 'internet';

/** Protocols whose scheme itself encrypts and integrity-protects the traffic. */
const SECURE_SCHEME = /\b(https|tls|mtls|ssl|ssh|sftp|wss|grpcs|ldaps)\b/i;

/**
 * The security a flow has: what the manifest records, plus C and I from a secure scheme
 * (HTTPS, TLS, SSH…) where the manifest does not say. Authentication and trust are never
 * derived: unknown stays unknown.
 */
export function effectiveSecurity(protocol: string, security: Connection['security']): NonNullable<Connection['security']> {
  const s = { ...(security ?? {}) };
  if (SECURE_SCHEME.test(protocol)) {
    if (s.encrypted === undefined) s.encrypted = true;
    if (s.integrity === undefined) s.integrity = true;
  }
  return s;
}

/**
 * The status a flow is taken to have, and whether the manifest wrote it: an omitted status is
 * taken as confirmed (the flow is listed, so the firewall allows it, as before), but the evidence
 * must not say "confirmed" where nobody wrote so.
 */
function statusOf(status: Connection['status']): Pick<Flow, 'status' | 'statusRecorded'> {
  return { status: status ?? 'confirmed', statusRecorded: status !== undefined };
}

export function flowsOf(model: ConnectionModel): Flow[] {
  const byName = new Map(model.endpoints.map((e) => [e.name, e]));
  const flows: Flow[] = model.connections.map((c) => {
    const ep = c.endpoint ? byName.get(c.endpoint) : undefined;
    return {
      kind: 'connection',
      name: c.name,
      ref: c.ref,
      component: c.component ?? c.source,
      from: c.from,
      to: c.to,
      destination: c.destination ?? ep?.title ?? ep?.name ?? (c.direction === 'inbound' ? c.component : undefined) ?? (c.hosts?.length ? c.hosts.join(', ') : undefined) ?? c.to,
      hosts: c.hosts ?? (ep ? endpointHosts(ep) : []),
      direction: c.direction,
      scope: c.scope,
      protocol: c.protocol,
      transport: c.transport,
      ports: c.ports ?? [],
      icmp: icmpMatch(c.icmpTypes, c.icmpv6Types),
      portNote: c.portNote,
      security: effectiveSecurity(c.protocol, c.security),
      purpose: c.purpose,
      notes: c.notes,
      requirement: c.requirement,
      condition: c.condition,
      lifecycle: c.lifecycle,
      ...statusOf(c.status),
      statusNote: c.statusNote,
      endpoint: ep,
      side: 'server',
    };
  });
  const linked = new Set(model.connections.map((c) => c.endpoint).filter(Boolean));
  for (const e of model.endpoints) {
    if (linked.has(e.name)) continue;
    flows.push({
      kind: 'endpoint',
      name: e.name,
      ref: e.ref,
      component: e.title ?? e.name,
      from: e.from,
      to: e.to ?? INTERNET_ZONE,
      destination: endpointHosts(e).join(', '),
      hosts: endpointHosts(e),
      direction: 'outbound',
      scope: 'external',
      protocol: e.protocol,
      transport: e.transport,
      ports: e.ports,
      icmp: icmpMatch(e.icmpTypes, e.icmpv6Types),
      security: effectiveSecurity(e.protocol, e.security),
      purpose: e.purpose,
      notes: e.notes,
      requirement: e.requirement,
      condition: e.condition,
      lifecycle: e.lifecycle,
      ...statusOf(e.status),
      endpoint: e,
      side: e.side,
    });
  }
  return flows;
}
