import { ALL_KINDS, type AnyKind } from '../kinds/index.js';
import type { ArtifactRow } from '../kinds/types.js';
import { escapeControls } from '../ui/escape.js';
import { counted, nounFor } from '../ui/count.js';
import { FINDING_CLASSES, type AuditReport, type FindingClass } from './audit.js';
import { auditResult } from './render-audit.js';
import { MAPPING_NOTE, ownerText, upstreamHostText, type CmmcObjective, type Inventory, type InventoryRow } from './inventory.js';

/**
 * `ferry report`: one self-contained HTML page (inline CSS and SVG, no scripts, nothing loaded
 * from anywhere) with the zone diagram, the checklist, the audit findings, what a bundle carries
 * and the inventory. Everything that comes from a manifest, a bundle or a scanned file is
 * hostile: it goes through `esc` (HTML/XML escaping, control characters made visible) and never
 * into a URL, an attribute name, a style or a script. Deterministic: no timestamps.
 */
/** One artifact a bundle carries: its kind's name, and the row the kind presents (kinds/types.ts). */
export interface BundleArtifact extends ArtifactRow {
  kind: string;
}

export interface BundleContents {
  path: string;
  formatVersion: number;
  ferryVersion: string;
  manifestName: string;
  tarSize: number;
  blobs: number;
  blobBytes: number;
  topLevel: number;
  artifacts: BundleArtifact[];
  unsatisfied: string[];
  /** A differential bundle: its base and what it leaves out (the target must already hold it). */
  differential?: { base: { kind: string; name: string; digest: string }; omittedBlobs: number; omittedBytes: number; omitted: ReadonlySet<string> };
  /** It holds a signature over its checksum list (not checked by the report: `bundle verify --key` checks it). */
  signed: boolean;
}

export interface HtmlReportInput {
  generator: string;
  manifestFile: string;
  inventory: Inventory;
  audit?: AuditReport;
  auditPaths: string[];
  bundle?: BundleContents;
  warnings: string[];
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text for HTML and SVG content and quoted attribute values. */
export function esc(value: unknown): string {
  return escapeControls(String(value ?? '')).replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]);
}

function bytes(n: number | undefined): string {
  if (n === undefined) return '';
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

function table(headers: string[], rows: string[][], opts: { cls?: string; empty?: string } = {}): string {
  if (!rows.length) return `<p class="none">${esc(opts.empty ?? 'None.')}</p>`;
  const head = headers.map((h) => `<th>${esc(h)}</th>`).join('');
  // Cells are already escaped HTML (callers use esc or badge).
  const body = rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('\n');
  return `<table${opts.cls ? ` class="${opts.cls}"` : ''}><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

/** A coloured label; `tone` is one of a fixed set, never taken from input. */
function badge(text: string, tone: 'ok' | 'warn' | 'bad' | 'info' | 'muted'): string {
  return `<span class="badge ${tone}">${esc(text)}</span>`;
}

const CLASS_TONE: Record<FindingClass, 'ok' | 'warn' | 'bad' | 'info' | 'muted'> = {
  mirrored: 'ok',
  internal: 'muted',
  'declared-mitigated': 'ok',
  'declared-unmitigated': 'bad',
  'declared-exception': 'warn',
  undeclared: 'bad',
};

const statusBadge = (r: InventoryRow) => (r.status === 'confirmed' ? '' : r.status === 'tbd' ? badge('TBD', 'warn') : badge('BLOCKED', 'bad'));
const requirementText = (r: InventoryRow) =>
  [r.requirement === 'required' ? 'required' : r.requirement === 'optional' ? 'optional' : 'only if enabled', r.condition, r.lifecycle !== 'runtime' ? `${r.lifecycle} only` : ''].filter(Boolean).join('; ');
/** An owner the manifest does not record is said so, muted: a blank cell would read as "none needed". */
const ownerCell = (owner: string | null) => (owner === null ? badge(ownerText(owner), 'muted') : esc(owner));
const mark = (v: string) => (v === 'x' ? '✔' : v === '?' ? '?' : '');

// ---------- the zone diagram ----------

interface ZoneEdge {
  from: string;
  to: string;
  count: number;
  external: number;
  open: number;
}

export function zoneEdges(inv: Inventory): ZoneEdge[] {
  const byPair = new Map<string, ZoneEdge>();
  for (const r of inv.matrix) {
    const key = `${r.from}\u0000${r.to}`;
    const e = byPair.get(key) ?? { from: r.from, to: r.to, count: 0, external: 0, open: 0 };
    e.count++;
    if (r.scope === 'external') e.external++;
    if (r.status !== 'confirmed') e.open++;
    byPair.set(key, e);
  }
  return [...byPair.values()];
}

function clip(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/**
 * Zones as boxes in two columns — where flows start (left) and where they arrive (right) —
 * with one edge per zone pair, its width growing with the number of flows and the count
 * written at its start. Each edge has its own port on both boxes, so labels never overlap
 * however many rows the manifest has; the per-pair table below the diagram has the details.
 */
export function renderZoneDiagram(inv: Inventory): string {
  const edges = zoneEdges(inv);
  if (!edges.length) return '<p class="none">No flows between zones.</p>';
  const order = new Map(inv.zones.map((z, i) => [z.title, i]));
  const externalZone = new Set(inv.zones.filter((z) => z.external).map((z) => z.title));
  const known = new Set(inv.zones.map((z) => z.title));
  const isExternal = (t: string) => externalZone.has(t) || !known.has(t);
  const rank = (t: string) => order.get(t) ?? inv.zones.length;
  const byRank = (a: string, b: string) => rank(a) - rank(b) || a.localeCompare(b);
  const left = [...new Set(edges.map((e) => e.from))].sort(byRank);
  const right = [...new Set(edges.map((e) => e.to))].sort(byRank);

  const W = 1000;
  const boxW = 250;
  const leftX = 10;
  const rightX = W - boxW - 10;
  const portGap = 18;
  const top = 40;
  const gap = 12;
  type Box = { title: string; y: number; h: number; edges: ZoneEdge[] };
  const layout = (titles: string[], side: 'from' | 'to'): Box[] => {
    let y = top;
    return titles.map((title) => {
      const mine = edges
        .filter((e) => e[side] === title)
        .sort((a, b) => (side === 'from' ? byRank(a.to, b.to) : byRank(a.from, b.from)));
      const h = Math.max(46, 30 + mine.length * portGap);
      const box = { title, y, h, edges: mine };
      y += h + gap;
      return box;
    });
  };
  const L = layout(left, 'from');
  const R = layout(right, 'to');
  const height = Math.max(...[...L, ...R].map((b) => b.y + b.h)) + 16;
  const port = (box: Box, e: ZoneEdge) => box.y + 30 + box.edges.indexOf(e) * portGap - portGap / 2 + 4;

  const out: string[] = [];
  out.push(
    `<svg class="zones" viewBox="0 0 ${W} ${height}" width="${W}" height="${height}" role="img" aria-labelledby="zones-title">`,
    `<title id="zones-title">Flows between zones of ${esc(inv.system)}: ${counted(edges.length, 'zone pair')}, ${counted(inv.matrix.length, 'flow')}</title>`,
    `<text x="${leftX}" y="22" class="col">from zone</text><text x="${rightX}" y="22" class="col">to zone</text>`,
  );
  const boxSvg = (b: Box, x: number, side: 'from' | 'to') => {
    const n = b.edges.reduce((s, e) => s + e.count, 0);
    const ext = isExternal(b.title);
    out.push(
      `<g class="zone${ext ? ' ext' : ''}"><title>${esc(b.title)}${ext ? ' (external)' : ''}: ${n} flow(s) ${side === 'from' ? 'out' : 'in'}</title>`,
      `<rect x="${x}" y="${b.y}" width="${boxW}" height="${b.h}" rx="6"/>`,
      `<text x="${x + 10}" y="${b.y + 18}" class="zt">${esc(clip(b.title, 32))}</text>`,
      `<text x="${x + 10}" y="${b.y + b.h - 8}" class="zs">${n} ${side === 'from' ? 'out' : 'in'}${ext ? ' · external' : ''}</text></g>`,
    );
  };
  // Edges first, boxes on top.
  for (const e of edges) {
    const lb = L.find((b) => b.title === e.from)!;
    const rb = R.find((b) => b.title === e.to)!;
    const y1 = port(lb, e);
    const y2 = port(rb, e);
    const x1 = leftX + boxW;
    const x2 = rightX;
    const mid = (x1 + x2) / 2;
    const w = (1.5 + Math.log2(e.count) * 1.6).toFixed(1);
    const cls = ['flow', isExternal(e.from) || isExternal(e.to) || e.external ? 'ext' : '', e.open ? 'open' : ''].filter(Boolean).join(' ');
    const detail = `${e.from} → ${e.to}: ${e.count} flow(s)${e.external ? `, ${e.external} external` : ''}${e.open ? `, ${e.open} TBD/blocked` : ''}`;
    out.push(
      `<g class="${cls}"><title>${esc(detail)}</title>`,
      `<path d="M${x1} ${y1} C${mid} ${y1} ${mid} ${y2} ${x2 - 6} ${y2}" stroke-width="${w}"/>`,
      `<polygon points="${x2 - 7} ${y2 - 4} ${x2} ${y2} ${x2 - 7} ${y2 + 4}"/>`,
      `<text x="${x1 + 6}" y="${y1 - 3}" class="n">${e.count}${e.open ? '*' : ''}</text></g>`,
    );
  }
  for (const b of L) boxSvg(b, leftX, 'from');
  for (const b of R) boxSvg(b, rightX, 'to');
  out.push('</svg>');
  return out.join('\n');
}

// ---------- the page ----------

const CSS = `
:root { --fg:#1f2328; --muted:#656d76; --line:#d0d7de; --bg:#f6f8fa; --ok:#1a7f37; --warn:#9a6700; --bad:#cf222e; --info:#0969da; --ext:#bc4c00; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: var(--fg); margin: 0; padding: 24px 32px; max-width: 1400px; }
h1 { font-size: 24px; margin: 0 0 4px; } h2 { font-size: 19px; margin: 32px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 15px; margin: 18px 0 6px; }
.sub { color: var(--muted); margin: 0 0 16px; }
nav { display: flex; flex-wrap: wrap; gap: 6px 14px; margin: 8px 0 16px; font-size: 13px; }
nav a { color: var(--info); text-decoration: none; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; margin: 12px 0; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 8px 14px; min-width: 130px; background: var(--bg); }
.card b { display: block; font-size: 22px; } .card span { color: var(--muted); font-size: 12px; }
.card.bad b { color: var(--bad); } .card.ok b { color: var(--ok); } .card.warn b { color: var(--warn); }
table { border-collapse: collapse; width: 100%; margin: 6px 0 12px; font-size: 12.5px; }
th, td { border: 1px solid var(--line); padding: 4px 6px; text-align: left; vertical-align: top; overflow-wrap: anywhere; }
th { background: var(--bg); font-weight: 600; overflow-wrap: normal; word-break: keep-all; }
tbody tr:nth-child(even) { background: #fbfcfd; }
td.num, th.num, .num, .loc { white-space: nowrap; } .num { text-align: right; }
code, .mono { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12px; }
.badge { display: inline-block; border-radius: 10px; padding: 0 7px; font-size: 11.5px; font-weight: 600; white-space: nowrap; border: 1px solid; }
.badge.ok { color: var(--ok); border-color: var(--ok); } .badge.bad { color: var(--bad); border-color: var(--bad); }
.badge.warn { color: var(--warn); border-color: var(--warn); } .badge.info { color: var(--info); border-color: var(--info); }
.badge.muted { color: var(--muted); border-color: var(--line); }
.none { color: var(--muted); font-style: italic; }
ul.check { list-style: none; padding-left: 0; } ul.check li { padding: 3px 0 3px 26px; position: relative; }
ul.check li::before { content: "☐"; position: absolute; left: 4px; font-size: 15px; line-height: 1.2; }
.warnings { border-left: 4px solid var(--warn); background: #fff8c5; padding: 6px 12px; }
.diagram { overflow-x: auto; border: 1px solid var(--line); border-radius: 8px; padding: 8px; background: #fff; }
svg.zones { max-width: 100%; height: auto; font-family: inherit; }
svg.zones .col { font-size: 12px; fill: var(--muted); text-transform: uppercase; letter-spacing: .05em; }
svg.zones .zone rect { fill: #ddf4ff; stroke: #54aeff; } svg.zones .zone.ext rect { fill: #fff1e5; stroke: #fb8f44; }
svg.zones .zt { font-size: 13px; font-weight: 600; fill: var(--fg); } svg.zones .zs { font-size: 11px; fill: var(--muted); }
svg.zones .flow path { fill: none; stroke: #0969da; stroke-opacity: .55; } svg.zones .flow polygon { fill: #0969da; }
svg.zones .flow.ext path { stroke: #bc4c00; } svg.zones .flow.ext polygon { fill: #bc4c00; }
svg.zones .flow.open path { stroke-dasharray: 6 4; }
svg.zones .n { font-size: 11px; font-weight: 700; fill: var(--fg); }
.legend { font-size: 12px; color: var(--muted); margin: 4px 0 0; }
footer { margin-top: 36px; color: var(--muted); font-size: 12px; }
@page { size: A4 landscape; margin: 12mm; }
@media print {
  body { padding: 0; max-width: none; font-size: 11px; }
  nav { display: none; }
  h2 { break-after: avoid; } table { font-size: 10px; } thead { display: table-header-group; }
  tr, .card, .diagram, ul.check li { break-inside: avoid; }
  .diagram { border: none; overflow: visible; }
  a { color: inherit; text-decoration: none; }
}
`;

/** `kinds`: whose tables list what a bundle carries (KINDS, in order). */
export function renderReportHtml(r: HtmlReportInput, kinds: readonly AnyKind[] = ALL_KINDS): string {
  const inv = r.inventory;
  const a = r.audit;
  const b = r.bundle;
  const edges = zoneEdges(inv);
  const out: string[] = [];
  const sections: Array<[string, string]> = [['diagram', 'Zones and flows'], ['checklist', 'Checklist']];
  if (a) sections.push(['audit', 'Audit']);
  if (b) sections.push(['bundle', 'Bundle']);
  sections.push(['inventory', 'Inventory'], ['endpoints', 'External endpoints'], ['open', 'Open items'], ['cmmc', 'CMMC Level 1'], ['cmmcadvanced', 'CMMC Level 2'], ['fedramp', 'NIST SP 800-53 (FedRAMP)']);

  out.push(
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8">',
    // No network: nothing may be fetched, whatever a manifest says.
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>ferry report: ${esc(inv.system)}</title>`,
    `<style>${CSS}</style></head><body>`,
    `<header><h1>ferry report: ${esc(inv.system)}</h1>`,
    `<p class="sub">${inv.description ? `${esc(inv.description)}<br>` : ''}Manifest <code>${esc(r.manifestFile)}</code>${b ? ` · bundle <code>${esc(b.path)}</code>` : ''}${r.auditPaths.length ? ` · audit of <code>${esc(r.auditPaths.join(', '))}</code>` : ''}</p>`,
    `<nav>${sections.map(([id, t]) => `<a href="#${id}">${esc(t)}</a>`).join('')}</nav></header>`,
  );
  if (r.warnings.length) out.push(`<div class="warnings">${r.warnings.map((w) => `<p>warning: ${esc(w)}</p>`).join('')}</div>`);

  const external = inv.matrix.filter((x) => x.scope === 'external').length;
  const cards: Array<[string | number, string, string]> = [
    [inv.zones.length, nounFor(inv.zones.length, 'zone'), ''],
    [inv.matrix.length, nounFor(inv.matrix.length, 'flow'), ''],
    [external, nounFor(external, 'external flow'), external ? 'warn' : 'ok'],
    [inv.endpoints.length, nounFor(inv.endpoints.length, 'external endpoint'), ''],
    [inv.open.length, 'TBD / blocked', inv.open.length ? 'warn' : 'ok'],
  ];
  if (a) {
    cards.push([a.summary.undeclared, nounFor(a.summary.undeclared, 'undeclared reference'), a.summary.undeclared ? 'bad' : 'ok']);
    cards.push([a.summary.unmetMitigations, nounFor(a.summary.unmetMitigations, 'unmet mitigation'), a.summary.unmetMitigations ? 'bad' : 'ok']);
  }
  if (b) cards.push([b.artifacts.length, `${nounFor(b.artifacts.length, 'artifact')} in the bundle (${bytes(b.tarSize)})`, '']);
  out.push(`<section class="cards">${cards.map(([n, t, tone]) => `<div class="card${tone ? ` ${tone}` : ''}"><b>${esc(n)}</b><span>${esc(t)}</span></div>`).join('')}</section>`);

  // Diagram
  out.push('<section id="diagram"><h2>Zones and flows</h2>');
  out.push(`<div class="diagram">${renderZoneDiagram(inv)}</div>`);
  out.push('<p class="legend">One line per pair of zones; the number is how many flows (connections and endpoints) go that way. Orange: external zone or external scope; dashed, with *: some flows are TBD or blocked. Boxes: blue inside the system, orange outside.</p>');
  out.push('<h3>Flows per zone pair</h3>');
  out.push(
    table(
      ['From zone', 'To zone', 'Flows', 'External', 'TBD / blocked', 'Components'],
      edges.map((e) => {
        const comps = [...new Set(inv.matrix.filter((x) => x.from === e.from && x.to === e.to).map((x) => x.component || x.name))];
        return [esc(e.from), esc(e.to), String(e.count), e.external ? String(e.external) : '', e.open ? badge(String(e.open), 'warn') : '', esc(comps.join(', '))];
      }),
    ),
    '</section>',
  );

  // Checklist
  out.push('<section id="checklist"><h2>Checklist</h2><h3>Required for all deployments</h3>');
  out.push(inv.checklist.requiredForAll.length ? `<ul class="check">${inv.checklist.requiredForAll.map((c) => `<li>${esc(c.text)}</li>`).join('\n')}</ul>` : '<p class="none">None.</p>');
  out.push('<h3>Required only if the feature is enabled</h3>');
  out.push(inv.checklist.onlyIfEnabled.length ? `<ul class="check">${inv.checklist.onlyIfEnabled.map((c) => `<li>${esc(c.text)}</li>`).join('\n')}</ul>` : '<p class="none">None.</p>');
  out.push('</section>');

  // Audit
  if (a) {
    out.push(`<section id="audit"><h2>Audit</h2><p>${a.files} file(s) scanned, ${a.findings.length} reference(s) found${a.target ? `, mirror target <code>${esc(a.target)}</code>` : ''}.</p><p>${esc(auditResult(a))}</p>`);
    out.push(
      `<p>${FINDING_CLASSES.map((c) => `${badge(c, CLASS_TONE[c])} ${a.summary[c]}`).join(' &nbsp; ')} &nbsp; unmet mitigations ${a.summary.unmetMitigations} &nbsp; unmet connection checks ${a.summary.unmetConnectionChecks}</p>`,
    );
    const order = new Map(FINDING_CLASSES.map((c, i) => [c, i]));
    const findings = [...a.findings].sort((x, y) => (CLASS_TONE[x.class] === 'bad' ? 0 : 1) - (CLASS_TONE[y.class] === 'bad' ? 0 : 1) || order.get(y.class)! - order.get(x.class)! || x.file.localeCompare(y.file) || x.line - y.line);
    out.push('<h3>References</h3>');
    out.push(
      table(
        ['Location', 'Key', 'Reference', 'Class', 'Declared by', 'Mirror', 'Note'],
        findings.map((f) => [`<span class="mono loc">${esc(`${f.file}:${f.line}`)}</span>`, `<span class="mono">${esc(f.keyPath)}</span>`, `<span class="mono">${esc(f.value)}</span>`, badge(f.class, CLASS_TONE[f.class]), esc(f.declaredBy ?? ''), `<span class="mono">${esc(f.mirror ?? '')}</span>`, esc(f.note ?? '')]),
        { empty: 'No references found.' },
      ),
    );
    if (a.charts.length) {
      // Manifest charts rendered with the audited values files: their templates' images are among the references.
      out.push('<h3>Charts rendered with the audited values</h3>');
      out.push(
        table(
          ['Chart', 'Version', 'Values', 'Status', 'Images'],
          a.charts.map((c) => [esc(c.chart), esc(c.version ?? ''), `<span class="mono">${esc(c.values.join(', '))}</span>`, c.status === 'rendered' ? badge('rendered', 'ok') : `${badge('not rendered', 'bad')} ${esc(c.reason ?? '')}`, String(c.images)]),
        ),
      );
    }
    if (a.skipped?.length) {
      // Files the scan found but did not read: the unaudited ones hold configuration nobody looked at.
      out.push('<h3>Files not scanned</h3>');
      out.push(table(['File', 'Reason', 'Unaudited'], a.skipped.map((s) => [`<span class="mono">${esc(s.file)}</span>`, esc(s.reason), s.unscanned ? badge('unaudited', 'bad') : ''])));
    }
    out.push('<h3>Mitigations</h3>');
    const mTone = (s: string) => (s === 'met' ? 'ok' : s === 'unmet' ? 'bad' : s === 'exception' ? 'warn' : 'muted');
    out.push(table(['Endpoint', 'Mitigation', 'Requirement', 'Status', 'Referenced'], a.mitigations.map((m) => [esc(m.title), esc(m.type), esc(m.requirement), badge(m.status, mTone(m.status)), String(m.referenced)])));
    out.push('<h3>Checks</h3>');
    out.push(table(['Subject', 'Name', 'Check', 'Status', 'Evidence'], a.checks.map((c) => [esc(c.subject), esc(c.endpoint), esc(c.check), badge(c.status, c.status === 'met' ? 'ok' : 'bad'), esc(c.evidence)])));
    out.push('</section>');
  }

  // Bundle
  if (b) {
    out.push(
      `<section id="bundle"><h2>Bundle</h2><p><code>${esc(b.path)}</code>: ${bytes(b.tarSize)}, bundle format ${esc(b.formatVersion)}, written by ferry ${esc(b.ferryVersion)} from manifest <b>${esc(b.manifestName)}</b>; ${b.topLevel} top-level artifact(s), ${b.blobs} blob(s) (${bytes(b.blobBytes)}, each stored once). As its index and lock say; <code>ferry bundle verify</code> re-hashes every byte.</p>`,
    );
    const d = b.differential;
    if (d) out.push(`<p>${badge('differential', 'warn')} against ${esc(d.base.kind)} <code>${esc(d.base.name)}</code> (<span class="mono">${esc(d.base.digest)}</span>): ${d.omittedBlobs} blob(s), ${esc(bytes(d.omittedBytes))}, are left out of this bundle and must already be on the target; rows marked <i>from the base</i> are such blobs, and the sizes below are the artifacts' own, not what this bundle holds.</p>`);
    out.push(b.signed ? `<p>${badge('signed', 'ok')} it holds a signature over its checksum list, not checked by this report: <code>ferry bundle verify --key &lt;site or vendor key&gt;</code> checks it.</p>` : `<p>${badge('unsigned', 'warn')} it holds no signature over its checksum list.</p>`);
    for (const kind of kinds) {
      const t = kind.presentation?.bundleTable;
      const rows = b.artifacts.filter((x) => x.kind === kind.name);
      if (!t || !rows.length) continue;
      out.push(`<h3>${esc(t.title)} (${rows.length})</h3>`);
      out.push(table([t.nameColumn, t.versionColumn, 'Digest', 'Size'], rows.map((x) => [`<span class="mono">${esc(x.name)}</span>`, esc(x.version), `<span class="mono">${esc(x.digest)}</span>${b.differential?.omitted.has(x.digest) ? ' <i>from the base</i>' : ''}`, `<span class="num">${esc(bytes(x.size))}</span>`])));
    }
    if (b.unsatisfied.length) out.push(`<p>APT dependencies no carried repository satisfies (the hosts' base system must): ${esc(b.unsatisfied.join(', '))}</p>`);
    out.push('</section>');
  }

  // Inventory
  out.push('<section id="inventory"><h2>Inventory</h2>');
  out.push('<p class="legend">C = encrypted, I = integrity, Auth = authenticated, Trust = trusted networks only (✔ yes, ? unknown, blank no).</p>');
  out.push('<h3>Zones</h3>');
  out.push(table(['Zone', 'Name', 'CIDRs', 'Hosts', 'External', 'Description'], inv.zones.map((z) => [esc(z.title), `<span class="mono">${esc(z.name)}</span>`, esc(z.cidrs.join(', ') || '(variable)'), esc(z.hosts.join(', ')), z.external ? badge('external', 'warn') : '', esc(z.description)])));
  const flowRows = (rows: InventoryRow[]) =>
    table(
      ['Ref', 'Component', 'Owner', 'From', 'To', 'Destination', 'Scope', 'Protocol', 'Ports', 'C', 'I', 'Auth', 'Trust', 'Auth / verification', 'Purpose', 'Requirement', 'Status', 'Mitigation', 'Notes'],
      rows.map((x) => [esc(x.ref), esc(x.component || x.name), ownerCell(x.owner), esc(x.from), esc(x.to), esc(x.destination), esc(x.scope), esc(x.protocol), esc(x.ports), mark(x.c), mark(x.i), mark(x.auth), mark(x.trust), esc(x.authMethod), esc(x.purpose), esc(requirementText(x)), `${statusBadge(x)} ${esc(x.statusNote)}`, esc(x.mitigation), esc(x.notes)]),
    );
  out.push('<h3>Inbound listeners</h3>', flowRows(inv.inbound));
  out.push('<h3>Outbound connections</h3>', flowRows(inv.outbound));
  out.push('<h3>Internal connections</h3>', flowRows(inv.internal));
  if (inv.local.length) out.push('<h3>Local (same host)</h3>', flowRows(inv.local));
  out.push('<h3>Mirrored upstreams</h3>');
  out.push(table(['Host', 'Kind', 'Artifacts'], inv.mirrored.map((m) => [`<span class="mono">${esc(upstreamHostText(m))}</span>`, esc(m.kind), String(m.items.length)])));
  out.push('</section>');

  out.push('<section id="endpoints"><h2>External endpoints</h2>');
  out.push(
    table(
      ['Endpoint', 'Category', 'Owner', 'From', 'Hosts', 'Ports', 'Purpose', 'Requirement', 'Mitigation', 'Checks'],
      inv.endpoints.map((e) => [
        esc(e.title),
        esc(e.category),
        ownerCell(e.owner),
        esc(e.from),
        `<span class="mono">${esc(e.hosts.join(', '))}</span>`,
        esc(e.ports),
        esc(e.purpose),
        esc([e.requirement === 'conditional' ? 'only if enabled' : e.requirement, e.condition, e.lifecycle !== 'runtime' ? `${e.lifecycle} only` : ''].filter(Boolean).join('; ')),
        `${badge(e.mitigation.type, e.mitigation.type === 'none' ? 'bad' : e.mitigation.type === 'exception' ? 'warn' : 'ok')} ${esc([e.mitigation.description, e.mitigation.reason ? `reason: ${e.mitigation.reason}` : '', e.mitigation.review ? `review by ${e.mitigation.review}` : '', e.mitigation.proxy ? `via ${e.mitigation.proxy}` : ''].filter(Boolean).join(' — '))}`,
        esc(e.checks.join('; ')),
      ]),
    ),
    '</section>',
  );

  out.push('<section id="open"><h2>Open items (TBD / blocked)</h2>');
  out.push(table(['Ref', 'Connection', 'Owner', 'From', 'To', 'Ports', 'Status', 'Note'], inv.open.map((x) => [esc(x.ref), esc(x.component || x.name), ownerCell(x.owner), esc(x.from), esc(x.to), esc(x.ports), statusBadge(x), esc(x.statusNote)])));
  out.push('</section>');

  out.push('<section id="cmmc"><h2>CMMC Level 1 mapping</h2>');
  const mapping = (rows: CmmcObjective[], head: string) => table([head, 'Objective', 'Statement', 'Evidence'], rows.map((c) => [esc(c.practice), esc(c.objective), esc(c.statement), esc(c.evidence)]));
  out.push(mapping(inv.cmmc, 'Practice'));
  out.push('</section>');
  out.push(`<section id="cmmcadvanced"><h2>CMMC Level 2 mapping</h2><p class="legend">${esc(MAPPING_NOTE)}</p>`);
  out.push(mapping(inv.cmmcLevel2, 'Practice'));
  out.push('</section>');
  out.push(`<section id="fedramp"><h2>NIST SP 800-53 (FedRAMP) mapping</h2><p class="legend">Rev. 5 controls of the FedRAMP Moderate baseline. ${esc(MAPPING_NOTE)}</p>`);
  out.push(mapping(inv.nist80053, 'Control'));
  out.push('</section>');

  out.push(`<footer>Generated by ${esc(r.generator)} from the manifest${b ? ', the bundle' : ''}${a ? ' and the audited files' : ''}. No timestamps: the same inputs give the same page.</footer>`);
  out.push('</body></html>', '');
  return out.join('\n');
}
