import type { Endpoint, Port, TriState, Zone } from '../kinds/endpoint/spec.js';
import { endpointHosts, flowsOf, type ConnectionModel, type Flow, type MirroredUpstream } from './model.js';

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
  statusNote: string;
  mitigation: string;
  notes: string;
}

export interface ChecklistItem {
  text: string;
  name: string;
}

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
  cmmc: CmmcObjective[];
}

/** x = yes, blank = no (recorded as false), ? = unknown or not recorded: blank must never mean "not known". */
export function mark(v: TriState | undefined): string {
  return v === true ? 'x' : v === false ? '' : '?';
}

export function portsLabel(ports: Port[], transport: Flow['transport'], note?: string): string {
  if (transport === 'unix') return note ?? 'unix socket';
  const proto = transport === 'other' ? '' : `/${transport}`;
  const list = ports.map((p) => `${p}${proto}`).join(', ');
  if (note) return list ? `${list} (${note})` : note;
  return list || (transport === 'icmp' ? 'icmp' : `any${proto}`);
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
      ports: portsLabel(f.ports, f.transport, f.portNote),
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
      statusNote: f.statusNote ?? '',
      mitigation: mitigationText(f.endpoint),
      notes: f.notes ?? '',
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
    ports: portsLabel(e.ports, e.transport),
    purpose: e.purpose,
    requirement: e.requirement,
    condition: e.condition ?? '',
    lifecycle: e.lifecycle,
    settings: e.settings ?? [],
    default: e.default ?? '',
    mitigation: e.mitigation,
    checks: (e.checks ?? []).map(checkText),
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
    { practice: 'AC.L1-b.1.iii (AC.L1-3.1.20)', objective: '[a]', statement: 'Connections to external systems are identified.', evidence: `${count(external)} external connection(s) listed under Inbound listeners and Outbound connections, each with zones, protocol and ports.` },
    { practice: 'AC.L1-b.1.iii (AC.L1-3.1.20)', objective: '[b]', statement: 'The use of external systems is identified.', evidence: `${count(model.endpoints)} external endpoint(s) with purpose, requirement and condition; ${count(model.mirrored)} upstream host(s) carried by the bundle.` },
    { practice: 'AC.L1-b.1.iii (AC.L1-3.1.20)', objective: '[c]', statement: 'Connections to external systems are verified.', evidence: `C / I / Auth / Trust and the authentication method recorded per connection: ${authed} of ${count(external)} external connection(s) authenticated, ${unknownAuth} unknown or not recorded in the source. \`ferry probe\` records what is reachable from a host.` },
    { practice: 'AC.L1-b.1.iii (AC.L1-3.1.20)', objective: '[d]', statement: 'The use of external systems is verified.', evidence: `${checks} check(s) that \`ferry audit\` runs against the deployed configuration; audit classifies every reference found in it.` },
    { practice: 'AC.L1-b.1.iii (AC.L1-3.1.20)', objective: '[e]', statement: 'Connections to external systems are controlled/limited.', evidence: `\`ferry firewall\` emits default-deny allowlists (nftables, iptables, squid, NetworkPolicy, Cilium, OpenStack and AWS security groups); ${count(open)} connection(s) TBD or blocked stay closed.` },
    { practice: 'AC.L1-b.1.iii (AC.L1-3.1.20)', objective: '[f]', statement: 'The use of external systems is controlled/limited.', evidence: `Mitigations: ${mitigationCounts}.` },
    { practice: 'SC.L1-b.1.x (SC.L1-3.13.1)', objective: '[a]–[h]', statement: 'Communications at external and key internal boundaries are monitored, controlled and protected.', evidence: `${count(model.zones)} zone(s) (${zonesWithCidrs} with CIDRs); the cross-zone matrix lists ${count(matrix)} flow(s) with their boundary and security properties.` },
  ];

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
  };
}

// ---------- renderers ----------

/**
 * Manifest text as Markdown text. A `<` is escaped (`\<`): CommonMark (GitHub, pandoc, an SSP
 * converted to PDF) reads `<bind IP>` or `nodes.<node>.daemon` as an HTML tag and drops it, so
 * the placeholder an assessor must fill in vanished from the rendered inventory, and a crafted
 * `<img onerror=…>` ran in pandoc's HTML.
 */
export const mdText = (s: string) => s.replace(/</g, '\\<');
const cell = (s: string) => mdText(s).replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');

export function mdTable(headers: string[], rows: string[][]): string {
  if (!rows.length) return '_None._';
  return [`| ${headers.join(' | ')} |`, `|${headers.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`)].join('\n');
}

const statusLabel = (r: InventoryRow) => (r.status === 'confirmed' ? '' : r.status === 'tbd' ? 'TBD' : 'BLOCKED');
const reqLabel = (r: InventoryRow) =>
  [r.requirement === 'required' ? 'required' : r.requirement === 'optional' ? 'optional' : 'only if enabled', r.condition, r.lifecycle !== 'runtime' ? `${r.lifecycle} only` : '']
    .filter(Boolean)
    .join('; ');

export function renderInventoryMarkdown(inv: Inventory): string {
  const out: string[] = [];
  out.push(`# Connection inventory: ${mdText(inv.system)}`, '');
  if (inv.description) out.push(mdText(inv.description), '');
  out.push('Generated by `ferry inventory` from the manifest. C = encrypted, I = integrity, Auth = authenticated, Trust = trusted networks only (x = yes, ? = unknown, blank = no).', '');

  out.push('## Zones', '');
  out.push(mdTable(['Zone', 'Name', 'CIDRs', 'Hosts', 'External', 'Description'], inv.zones.map((z) => [z.title, z.name, z.cidrs.join(', ') || '(variable)', z.hosts.join(', '), z.external ? 'yes' : '', z.description])), '');

  const flowTable = (rows: InventoryRow[]) =>
    mdTable(
      ['Ref', 'Component', 'From', 'To', 'Destination', 'Scope', 'Protocol', 'Ports', 'C', 'I', 'Auth', 'Trust', 'Auth / verification', 'Purpose', 'Requirement', 'Status', 'Mitigation', 'Notes'],
      rows.map((r) => [r.ref, r.component, r.from, r.to, r.destination, r.scope, r.protocol, r.ports, r.c, r.i, r.auth, r.trust, r.authMethod, r.purpose, reqLabel(r), [statusLabel(r), r.statusNote].filter(Boolean).join(' — '), r.mitigation, r.notes]),
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
    out.push(`### ${mdText(z.title)}`, '');
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
      ['Endpoint', 'Category', 'From', 'Side', 'Hosts', 'Ports', 'Purpose', 'Requirement', 'Settings', 'Default', 'Mitigation', 'Checks'],
      inv.endpoints.map((e) => [
        e.title,
        e.category,
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

  out.push('## Mirrored upstreams', '', 'Hosts whose artifacts the manifest carries across the gap (images, charts, files, APT).', '');
  out.push(mdTable(['Host', 'Kind', 'Artifacts'], inv.mirrored.map((m) => [m.host, m.kind, String(m.items.length)])), '');

  out.push('## Open items (TBD / BLOCKED)', '');
  out.push(mdTable(['Ref', 'Connection', 'From', 'To', 'Ports', 'Status', 'Note'], inv.open.map((r) => [r.ref, r.component || r.name, r.from, r.to, r.ports, statusLabel(r), r.statusNote])), '');

  out.push('## Checklist', '', '### Required for all deployments', '');
  out.push(inv.checklist.requiredForAll.length ? inv.checklist.requiredForAll.map((c) => `- [ ] ${mdText(c.text)}`).join('\n') : '_None._', '');
  out.push('### Required only if the feature is enabled', '');
  out.push(inv.checklist.onlyIfEnabled.length ? inv.checklist.onlyIfEnabled.map((c) => `- [ ] ${mdText(c.text)}`).join('\n') : '_None._', '');

  out.push('## CMMC Level 1 mapping', '');
  out.push(mdTable(['Practice', 'Objective', 'Statement', 'Evidence in this inventory'], inv.cmmc.map((c) => [c.practice, c.objective, c.statement, c.evidence])), '');
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
  const headers = ['ref', 'name', 'kind', 'component', 'direction', 'scope', 'from', 'to', 'destination', 'hosts', 'protocol', 'ports', 'c', 'i', 'auth', 'trust', 'auth_method', 'purpose', 'requirement', 'condition', 'lifecycle', 'status', 'status_note', 'mitigation', 'notes'];
  const lines = [headers.join(',')];
  for (const r of inv.matrix) {
    lines.push(
      [r.ref, r.name, r.kind, r.component, r.direction, r.scope, r.from, r.to, r.destination, r.hosts.join(' '), r.protocol, r.ports, r.c, r.i, r.auth, r.trust, r.authMethod, r.purpose, r.requirement, r.condition, r.lifecycle, r.status, r.statusNote, r.mitigation, r.notes]
        .map(csvField)
        .join(','),
    );
  }
  return lines.join('\n') + '\n';
}
