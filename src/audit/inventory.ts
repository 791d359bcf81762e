import { hasPorts, icmpMatch, icmpTypeText, ipProtocolLabel, type Endpoint, type IcmpMatch, type Port, type TriState, type Zone } from '../kinds/endpoint/spec.js';
import { endpointHosts, flowsOf, type ConnectionModel, type Flow, type MirroredUpstream } from './model.js';
import { skipReason } from './firewall/ruleset.js';

/**
 * The connection inventory: the record CMMC Level 1 AC.L1-b.1.iii (AC.L1-3.1.20) asks for,
 * built from the manifest. Rows keep the manifest's order (which follows the source document);
 * everything derived is sorted. No timestamps.
 */
export interface InventoryRow {
  ref: string;
  name: string;
  kind: Flow['kind'];
  component: string;
  from: string;
  to: string;
  destination: string;
  hosts: string[];
  protocol: string;
  ports: string;
  c: string;
  i: string;
  auth: string;
  trust: string;
  authMethod: string;
  direction: Flow['direction'];
  scope: Flow['scope'];
  purpose: string;
  requirement: Flow['requirement'];
  condition: string;
  lifecycle: Flow['lifecycle'];
  status: Flow['status'];
  /** False: the manifest wrote no status; `status` is then the default, confirmed. */
  statusRecorded: boolean;
  statusNote: string;
  mitigation: string;
  notes: string;
  /** Responsible owner or team; null: the manifest does not record one (printed "not recorded"). */
  owner: string | null;
}

export interface ChecklistItem {
  text: string;
  name: string;
}

/** One row of a framework mapping: a practice or control, the objective or part, and what this inventory shows for it. */
export interface CmmcObjective {
  practice: string;
  objective: string;
  statement: string;
  evidence: string;
}

export interface EndpointSummary {
  name: string;
  title: string;
  category: Endpoint['category'];
  from: string;
  side: Endpoint['side'];
  hosts: string[];
  urls: string[];
  ports: string;
  purpose: string;
  requirement: Endpoint['requirement'];
  condition: string;
  lifecycle: Endpoint['lifecycle'];
  settings: string[];
  default: string;
  mitigation: Endpoint['mitigation'];
  checks: string[];
  owner: string | null;
}

export interface Inventory {
  system: string;
  description: string;
  zones: Array<{ name: string; title: string; cidrs: string[]; hosts: string[]; external: boolean; description: string }>;
  inbound: InventoryRow[];
  outbound: InventoryRow[];
  internal: InventoryRow[];
  local: InventoryRow[];
  matrix: InventoryRow[];
  endpoints: EndpointSummary[];
  mirrored: MirroredUpstream[];
  open: InventoryRow[];
  /** What `ferry audit` verifies: mitigation checks of endpoints, configuration checks of connections. */
  checks: Array<{ subject: 'endpoint' | 'connection'; name: string; check: string }>;
  checklist: { requiredForAll: ChecklistItem[]; onlyIfEnabled: ChecklistItem[] };
  /** CMMC Level 1 (FAR 52.204-21 / AC.L1-3.1.20, SC.L1-3.13.1). */
  cmmc: CmmcObjective[];
  /** CMMC Level 2 (NIST SP 800-171 r2, objectives from SP 800-171A). */
  cmmcLevel2: CmmcObjective[];
  /** NIST SP 800-53 r5 controls of the FedRAMP Moderate baseline. */
  nist80053: CmmcObjective[];
}

/** What an absent owner prints as: blank would read as "no owner needed". */
export const NOT_RECORDED = 'not recorded';
export const ownerText = (owner: string | null): string => owner ?? NOT_RECORDED;

/** x = yes, blank = no (recorded as false), ? = unknown or not recorded: blank must never mean "not known". */
export function mark(v: TriState | undefined): string {
  return v === true ? 'x' : v === false ? '' : '?';
}

export function portsLabel(ports: Port[], transport: Flow['transport'], note?: string, icmp?: IcmpMatch): string {
  if (transport === 'unix') return note ?? 'unix socket';
  // Only the listed ICMP messages: `icmp 8/0; icmpv6 128/0`, or "no ICMPv6" so the family left out is visible.
  if (transport === 'icmp' && icmp) {
    const fam = (name: string, list: IcmpMatch['v4']) => `${name} ${list.length ? list.map(icmpTypeText).join(', ') : 'none'}`;
    return `${fam('icmp', icmp.v4)}; ${fam('icmpv6', icmp.v6)}${note ? ` (${note})` : ''}`;
  }
  // ESP, GRE, VRRP… have no ports: the protocol is what a firewall matches, by number.
  if (transport !== 'other' && transport !== 'icmp' && !hasPorts(transport)) return note ? `${ipProtocolLabel(transport)} (${note})` : ipProtocolLabel(transport);
  const proto = transport === 'other' ? '' : `/${transport}`;
  const list = ports.map((p) => `${p}${proto}`).join(', ');
  if (note) return list ? `${list} (${note})` : note;
  // `other` without ports: the document did not say which IP protocols (VPN, IPsec): unknown, not "any".
  return list || (transport === 'icmp' ? 'icmp' : transport === 'other' ? 'unknown (no IP protocol given)' : `any${proto}`);
}

function mitigationText(e: Endpoint | undefined): string {
  if (!e) return '';
  const m = e.mitigation;
  const bits: string[] = [m.type];
  if (m.description) bits.push(m.description);
  if (m.type === 'exception') bits.push(`reason: ${m.reason}; review by ${m.review}`);
  if (m.type === 'proxied') bits.push(`via ${m.proxy}`);
  return bits.join(' — ');
}

function checkText(c: NonNullable<Endpoint['checks']>[number]): string {
  if (c.description) return `${c.kind}: ${c.description}`;
  if (c.kind === 'text') return `text: ${c.pattern}`;
  const cond = c.equals !== undefined ? ` = ${c.equals}` : c.notEquals !== undefined ? ` ≠ ${c.notEquals}` : c.present === false ? ' absent' : ' set';
  return `${c.kind}: ${c.key}${cond}`;
}

export function buildInventory(model: ConnectionModel): Inventory {
  const connectionOwner = new Map(model.connections.map((c) => [c.name, c.owner]));
  const zoneTitle = new Map(model.zones.map((z) => [z.name, z.title ?? z.name]));
  const title = (z: string) => zoneTitle.get(z) ?? z;
  const rows = flowsOf(model).map(
    (f): InventoryRow => ({
      ref: f.ref ?? '',
      name: f.name,
      kind: f.kind,
      component: f.component ?? '',
      from: title(f.from),
      to: title(f.to),
      destination: f.destination === f.to ? title(f.to) : f.destination,
      hosts: f.hosts,
      protocol: f.protocol,
      ports: portsLabel(f.ports, f.transport, f.portNote, f.icmp),
      c: mark(f.security.encrypted),
      i: mark(f.security.integrity),
      auth: mark(f.security.authenticated),
      trust: mark(f.security.trustedOnly),
      authMethod: f.security.auth ?? '',
      direction: f.direction,
      scope: f.scope,
      purpose: f.purpose,
      requirement: f.requirement,
      condition: f.condition ?? '',
      lifecycle: f.lifecycle,
      status: f.status,
      statusRecorded: f.statusRecorded,
      statusNote: f.statusNote ?? '',
      mitigation: mitigationText(f.endpoint),
      notes: f.notes ?? '',
      owner: (f.kind === 'connection' ? connectionOwner.get(f.name) : undefined) ?? f.endpoint?.owner ?? null,
    }),
  );

  const endpoints: EndpointSummary[] = model.endpoints.map((e) => ({
    name: e.name,
    title: e.title ?? e.name,
    category: e.category,
    from: title(e.from),
    side: e.side,
    hosts: endpointHosts(e),
    urls: e.urls ?? [],
    ports: portsLabel(e.ports, e.transport, undefined, icmpMatch(e.icmpTypes, e.icmpv6Types)),
    purpose: e.purpose,
    requirement: e.requirement,
    condition: e.condition ?? '',
    lifecycle: e.lifecycle,
    settings: e.settings ?? [],
    default: e.default ?? '',
    mitigation: e.mitigation,
    checks: (e.checks ?? []).map(checkText),
    owner: e.owner ?? null,
  }));

  const external = rows.filter((r) => r.scope === 'external');
  const requiredForAll: ChecklistItem[] = [];
  const onlyIfEnabled: ChecklistItem[] = [];
  for (const r of external) {
    const where = r.kind === 'endpoint' || r.direction === 'outbound' ? `${r.from} → ${r.hosts.length ? r.hosts.join(', ') : r.destination}` : `${r.from} → ${r.to}: ${r.component || r.destination}`;
    const base = `${where} (${r.ports}) — ${r.purpose}`;
    const mit = r.mitigation ? ` [mitigation: ${r.mitigation.split(' — ').slice(0, 2).join(': ')}]` : '';
    if (r.status === 'blocked') continue;
    if (r.requirement === 'required' && r.lifecycle !== 'install') {
      const when = r.lifecycle === 'bootstrap' ? ' — only during bootstrap' : '';
      const cond = r.condition && r.lifecycle === 'runtime' ? ` — for ${r.condition}` : r.condition ? ` (${r.condition})` : '';
      requiredForAll.push({ name: r.name, text: `${base}${cond}${when}${mit}` });
    } else {
      const cond = r.condition ? ` — only if ${r.condition}` : r.requirement === 'optional' ? ' — optional' : '';
      const when = r.lifecycle === 'install' ? ' — only at install/upgrade time, not at runtime' : r.lifecycle === 'bootstrap' ? ' — only during bootstrap' : '';
      onlyIfEnabled.push({ name: r.name, text: `${base}${cond}${when}${mit}` });
    }
  }
  // A preset that avoids a conditional call is itself a requirement (CCX: cmon.license pre-set).
  for (const e of model.endpoints) {
    if (e.mitigation.type === 'preset' && e.requirement !== 'required' && e.mitigation.description) {
      requiredForAll.push({ name: e.name, text: `${e.mitigation.description} (avoids ${e.title ?? e.name}: ${endpointHosts(e).join(', ')})` });
    }
  }

  const matrix = rows;
  const zones = model.zones.map((z: Zone) => ({
    name: z.name,
    title: z.title ?? z.name,
    cidrs: z.cidrs ?? [],
    hosts: z.hosts ?? [],
    external: z.external,
    description: z.description ?? '',
  }));

  const count = (xs: unknown[]) => xs.length;
  const byMitigation = new Map<string, number>();
  for (const e of model.endpoints) byMitigation.set(e.mitigation.type, (byMitigation.get(e.mitigation.type) ?? 0) + 1);
  const mitigationCounts = [...byMitigation.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${v} ${k}`).join(', ') || 'none';
  const externalFlows = flowsOf(model).filter((f) => f.scope === 'external');
  const authed = externalFlows.filter((f) => f.security.authenticated === true).length;
  const unknownAuth = externalFlows.filter((f) => f.security.authenticated === 'unknown' || f.security.authenticated === undefined).length;
  const checks = model.endpoints.reduce((n, e) => n + (e.checks?.length ?? 0), 0) + model.connections.reduce((n, c) => n + (c.checks?.length ?? 0), 0);
  const open = rows.filter((r) => r.status !== 'confirmed');
  const zonesWithCidrs = model.zones.filter((z) => z.cidrs?.length).length;

  const cmmc: CmmcObjective[] = [
    { practice: 'AC.L1-b.1.iii (AC.L1-3.1.20)', objective: '[a]', statement: 'Connections to external systems are identified.', evidence: `${count(external)} flow(s) with scope: external (each flow's own field, not its zones' external flag), listed under Inbound listeners and Outbound connections, each with zones, protocol and ports.` },
    { practice: 'AC.L1-b.1.iii (AC.L1-3.1.20)', objective: '[b]', statement: 'The use of external systems is identified.', evidence: `${count(model.endpoints)} external endpoint(s) with purpose, requirement and condition; ${upstreamsText(model.mirrored)} whose artifacts the manifest lists to carry across the gap (from the manifest: no bundle is read here).` },
    { practice: 'AC.L1-b.1.iii (AC.L1-3.1.20)', objective: '[c]', statement: 'Connections to external systems are verified.', evidence: `C / I / Auth / Trust and the authentication method recorded per connection: ${authed} of ${count(external)} external connection(s) authenticated, ${unknownAuth} unknown or not recorded in the source. \`ferry probe\` records what is reachable from a host.` },
    { practice: 'AC.L1-b.1.iii (AC.L1-3.1.20)', objective: '[d]', statement: 'The use of external systems is verified.', evidence: `${checks} check(s) that \`ferry audit\` runs against the deployed configuration; audit classifies every reference found in it.` },
    { practice: 'AC.L1-b.1.iii (AC.L1-3.1.20)', objective: '[e]', statement: 'Connections to external systems are controlled/limited.', evidence: `\`ferry firewall\` emits default-deny allowlists (nftables, iptables, squid, NetworkPolicy, Cilium, OpenStack and AWS security groups); ${count(open)} connection(s) TBD or blocked stay closed.` },
    { practice: 'AC.L1-b.1.iii (AC.L1-3.1.20)', objective: '[f]', statement: 'The use of external systems is controlled/limited.', evidence: `Mitigations: ${mitigationCounts}.` },
    { practice: 'SC.L1-b.1.x (SC.L1-3.13.1)', objective: '[a]–[h]', statement: 'Communications at external and key internal boundaries are monitored, controlled and protected.', evidence: `${count(model.zones)} zone(s) (${zonesWithCidrs} with CIDRs); the cross-zone matrix lists ${count(matrix)} flow(s) with their boundary and security properties.` },
  ];

  const { cmmcLevel2, nist80053 } = frameworkMappings(model, rows, zones);

  return {
    system: model.name,
    description: model.description ?? '',
    zones,
    inbound: rows.filter((r) => r.direction === 'inbound'),
    outbound: rows.filter((r) => r.direction === 'outbound'),
    internal: rows.filter((r) => r.direction === 'internal'),
    local: rows.filter((r) => r.direction === 'local'),
    matrix,
    endpoints,
    mirrored: model.mirrored,
    open,
    checks: [
      ...model.endpoints.flatMap((e) => (e.checks ?? []).map((c) => ({ subject: 'endpoint' as const, name: e.name, check: checkText(c) }))),
      ...model.connections.flatMap((c) => (c.checks ?? []).map((k) => ({ subject: 'connection' as const, name: c.name, check: checkText(k) }))),
    ],
    checklist: { requiredForAll, onlyIfEnabled },
    cmmc,
    cmmcLevel2,
    nist80053,
  };
}

/** `3 upstream source(s)`, and the hosts they are fetched through when more (docker.io's API, auth and CDN hosts). */
function upstreamsText(mirrored: MirroredUpstream[]): string {
  const hosts = new Set(mirrored.flatMap((m) => [m.host, ...m.serviceHosts])).size;
  return `${mirrored.length} upstream source(s)${hosts > mirrored.length ? ` (${hosts} host(s) with their API, auth and download hosts)` : ''}`;
}

/** A mirrored upstream's host cell: `docker.io (also auth.docker.io, …)`. */
export const upstreamHostText = (m: MirroredUpstream): string => (m.serviceHosts.length ? `${m.host} (also ${m.serviceHosts.join(', ')})` : m.host);

/** Names of flows for evidence text: `ref name`, in inventory order. */
function flowNames(rows: InventoryRow[]): string {
  return rows.map((r) => (r.ref ? `${r.ref} ${r.name}` : r.name)).join(', ');
}

function listed(label: string, rows: InventoryRow[]): string {
  return `${label}: ${rows.length}${rows.length ? ` (${flowNames(rows)})` : ''}`;
}

/**
 * CMMC Level 2 and NIST SP 800-53 (FedRAMP) rows, computed from the manifest only. Where the
 * manifest has no field for what an objective asks (approvals, agreements, monitoring, physical
 * safeguards), the evidence says "not recorded": this is evidence for an assessor, never a
 * verdict, and nothing here says "met".
 */
function frameworkMappings(model: ConnectionModel, rows: InventoryRow[], zones: Inventory['zones']): { cmmcLevel2: CmmcObjective[]; nist80053: CmmcObjective[] } {
  const transmitted = rows.filter((r) => r.direction !== 'local');
  const external = transmitted.filter((r) => r.scope === 'external');
  const internal = transmitted.filter((r) => r.scope !== 'external');
  const encrypted = transmitted.filter((r) => r.c === 'x');
  const unencrypted = transmitted.filter((r) => r.c === '');
  const encUnknown = transmitted.filter((r) => r.c === '?');
  const noIntegrity = transmitted.filter((r) => r.i === '');
  const intUnknown = transmitted.filter((r) => r.i === '?');
  const owned = (xs: InventoryRow[]) => xs.filter((r) => r.owner !== null).length;
  const confirmed = rows.filter((r) => r.status === 'confirmed').length;
  const open = rows.filter((r) => r.status !== 'confirmed').length;
  // A status the manifest did not write is taken as confirmed (the firewall allows the flow), but
  // the evidence says so: "4 confirmed" must not count flows nobody recorded as confirmed.
  const statusText = (xs: InventoryRow[]) => {
    const assumed = xs.filter((r) => !r.statusRecorded).length;
    const said = xs.filter((r) => r.statusRecorded && r.status === 'confirmed').length;
    const opened = xs.filter((r) => r.status !== 'confirmed').length;
    return `${said} recorded as confirmed, ${assumed} with no status recorded (taken as confirmed), ${opened} TBD or blocked`;
  };
  const unrecorded = rows.filter((r) => !r.statusRecorded).length;
  const externalZones = zones.filter((z) => z.external);
  const internalZones = zones.filter((z) => !z.external);
  const pairs = new Set(rows.map((r) => `${r.from}\u0000${r.to}`)).size;
  const proxied = model.endpoints.filter((e) => e.mitigation.type === 'proxied');
  const proxies = [...new Set(proxied.map((e) => e.mitigation.proxy ?? ''))].filter(Boolean).sort();
  const exceptions = model.endpoints.filter((e) => e.mitigation.type === 'exception');
  const publicInbound = rows.filter((r) => r.direction === 'inbound' && zones.some((z) => z.external && z.title === r.from));
  // Two fields say "external": a flow's scope, and its zone's flag. Both counts are printed, each named,
  // and a flow where they disagree is named (a reviewer must not read two counts as a contradiction).
  const inboundScoped = rows.filter((r) => r.direction === 'inbound' && r.scope === 'external');
  const scopeZoneDiffer = rows.filter((r) => r.direction === 'inbound' && publicInbound.includes(r) !== (r.scope === 'external'));
  const directExternal = external.filter((r) => r.direction === 'outbound' && !(r.mitigation.startsWith('proxied')));
  // What `ferry firewall` writes without --enable: a mitigated (mirrored, preset, disabled), optional,
  // conditional, bootstrap- or install-only, TBD or blocked flow is a comment, not a rule. The
  // evidence said every direct flow was "allowed by the firewall output", a disabled one included.
  // rows are flowsOf(model), row for flow, in order.
  const flows = flowsOf(model);
  const allowed = new Set(rows.filter((_r, i) => skipReason(flows[i], []) === undefined));
  const allowedByDefault = (r: InventoryRow) => allowed.has(r);
  const directAllowed = directExternal.filter(allowedByDefault);
  const directClosed = directExternal.filter((r) => !allowedByDefault(r));
  const zoneList = (zs: Inventory['zones']) => (zs.length ? zs.map((z) => `${z.title}${z.cidrs.length ? '' : ' (CIDRs not recorded)'}`).join(', ') : 'none recorded');
  const allowlist =
    '`ferry firewall` writes default-deny allowlists from this inventory (nftables, iptables, ip6tables, squid, NetworkPolicy, Cilium, OpenStack and AWS security groups): the last rule of each denies, and only flows listed here are allowed.';
  const exceptionsText = `${confirmed} confirmed flow(s)${unrecorded ? ` (${unrecorded} of them with no status recorded, taken as confirmed)` : ''} are the exceptions a rule may allow; ${open} TBD or blocked stay closed; optional, only-if-enabled, bootstrap- or install-only and already-mitigated flows are written as comments unless \`--enable\` names them.`;
  const notDeployed = 'Whether these rules are loaded on the deployed boundary is not recorded in the manifest (`ferry probe` records what a host can reach).';
  const encryption = `${encrypted.length} of ${transmitted.length} network flow(s) recorded or derived (HTTPS, TLS, SSH…) as encrypted; ${listed('recorded as unencrypted', unencrypted)}; ${listed('unknown or not recorded', encUnknown)}. Local (same host) flows not counted.`;
  const integrity = `Integrity: ${transmitted.filter((r) => r.i === 'x').length} of ${transmitted.length} flow(s) protected; ${listed('recorded as not protected', noIntegrity)}; ${listed('unknown or not recorded', intUnknown)}.`;
  const ownerCount = (xs: InventoryRow[]) => `owner recorded for ${owned(xs)} of ${xs.length}`;

  const L2_3136 = 'SC.L2-3.13.6';
  const L2_3138 = 'SC.L2-3.13.8';
  const L2_313 = 'AC.L2-3.1.3';
  const L1_3131 = 'SC.L1-3.13.1 (3.13.1, assessed at Level 2)';
  const L2_3124 = 'CA.L2-3.12.4';
  const cmmcLevel2: CmmcObjective[] = [
    { practice: L2_3136, objective: '[a]', statement: 'Network communications traffic is denied by default.', evidence: `${allowlist} ${notDeployed}` },
    { practice: L2_3136, objective: '[b]', statement: 'Network communications traffic is allowed by exception.', evidence: exceptionsText },
    { practice: L2_3138, objective: '[a]', statement: 'Cryptographic mechanisms intended to prevent unauthorized disclosure of CUI are identified.', evidence: encryption },
    { practice: L2_3138, objective: '[b]', statement: 'Alternative physical safeguards intended to prevent unauthorized disclosure of CUI are identified.', evidence: `Not recorded: the manifest has no field for physical safeguards; the ${unencrypted.length + encUnknown.length} flow(s) not recorded as encrypted need one documented in the SSP, or encryption.` },
    {
      practice: L2_3138,
      objective: '[c]',
      statement: 'Either cryptographic mechanisms or alternative physical safeguards are implemented to prevent unauthorized disclosure of CUI during transmission.',
      evidence: `${encrypted.length} of ${transmitted.length} flow(s) encrypted (recorded or derived); not shown for ${unencrypted.length} recorded unencrypted and ${encUnknown.length} unknown (named under [a]). External: ${external.filter((r) => r.c === 'x').length} of ${external.length} encrypted.`,
    },
    { practice: L2_313, objective: '[b]', statement: 'Methods and enforcement mechanisms for controlling the flow of CUI are defined.', evidence: `${zones.length} zone(s) with the flows allowed between them; default-deny allowlists from \`ferry firewall\`; ${proxied.length} endpoint(s) reached through a proxy${proxies.length ? ` (${proxies.join(', ')})` : ''}.` },
    { practice: L2_313, objective: '[c]', statement: 'Designated sources and destinations (e.g., networks, individuals, and devices) for CUI within the system and between interconnected systems are identified.', evidence: `Cross-zone matrix: ${rows.length} flow(s) between ${pairs} zone pair(s), each with source zone, destination, hosts, protocol and ports; ${internal.length} within the system, ${external.length} to or from external systems. Which flows carry CUI is not recorded.` },
    { practice: L2_313, objective: '[d]', statement: 'Authorizations for controlling the flow of CUI are defined.', evidence: `Of ${rows.length} flow(s): ${statusText(rows)}; each has a purpose; ${ownerCount(rows)} flow(s). Who approved each flow, and when, is not recorded.` },
    { practice: L2_313, objective: '[e]', statement: 'Approved authorizations for controlling the flow of CUI are enforced.', evidence: `The allowlists admit only the inventory's flows. ${notDeployed}` },
    { practice: L1_3131, objective: '[a]–[b]', statement: 'The external system boundary and key internal system boundaries are defined.', evidence: `External zones: ${zoneList(externalZones)}. Internal zones: ${zoneList(internalZones)}.` },
    { practice: L1_3131, objective: '[c]–[d]', statement: 'Communications are monitored at the external system boundary and at key internal boundaries.', evidence: 'Not recorded: the manifest does not say how the boundaries are monitored. `ferry audit` and `ferry probe` are point-in-time checks, not monitoring.' },
    { practice: L1_3131, objective: '[e]–[f]', statement: 'Communications are controlled at the external system boundary and at key internal boundaries.', evidence: `${external.length} external and ${internal.length} internal flow(s) listed; ${allowlist}` },
    { practice: L1_3131, objective: '[g]–[h]', statement: 'Communications are protected at the external system boundary and at key internal boundaries.', evidence: `External: ${external.filter((r) => r.c === 'x').length} of ${external.length} encrypted, ${external.filter((r) => r.auth === 'x').length} authenticated. Internal: ${internal.filter((r) => r.c === 'x').length} of ${internal.length} encrypted, ${internal.filter((r) => r.auth === 'x').length} authenticated.` },
    { practice: L2_3124, objective: '[b]', statement: 'The system boundary is described and documented in the system security plan.', evidence: `This inventory as SSP input: ${zones.length} zone(s), ${externalZones.length} outside the boundary, ${zones.filter((z) => z.cidrs.length).length} with CIDRs recorded.` },
    { practice: L2_3124, objective: '[f]', statement: 'The relationship with or connection to other systems is described and documented in the system security plan.', evidence: `${external.length} external flow(s) and ${model.endpoints.length} external endpoint(s), each with purpose, protocol, ports and security properties; ${upstreamsText(model.mirrored)} carried across the gap instead of connected.` },
  ];

  const nist80053: CmmcObjective[] = [
    { practice: 'CA-3', objective: 'a', statement: 'Approve and manage the exchange of information between the system and other systems using interconnection or information exchange agreements.', evidence: `${external.length} exchange(s) with external systems listed. Agreements and approvals are not recorded in the manifest.` },
    {
      practice: 'CA-3',
      objective: 'b',
      statement: 'Document, as part of each exchange agreement, the interface characteristics, security and privacy requirements, controls, and responsibilities for each system, and the impact level of the information communicated.',
      evidence: `Per external flow: zones, hosts, protocol, ports, C / I / Auth / Trust, authentication method, mitigation; ${ownerCount(external)} (responsibility). Impact level not recorded.`,
    },
    { practice: 'CA-3', objective: 'c', statement: 'Review and update the agreements.', evidence: `${exceptions.length} exception(s) with a review date${exceptions.length ? ` (${exceptions.map((e) => `${e.name}: ${e.mitigation.review}`).join(', ')})` : ''}; other review dates not recorded.` },
    { practice: 'CA-9', objective: 'a', statement: 'Authorize internal connections of system components to the system.', evidence: `Of ${internal.length} internal connection(s) (scope not external): ${statusText(internal)}. Who authorized them is not recorded.` },
    { practice: 'CA-9', objective: 'b', statement: 'Document, for each internal connection, the interface characteristics, security and privacy requirements, and the nature of the information communicated.', evidence: `${internal.length} internal connection(s) with protocol, ports, C / I / Auth / Trust and purpose; ${ownerCount(internal)}.` },
    { practice: 'CA-9', objective: 'c–d', statement: 'Terminate internal system connections after defined conditions; review the continued need for each internal connection.', evidence: 'Not recorded in the manifest.' },
    { practice: 'SC-7', objective: 'a', statement: 'Monitor and control communications at the external managed interfaces to the system and at key internal managed interfaces within the system.', evidence: `Controlled: ${allowlist} Monitoring is not recorded.` },
    { practice: 'SC-7', objective: 'b', statement: 'Implement subnetworks for publicly accessible system components that are physically or logically separated from internal organizational networks.', evidence: `${listed('Inbound listeners from a zone marked external: true', publicInbound)}; ${inboundScoped.length} inbound flow(s) have scope: external (as AC.L1 [a] counts)${scopeZoneDiffer.length ? `; ${listed('scope and source zone disagree', scopeZoneDiffer)}` : ''}. Their subnetwork separation is not recorded beyond the zones.` },
    { practice: 'SC-7', objective: 'c', statement: 'Connect to external networks or systems only through managed interfaces consisting of boundary protection devices.', evidence: `${proxied.length} endpoint(s) through a proxy; ${directAllowed.length} outbound external flow(s) direct, each allowed by the firewall output only to its listed hosts or zone; ${listed('left closed by the firewall output unless `--enable` names them (mitigated, optional, conditional, bootstrap- or install-only, TBD or blocked)', directClosed)}.` },
    { practice: 'SC-7(5)', objective: '—', statement: 'Deny network communications traffic by default and allow network communications traffic by exception.', evidence: `${allowlist} ${exceptionsText}` },
    { practice: 'SC-8', objective: '—', statement: 'Protect the confidentiality and integrity of transmitted information.', evidence: `${encryption} ${integrity}` },
  ];
  return { cmmcLevel2, nist80053 };
}

// ---------- renderers ----------

/**
 * Manifest text as Markdown text. A `<` is escaped (`\<`): CommonMark (GitHub, pandoc, an SSP
 * converted to PDF) reads `<bind IP>` or `nodes.<node>.daemon` as an HTML tag and drops it, so
 * the placeholder an assessor must fill in vanished from the rendered inventory, and a crafted
 * `<img onerror=…>` ran in pandoc's HTML. A `]` right before `(` or `[` is escaped too (`\]`,
 * a CommonMark backslash escape): a crafted `[text](javascript:…)` or
 * `![x](https://tracker.example/p.png)` in a purpose or title became a link, or an image fetched
 * from outside when the page is opened. (A bare `[x]` links only to a `[x]: url` definition, which
 * must start a line: the inventory writes none, and one-line fields cannot start one.)
 */
export const mdText = (s: string) => s.replace(/\\/g, '\\\\').replace(/</g, '\\<').replace(/\](?=[([])/g, '\\]');
/**
 * A backslash is escaped first: a crafted `\<img onerror=…>` otherwise became `\\<img …>`, an
 * escaped backslash then the raw tag. One line (a heading, a checklist item, a cell): a newline
 * in a crafted title or item would start a block of its own (a forged `- [x]` item or heading).
 */
const mdLine = (s: string) => mdText(s).replace(/\r?\n|\r/g, ' ');
const cell = (s: string) => mdLine(s).replace(/\|/g, '\\|');

export function mdTable(headers: string[], rows: string[][]): string {
  if (!rows.length) return '_None._';
  return [`| ${headers.join(' | ')} |`, `|${headers.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`)].join('\n');
}

/** Said above every mapping beyond Level 1: the rows are evidence, not an assessment result. */
export const MAPPING_NOTE = 'Evidence computed from the manifest for an assessor, not a finding: "not recorded" means the manifest has no field for it, and the SSP or another record must show it.';

const statusLabel = (r: InventoryRow) => (r.status === 'confirmed' ? '' : r.status === 'tbd' ? 'TBD' : 'BLOCKED');
const reqLabel = (r: InventoryRow) =>
  [r.requirement === 'required' ? 'required' : r.requirement === 'optional' ? 'optional' : 'only if enabled', r.condition, r.lifecycle !== 'runtime' ? `${r.lifecycle} only` : '']
    .filter(Boolean)
    .join('; ');

export function renderInventoryMarkdown(inv: Inventory): string {
  const out: string[] = [];
  out.push(`# Connection inventory: ${mdLine(inv.system)}`, '');
  if (inv.description) out.push(mdLine(inv.description), '');
  out.push('Generated by `ferry inventory` from the manifest. C = encrypted, I = integrity, Auth = authenticated, Trust = trusted networks only (x = yes, ? = unknown, blank = no).', '');

  out.push('## Zones', '');
  out.push(mdTable(['Zone', 'Name', 'CIDRs', 'Hosts', 'External', 'Description'], inv.zones.map((z) => [z.title, z.name, z.cidrs.join(', ') || '(variable)', z.hosts.join(', '), z.external ? 'yes' : '', z.description])), '');

  const flowTable = (rows: InventoryRow[]) =>
    mdTable(
      ['Ref', 'Component', 'Owner', 'From', 'To', 'Destination', 'Scope', 'Protocol', 'Ports', 'C', 'I', 'Auth', 'Trust', 'Auth / verification', 'Purpose', 'Requirement', 'Status', 'Mitigation', 'Notes'],
      rows.map((r) => [r.ref, r.component, ownerText(r.owner), r.from, r.to, r.destination, r.scope, r.protocol, r.ports, r.c, r.i, r.auth, r.trust, r.authMethod, r.purpose, reqLabel(r), [statusLabel(r), r.statusNote].filter(Boolean).join(' — '), r.mitigation, r.notes]),
    );

  out.push('## Inbound listeners', '', flowTable(inv.inbound), '');
  out.push('## Outbound connections', '', flowTable(inv.outbound), '');
  out.push('## Internal connections', '', flowTable(inv.internal), '');
  out.push('## Local (same host)', '', flowTable(inv.local), '');

  out.push('## Cross-zone matrix', '');
  out.push(
    mdTable(
      ['Ref', 'Component', 'Source zone', 'Protocol', 'Destination', 'Destination zone', 'Ports', 'C', 'I', 'Auth', 'Trust', 'Purpose', 'Status'],
      inv.matrix.map((r) => [r.ref, r.component, r.from, r.protocol, r.destination, r.to, r.ports, r.c, r.i, r.auth, r.trust, r.purpose, statusLabel(r)]),
    ),
    '',
  );

  out.push('## Matrix per zone', '', 'Every flow that starts or ends in a zone, TBD and BLOCKED rows included.', '');
  for (const z of inv.zones) {
    const rows = inv.matrix.filter((r) => r.from === z.title || r.to === z.title);
    if (!rows.length) continue;
    out.push(`### ${mdLine(z.title)}`, '');
    out.push(
      mdTable(
        ['Ref', 'Direction', 'Peer zone', 'Component', 'Destination', 'Ports', 'C', 'I', 'Auth', 'Trust', 'Status'],
        rows.map((r) => [
          r.ref,
          r.from === z.title && r.to === z.title ? 'within' : r.from === z.title ? 'out' : 'in',
          r.from === z.title ? r.to : r.from,
          r.component,
          r.destination,
          r.ports,
          r.c,
          r.i,
          r.auth,
          r.trust,
          [statusLabel(r), r.requirement !== 'required' ? (r.requirement === 'optional' ? 'optional' : 'only if enabled') : ''].filter(Boolean).join(', '),
        ]),
      ),
      '',
    );
  }

  out.push('## External endpoints', '');
  out.push(
    mdTable(
      ['Endpoint', 'Category', 'Owner', 'From', 'Side', 'Hosts', 'Ports', 'Purpose', 'Requirement', 'Settings', 'Default', 'Mitigation', 'Checks'],
      inv.endpoints.map((e) => [
        e.title,
        e.category,
        ownerText(e.owner),
        e.from,
        e.side,
        e.hosts.join(', '),
        e.ports,
        e.purpose,
        [e.requirement === 'conditional' ? 'only if enabled' : e.requirement, e.condition, e.lifecycle !== 'runtime' ? `${e.lifecycle} only` : ''].filter(Boolean).join('; '),
        e.settings.join(', '),
        e.default,
        [e.mitigation.type, e.mitigation.description, e.mitigation.reason ? `reason: ${e.mitigation.reason}` : '', e.mitigation.review ? `review by ${e.mitigation.review}` : '', e.mitigation.proxy ? `via ${e.mitigation.proxy}` : '']
          .filter(Boolean)
          .join(' — '),
        e.checks.join('; '),
      ]),
    ),
    '',
  );

  out.push('## Checks `ferry audit` runs', '');
  out.push(mdTable(['Subject', 'Name', 'Check'], inv.checks.map((c) => [c.subject, c.name, c.check])), '');

  out.push('## Mirrored upstreams', '', 'Upstream sources whose artifacts the manifest carries across the gap (images, charts, files, APT), each with the other hosts a fetch from it reaches (a registry\'s API, auth and CDN hosts).', '');
  out.push(mdTable(['Host', 'Kind', 'Artifacts'], inv.mirrored.map((m) => [upstreamHostText(m), m.kind, String(m.items.length)])), '');

  out.push('## Open items (TBD / BLOCKED)', '');
  out.push(mdTable(['Ref', 'Connection', 'Owner', 'From', 'To', 'Ports', 'Status', 'Note'], inv.open.map((r) => [r.ref, r.component || r.name, ownerText(r.owner), r.from, r.to, r.ports, statusLabel(r), r.statusNote])), '');

  out.push('## Checklist', '', '### Required for all deployments', '');
  out.push(inv.checklist.requiredForAll.length ? inv.checklist.requiredForAll.map((c) => `- [ ] ${mdLine(c.text)}`).join('\n') : '_None._', '');
  out.push('### Required only if the feature is enabled', '');
  out.push(inv.checklist.onlyIfEnabled.length ? inv.checklist.onlyIfEnabled.map((c) => `- [ ] ${mdLine(c.text)}`).join('\n') : '_None._', '');

  out.push('## CMMC Level 1 mapping', '');
  const mapping = (rows: CmmcObjective[], head: string) => mdTable([head, 'Objective', 'Statement', 'Evidence in this inventory'], rows.map((c) => [c.practice, c.objective, c.statement, c.evidence]));
  out.push(mapping(inv.cmmc, 'Practice'), '');
  out.push('## CMMC Level 2 mapping', '', MAPPING_NOTE, '');
  out.push(mapping(inv.cmmcLevel2, 'Practice'), '');
  out.push('## NIST SP 800-53 (FedRAMP) mapping', '', `Rev. 5 controls of the FedRAMP Moderate baseline. ${MAPPING_NOTE}`, '');
  out.push(mapping(inv.nist80053, 'Control'), '');
  return out.join('\n');
}

/**
 * One CSV cell. A cell a spreadsheet would read as a formula (`=`, `+`, `-`, `@`, a tab or CR
 * first: `=cmd|' /C calc'!A0`, `=HYPERLINK(…)`) gets a leading `'` (OWASP's CSV injection
 * defence): these files are opened in Excel by compliance, and a scanned value or a manifest
 * field must stay text there. The `'` is visible to a script reading the CSV; JSON carries the
 * values unchanged.
 */
export function csvField(s: string): string {
  const text = /^[=+\-@\t\r]/.test(s) ? `'${s}` : s;
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function renderInventoryCsv(inv: Inventory): string {
  const headers = ['ref', 'name', 'kind', 'component', 'direction', 'scope', 'from', 'to', 'destination', 'hosts', 'protocol', 'ports', 'c', 'i', 'auth', 'trust', 'auth_method', 'purpose', 'requirement', 'condition', 'lifecycle', 'status', 'status_note', 'mitigation', 'notes', 'owner', 'status_recorded'];
  const lines = [headers.join(',')];
  for (const r of inv.matrix) {
    lines.push(
      [r.ref, r.name, r.kind, r.component, r.direction, r.scope, r.from, r.to, r.destination, r.hosts.join(' '), r.protocol, r.ports, r.c, r.i, r.auth, r.trust, r.authMethod, r.purpose, r.requirement, r.condition, r.lifecycle, r.status, r.statusNote, r.mitigation, r.notes, ownerText(r.owner), r.statusRecorded ? 'yes' : 'no (taken as confirmed)']
        .map(csvField)
        .join(','),
    );
  }
  return lines.join('\n') + '\n';
}
