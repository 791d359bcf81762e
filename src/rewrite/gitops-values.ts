import path from 'node:path';
import { Document, isAlias, isMap, isScalar, isSeq, Scalar, type Node as YamlNode, type YAMLMap } from 'yaml';
import { FerryError } from '../errors.js';
import { checkConfigYamlDensity } from '../manifest/input-file.js';
import { parseHostileYaml } from '../manifest/yaml-input.js';
import { findRenderedImages, renderOptions, userValues, type UserValues } from '../kinds/chart/discover.js';
import type { ChartLock } from '../kinds/chart/lock.js';
import type { LoadedChart } from '../kinds/chart/load.js';
import { renderChart, type RenderedDocument } from '../kinds/chart/render/index.js';
import { byNamespace, fluxValuesFilesChart, gitopsReleaseValues, helmChartValues, kustomizeValues, loadLockedChart, lockedChartFor, MAX_GITOPS_RENDERS, NotRendered, type ChartArchives } from '../audit/charts.js';
import { chartSourcesOf, helmChartObjectOf, type ChartSource } from '../audit/chart-sources.js';
import { gitopsReleasesOf, valuesSourceOf, type GitOpsRelease, type ValuesSource } from '../audit/gitops-releases.js';
import { kustomizeChartDir, kustomizeHelmChartsOf, type KustomizeHelmChart } from '../audit/kustomize-helm.js';
import { isKustomizationFile } from '../audit/kustomize.js';
import { MAX_VALUES_SOURCE_BYTES, redactUrlsIn, type ScannedHelmChart } from '../audit/scan.js';
import { chartOverride, imagePathImagesLeft, parseValuesPath, proveByRendering, type RewriteChartOptions } from './chart.js';
import type { RewriteContext } from './context.js';
import { applyTextEdits, lineIndex, type Replacement, type TextEdit } from './edits.js';
import { hasYamlDirectives, isMergePair, mapGet, pairKey, renderScalar, tryParseYamlDocumentAt, tryParseYamlDocuments } from './yaml-text.js';
import { lstatSync } from 'node:fs';

/**
 * The images a GitOps-installed chart's own defaults and templates name (README "The images a
 * GitOps-installed chart deploys"), moved in the object that installs it: for each Argo CD
 * Application/ApplicationSet helm source, Flux HelmRelease, k3s/RKE2 HelmChart and kustomize
 * `helmCharts:` entry whose chart the lock carries, the chart archive is read as `audit` reads it
 * (the download cache or the bundle: audit/charts.ts ChartArchives), rendered with the object's
 * values in its controller's order (audit/charts.ts), and the override `rewrite chart` makes
 * (rewrite/chart.ts: chartOverride, then the proof by rendering) is merged into the object's own
 * inline values as text edits (comments and format kept): Argo CD `helm.valuesObject`, else the
 * `helm.values` string (written again as a `|` block), else a new `valuesObject`; Flux
 * `spec.values`; k3s `spec.valuesContent` (the HelmChartConfig's for a key it sets); kustomize
 * `valuesInline`. The object is then read back and rendered again: every carried image certain to
 * run must be on the mirror, or nothing is written for it. Where that cannot be known (the chart
 * not carried, a values file ferry cannot read, a render error, a proof that fails) the object is
 * left and a warning says why; nothing is reported moved that was not.
 */

export interface ChartDefaultsOptions {
  /** Where the locked chart archives are: the download cache (audit's cacheArchives) or a bundle. */
  archives?: ChartArchives;
  /** How the lock is named in reasons. */
  lockFile: string;
}

export interface ChartDefaultsResult {
  /** Files whose text changed: the new text. */
  texts: Map<string, string>;
  replacements: Replacement[];
  warnings: string[];
}

type RenderPick = NonNullable<RewriteChartOptions['render']>;
type Values = Array<{ name: string; data: string | Record<string, unknown> }>;

/** One installing object, found by its place (its documents re-read as the texts change). */
type Unit = { kind: 'release'; file: string; doc: number; index: number } | { kind: 'helmchart'; file: string; doc: number } | { kind: 'kustomize'; file: string; index: number };

/** What a unit is now: where, which chart, its values, and how an override goes into its text. */
interface Looked {
  object: string;
  file: string;
  line: number;
  entry?: ChartLock;
  /** Why no chart (a source not among the files). */
  noChart?: string;
  values(chart: LoadedChart): Promise<{ values: Values; unknown: string[]; notes?: string[] }>;
  /** The chart as the controller renders it (Flux: its valuesFiles merged into values.yaml), with what that assumed. */
  chart?(chart: LoadedChart): { chart: LoadedChart; notes: string[] };
  /** What was assumed to find the chart (a source object's namespace), said as a warning. */
  notes?: string[];
  render: RenderPick;
  /** The edits that merge `override` into the object's values, by file; or why they cannot be made. */
  place(override: Record<string, unknown>): Map<string, TextEdit[]> | string;
  /** Where the values go, as the report names it. */
  into: string;
  /** The lines the values keys (dotted paths) are written at in the object as it reads now (0: not found). */
  keyLines(keyPaths: readonly string[]): number[];
}

/** What an installing object's file holds (its apiVersion, a kustomization's key). */
const UNIT_MARKERS = ['argoproj.io', 'helm.toolkit.fluxcd.io', 'helm.cattle.io', 'helmCharts'];
const MARKERS = [...UNIT_MARKERS, 'source.toolkit.fluxcd.io', 'ConfigMap', 'Secret'];
const repoKey = (namespace: string | undefined, name: string | undefined) => `${namespace ?? ''}/${name ?? ''}`;

/** A file's documents: where each is in the text, and the document once read (undefined: to read). */
interface ParsedFile {
  text: string;
  spans: Array<{ start: number; end: number; doc?: Document.Parsed }>;
  lineOf?: (offset: number) => number;
}

/**
 * The files' documents. A file is parsed whole once; after an object's edits only the documents
 * they touch are read again, each alone (tryParseYamlDocumentAt), and those after them when the
 * edits moved them — as each is next asked for. (A file was parsed whole again after every object
 * edited and once more for its read-back: quadratic in a file of hundreds of releases.)
 */
class View {
  private parsed = new Map<string, ParsedFile>();
  constructor(readonly texts: Map<string, string>) {}
  private file(file: string): ParsedFile {
    const text = this.texts.get(file)!;
    const got = this.parsed.get(file);
    if (got && got.text === text) return got;
    // `<<` read as a merge key, as kubectl, Argo CD, Flux and Helm read the objects (go-yaml).
    const docs = tryParseYamlDocuments(text, { merge: true }) ?? [];
    const parsed: ParsedFile = { text, spans: docs.map((doc) => ({ start: doc.range[0], end: doc.range[2], doc })) };
    this.parsed.set(file, parsed);
    return parsed;
  }
  docs(file: string): Document.Parsed[] {
    return this.file(file).spans.map((_s, i) => this.doc(file, i)!);
  }
  doc(file: string, index: number): Document.Parsed | undefined {
    const f = this.file(file);
    const span = f.spans[index];
    if (!span) return undefined;
    span.doc ??= tryParseYamlDocumentAt(f.text, span.start, span.end, { merge: true });
    return span.doc;
  }
  lineOf(file: string, offset: number): number {
    const f = this.file(file);
    f.lineOf ??= lineIndex(f.text);
    return f.lineOf(offset);
  }
  /**
   * The files with `placed` applied, as a view whose documents are this one's where the edits left
   * them where they were, to be read again where they touched or moved them. Edits that are not each
   * inside one document (or a text with directives) make the file parsed whole again.
   */
  after(placed: Map<string, TextEdit[]>): View {
    const next = new View(new Map(this.texts));
    for (const [file, edits] of placed) {
      const before = this.file(file);
      const text = applyTextEdits(before.text, edits);
      next.texts.set(file, text);
      const spans = movedSpans(before, edits);
      if (spans && !hasYamlDirectives(before.text)) next.parsed.set(file, { text, spans });
    }
    return next;
  }
  /** This view becomes `other` (its texts and what it has read of them). */
  adopt(other: View): void {
    for (const [file, text] of other.texts) this.texts.set(file, text);
    for (const [file, parsed] of other.parsed) this.parsed.set(file, parsed);
  }
}

/** Each document's place after `edits` (its own read again where an edit is in it or moved it); undefined when an edit is not inside exactly one document. */
function movedSpans(file: ParsedFile, edits: readonly TextEdit[]): ParsedFile['spans'] | undefined {
  const sorted = [...edits].sort((a, b) => a.start - b.start || a.end - b.end);
  const out: ParsedFile['spans'] = [];
  let shift = 0;
  let e = 0;
  for (const span of file.spans) {
    let own = 0;
    let edited = false;
    // An edit at a document's very start or end could be read as the other document's: not this way.
    for (; e < sorted.length && sorted[e].start < span.end; e++) {
      const x = sorted[e];
      if (x.start <= span.start || x.end >= span.end) return undefined;
      own += x.text.length - (x.end - x.start);
      edited = true;
    }
    out.push({ start: span.start + shift, end: span.end + shift + own, doc: edited || shift ? undefined : span.doc });
    shift += own;
  }
  return e === sorted.length ? out : undefined;
}

export async function moveChartDefaults(texts: ReadonlyMap<string, string>, ctx: RewriteContext, opts: ChartDefaultsOptions): Promise<ChartDefaultsResult> {
  const result: ChartDefaultsResult = { texts: new Map(), replacements: [], warnings: [] };
  const files = [...texts.keys()].filter((f) => MARKERS.some((m) => texts.get(f)!.includes(m)));
  // Only these name an installing object (the rest name what one reads): without one, nothing is parsed (a rendered install's ConfigMaps were, in full).
  if (!files.some((f) => UNIT_MARKERS.some((m) => texts.get(f)!.includes(m)))) return result;
  const view = new View(new Map(files.map((f) => [f, texts.get(f)!])));
  // What the objects name across files: Flux sources, valuesFrom ConfigMaps/Secrets (bounded as the audit bounds them), HelmChartConfigs.
  const fluxSources = new Map<string, ChartSource[]>();
  const valuesSources: ValuesSource[] = [];
  let kept = 0;
  let dropped = 0;
  const configs = new Map<string, { file: string; doc: number }>();
  const units: Unit[] = [];
  for (const file of files) {
    const docs = view.docs(file);
    docs.forEach((d, i) => {
      for (const s of chartSourcesOf(d.contents)) {
        if (s.kind !== 'HelmRepository' && s.kind !== 'OCIRepository') continue;
        const key = `${s.kind} ${s.name ?? ''}`;
        const list = fluxSources.get(key);
        if (list) list.push(s);
        else fluxSources.set(key, [s]);
      }
      const v = valuesSourceOf(d.contents, file);
      if (v) {
        const size = [...v.data.values()].reduce((n, x) => n + x.length, 0);
        if (kept + size > MAX_VALUES_SOURCE_BYTES) dropped++;
        else {
          kept += size;
          valuesSources.push(v);
        }
      }
      const h = helmChartObjectOf(d.contents, d);
      if (h?.kind === 'HelmChartConfig' && !configs.has(repoKey(h.namespace, h.name))) configs.set(repoKey(h.namespace, h.name), { file, doc: i });
      if (h?.kind === 'HelmChart' && !h.packaged && !h.chartContent && h.source) units.push({ kind: 'helmchart', file, doc: i });
      gitopsReleasesOf(d.contents, d).forEach((_r, index) => units.push({ kind: 'release', file, doc: i, index }));
    });
    if (isKustomizationFile(file)) for (const c of kustomizeHelmChartsOf(file, view.texts.get(file)!)) units.push({ kind: 'kustomize', file, index: c.index });
  }
  const charts = new Map<string, Promise<LoadedChart>>();
  const loadChart = (entry: ChartLock) => {
    if (!charts.has(entry.digest)) charts.set(entry.digest, loadLockedChart(entry, ctx.lock, opts.lockFile, opts.archives!));
    return charts.get(entry.digest)!;
  };
  const env: LookEnv = { ctx, view, fluxSources, valuesSources, dropped, configs };
  let done = 0;
  for (const unit of units) {
    const looked = look(unit, env);
    if (!looked) continue;
    const at = `${looked.file}:${looked.line}: ${looked.object}`;
    const keep = (why: string, tail = `the images the chart's own defaults and templates name were not moved: prove and move them by hand (README: "The images a GitOps-installed chart deploys")`) =>
      result.warnings.push(redactUrlsIn(`${at}: ${why}; ${tail}`));
    if (!looked.entry) {
      if (looked.noChart) keep(looked.noChart);
      continue;
    }
    const chartName = `chart ${looked.entry.name} ${looked.entry.version}`;
    // The images only the chart entry's imagePaths found: no values key is known to set them (rewrite/chart.ts says each, as `rewrite chart` does).
    const pathsLeft = (chart: LoadedChart, proven?: readonly RenderedDocument[]) => {
      for (const w of imagePathImagesLeft(chart, ctx, proven)) result.warnings.push(redactUrlsIn(`${at}: ${chartName}: ${w}`));
    };
    if (++done > MAX_GITOPS_RENDERS) {
      keep(`not rendered: one rewrite renders at most ${MAX_GITOPS_RENDERS} charts' objects (rewrite fewer files at once)`);
      continue;
    }
    if (!opts.archives) {
      keep(`${chartName}: no chart archives to read`);
      continue;
    }
    try {
      const prepared = looked.chart ? looked.chart(await loadChart(looked.entry)) : { chart: await loadChart(looked.entry), notes: [] };
      const { chart } = prepared;
      const { values, unknown, notes } = await looked.values(chart);
      for (const n of [...(looked.notes ?? []), ...prepared.notes, ...(notes ?? [])]) result.warnings.push(redactUrlsIn(`${at}: ${n}`));
      if (unknown.length) {
        keep(`${chartName} is rendered with values ferry cannot read here (${unknown.join('; ')})`);
        pathsLeft(chart);
        continue;
      }
      const users = asUsers(values);
      const label = `${looked.entry.name}-${looked.entry.version}.tgz`;
      const made = chartOverride(chart, ctx, users, label, users.map((u) => u.text ?? ''), looked.render);
      if (!made.discovery.rendered) {
        keep(`${chartName} does not render with the object's values${made.discovery.renderError ? ` (${made.discovery.renderError})` : ''}, so no override can be proven`);
        pathsLeft(chart);
        continue;
      }
      proveByRendering(chart, ctx, users, made.override, made.setBy, label, made.replacements, made.unmapped, looked.render);
      const left = made.unmapped.map((u) => `${u.ref} (${u.where ?? u.file}: ${u.reason})`);
      let proven: readonly RenderedDocument[] | undefined;
      if (Object.keys(made.override).length) {
        const placed = looked.place(made.override);
        if (typeof placed === 'string') {
          keep(`${chartName}: the override cannot be merged into the object (${placed})`);
          pathsLeft(chart);
          continue;
        }
        const next = view.after(placed);
        // Read back: the object as rewritten, rendered as its controller renders it.
        const again = look(unit, { ...env, view: next });
        const back = again?.entry ? upstream(chart, await again.values(chart), again.render, ctx, new Set(made.unmapped.map((u) => u.ref))) : { still: ['the object could not be read back'], docs: undefined };
        if (back.still.length) {
          keep(`${chartName}: with the override merged into ${looked.into} the controller would still run ${back.still.join(', ')} from upstream (another values layer wins over it)`);
          pathsLeft(chart);
          continue;
        }
        proven = back.docs;
        view.adopt(next);
        // Each at the line its key is written at now (the object's line where it is not found), the key named.
        const lines = again!.keyLines(made.replacements.map((r) => r.where ?? ''));
        made.replacements.forEach((r, i) =>
          result.replacements.push({ file: looked.file, line: lines[i] || looked.line, kind: r.kind, old: r.old, new: r.new, key: `${looked.into}.${r.where}`, where: `${looked.object} ${looked.into}.${r.where} (${chartName}: ${r.file}${r.line ? `:${r.line}` : ''})` }),
        );
      }
      if (!proven && looked.entry.imagePathImages?.length) proven = renderChart(chart, renderOptions({ ...looked.render, values: users })).documents;
      pathsLeft(chart, proven);
      if (left.length) keep(`${chartName} runs ${left.length === 1 ? 'an image' : `${left.length} images`} ferry could not point at the mirror: ${left.join('; ')}`, `left upstream in the object${made.replacements.length ? ' (the chart\'s other images were moved)' : ''}`);
    } catch (err) {
      if (err instanceof NotRendered || err instanceof FerryError) keep(`${chartName} not rendered: ${err.message}`);
      else throw err;
    }
  }
  for (const [file, text] of view.texts) if (text !== texts.get(file)) result.texts.set(file, text);
  return result;
}

function asUsers(values: Values): UserValues[] {
  return values.map((v) => userValues(typeof v.data === 'string' ? v.data : JSON.stringify(v.data), v.name));
}

/** Carried images the render certainly runs that are still upstream (not among `known`, the images already said to be left), and the render. */
function upstream(chart: LoadedChart, got: { values: Values; unknown: string[] }, render: RenderPick, ctx: RewriteContext, known: ReadonlySet<string>): { still: string[]; docs: RenderedDocument[] } {
  const docs = renderChart(chart, renderOptions({ ...render, values: asUsers(got.values) })).documents;
  const out = new Set<string>();
  for (const f of findRenderedImages(docs)) if (f.certainty !== 'possible' && !known.has(f.ref) && ctx.lookupImage(f.ref).status === 'mapped') out.add(f.ref);
  return { still: [...out], docs };
}

interface LookEnv {
  ctx: RewriteContext;
  view: View;
  /** Flux HelmRepositories/OCIRepositories by `kind name`. */
  fluxSources: Map<string, ChartSource[]>;
  valuesSources: ValuesSource[];
  dropped: number;
  /** HelmChartConfigs by `namespace/name`. */
  configs: Map<string, { file: string; doc: number }>;
}

/** A node at a dotted path (`spec.sources[0].helm`) of a document. */
function nodeAt(root: unknown, p: Array<string | number>): unknown {
  let cur = root;
  for (const k of p) cur = typeof k === 'number' ? (isSeq(cur) ? cur.items[k] : undefined) : mapGet(cur, k);
  return cur;
}

/**
 * The line each values key (a dotted path, as the override names it) is written at in an object:
 * in the first of `at` that is a values map, or a values string written as a `|` block (its content
 * lines are the file's lines after the block's header); 0 where it is not found (another form).
 */
function valuesKeyLines(view: View, file: string, doc: Document.Parsed | undefined, at: Array<Array<string | number>>, keyPaths: readonly string[]): number[] {
  const out = keyPaths.map(() => 0);
  for (const p of at) {
    const node = nodeAt(doc?.contents, p);
    let inner: { root: unknown; line: (offset: number) => number } | undefined;
    if (isMap(node)) inner = { root: node, line: (o) => view.lineOf(file, o) };
    else if (isScalar(node) && node.type === 'BLOCK_LITERAL' && typeof node.value === 'string' && node.range) {
      const value = node.value;
      const docs = tryParseYamlDocuments(value, { merge: true });
      const header = view.lineOf(file, node.range[0]);
      const starts = lineIndex(value);
      if (docs?.length === 1) inner = { root: docs[0].contents, line: (o) => header + starts(o) };
    }
    if (!inner) continue;
    keyPaths.forEach((k, i) => {
      const key = out[i] ? undefined : keyNodeAt(inner!.root, k.split('.'));
      if (key?.range) out[i] = inner!.line(key.range[0]);
    });
  }
  return out;
}

/** The key node of a path of map keys (undefined: not there). */
function keyNodeAt(root: unknown, keys: readonly string[]): Scalar | undefined {
  let cur = root;
  for (const [i, k] of keys.entries()) {
    const pair = isMap(cur) ? cur.items.find((x) => pairKey(x) === k) : undefined;
    if (!pair) return undefined;
    if (i === keys.length - 1) return isScalar(pair.key) ? pair.key : undefined;
    cur = pair.value;
  }
  return undefined;
}

function lineOfNode(view: View, file: string, node: unknown): number {
  const range = (node as { range?: number[] } | undefined)?.range;
  return range ? view.lineOf(file, range[0]) : 0;
}

function look(unit: Unit, env: LookEnv): Looked | undefined {
  const { ctx, view } = env;
  const text = (file: string) => view.texts.get(file)!;
  if (unit.kind === 'kustomize') {
    const c = kustomizeHelmChartsOf(unit.file, text(unit.file)).find((x) => x.index === unit.index);
    if (!c) return undefined;
    return lookKustomize(c, env);
  }
  const doc = view.doc(unit.file, unit.doc);
  if (!doc) return undefined;
  if (unit.kind === 'release') {
    const g = gitopsReleasesOf(doc.contents, doc)[unit.index];
    if (!g) return undefined;
    return lookRelease(g, unit.file, doc, env);
  }
  const h = helmChartObjectOf(doc.contents, doc);
  if (!h || h.kind !== 'HelmChart' || !h.source) return undefined;
  const spec = mapGet(doc.contents, 'spec');
  const entry = lockedChartFor(h.source, ctx.lock, ctx.target);
  const scanned: ScannedHelmChart = { ...h, file: unit.file, line: lineOfNode(view, unit.file, doc.contents) };
  const cfgAt = env.configs.get(repoKey(h.namespace, h.name));
  const cfgDoc = cfgAt ? view.doc(cfgAt.file, cfgAt.doc) : undefined;
  const cfgObj = cfgDoc ? helmChartObjectOf(cfgDoc.contents, cfgDoc) : undefined;
  const config: ScannedHelmChart | undefined = cfgAt && cfgObj ? { ...cfgObj, file: cfgAt.file, line: 0 } : undefined;
  return {
    object: h.object,
    file: unit.file,
    line: lineOfNode(view, unit.file, spec),
    entry,
    noChart: entry ? undefined : `the lock does not carry the chart ${h.source.chart ?? h.source.url} it installs`,
    values: async () => ({
      values: helmChartValues(scanned, config),
      unknown: [
        ...valuesDoubts(
          [doc, cfgDoc].flatMap((d, i) => {
            const named = i ? `${cfgObj?.object ?? 'HelmChartConfig'} spec` : `${h.object} spec`;
            return d ? ['values', 'valuesContent'].map((k): ValuesNode => [mapGet(mapGet(d.contents, 'spec'), k), `${named}.${k}`, d]) : [];
          }),
        ),
      ],
    }),
    render: { set: h.set, setString: h.setString, releaseName: h.name, namespace: h.targetNamespace ?? h.namespace ?? 'default' },
    into: 'spec.valuesContent',
    keyLines: (keys) => valuesKeyLines(view, unit.file, doc, [['spec', 'values'], ['spec', 'valuesContent']], keys),
    place: (override) => {
      // helm-controller merges the HelmChartConfig's values over the HelmChart's: a key it sets is set there.
      const cfgValues = config ? plainValues(helmChartValues(config, undefined)) : {};
      const [own, theirs] = splitBy(override, cfgValues);
      const out = new Map<string, TextEdit[]>();
      const parts: Array<[Record<string, unknown>, string, unknown, Document]> = [[own, unit.file, spec, doc]];
      if (Object.keys(theirs).length) parts.push([theirs, cfgAt!.file, mapGet(cfgDoc!.contents, 'spec'), cfgDoc!]);
      for (const [part, file, s, d] of parts) {
        if (!Object.keys(part).length) continue;
        if (!isMap(s)) return 'no spec map';
        const edits: TextEdit[] = [];
        const values = mapGet(s, 'values');
        const content = mapGet(s, 'valuesContent');
        const problem = isMap(values)
          ? mergeIntoMap(values, part, text(file), edits, d)
          : isScalar(content) && typeof content.value === 'string'
            ? mergeIntoString(s, 'valuesContent', content, part, text(file), edits)
            : content !== undefined
              ? 'spec.valuesContent is no string'
              : mergeIntoMap(s, { valuesContent: new BlockText(blockYaml(part)) }, text(file), edits, d);
        if (problem) return problem;
        out.set(file, [...(out.get(file) ?? []), ...edits]);
      }
      return out;
    },
  };
}

function lookRelease(g: GitOpsRelease, file: string, doc: Document.Parsed, env: LookEnv): Looked {
  const { ctx, view } = env;
  const text = view.texts.get(file)!;
  let source: ScannedHelmChart['source'] | undefined;
  let noChart: string | undefined;
  const notes: string[] = [];
  if (g.source) source = { tool: g.tool, object: g.object, kind: 'Application', keyPath: '', url: g.source.repo, ...g.source };
  else if (g.sourceRef) {
    const ref = g.sourceRef;
    // By name and namespace, as the audit finds it (audit/charts.ts byNamespace).
    const { match: s, assumed, ambiguous } = byNamespace(env.fluxSources.get(`${ref.kind} ${ref.name}`) ?? [], ref.namespace);
    if (assumed) notes.push(`its ${ref.kind} ${ref.name} ${assumed}`);
    if (ambiguous) noChart = `its ${ref.kind} ${ref.name}: ${ambiguous}, so the chart it installs is unknown here`;
    else if (!s) noChart = `its ${ref.kind} ${ref.name} is not among the files rewritten, so the chart it installs is unknown here (rewrite them together)`;
    else {
      const chart = ref.kind === 'OCIRepository' ? s.chart : ref.chart;
      if (chart) source = { tool: 'Flux', object: s.object, kind: s.kind, keyPath: s.keyPath, url: s.url, form: s.form, repo: s.repo, chart, version: ref.kind === 'OCIRepository' ? s.version : ref.version };
    }
  }
  const entry = source ? lockedChartFor(source, ctx.lock, ctx.target) : undefined;
  if (source && !entry) noChart = `the lock does not carry the chart ${source.chart} ${source.version ?? ''} it installs`;
  const where = `${file} ${g.object}`;
  const helmPath = parseValuesPath(g.valuesAt);
  const line = lineOfNode(view, file, nodeAt(doc.contents, g.tool === 'Flux' ? ['spec'] : helmPath.slice(0, -1)));
  const base = {
    object: g.object,
    file,
    line,
    entry,
    noChart,
    render: { set: g.set, setString: g.setString, releaseName: g.releaseName, namespace: g.namespace ?? 'default' },
    notes,
    chart: (chart: LoadedChart) => fluxValuesFilesChart(g, chart, entry!, where),
    values: async (chart: LoadedChart) => {
      const got = gitopsReleaseValues(g, chart, entry!, where, { valuesSources: env.valuesSources, valuesSourcesDropped: env.dropped });
      if (g.templated) got.unknown.push('ApplicationSet values with {{…}} are filled in per generated Application');
      const at = g.tool === 'Flux' ? ['spec'] : helmPath;
      // Argo CD reads valuesObject when it is a map, else values.
      const keys = g.tool === 'Flux' ? ['values'] : isMap(get(nodeAt(doc.contents, at), 'valuesObject')) ? ['valuesObject'] : ['values'];
      got.unknown.push(...valuesDoubts(keys.map((k) => [get(nodeAt(doc.contents, at), k), `${g.tool === 'Flux' ? 'spec' : g.valuesAt}.${k}`, doc])));
      return got;
    },
  };
  if (g.tool === 'Flux') {
    return { ...base, into: 'spec.values', keyLines: (keys) => valuesKeyLines(view, file, doc, [['spec', 'values']], keys), place: (override) => edited(file, (edits) => (isMap(mapGet(doc.contents, 'spec')) ? mergeIntoMap(mapGet(doc.contents, 'spec') as YAMLMap, { values: override }, text, edits, doc) : 'no spec map')) };
  }
  const helm = nodeAt(doc.contents, helmPath);
  const object = get(helm, 'valuesObject');
  const values = get(helm, 'values');
  const into = `${g.valuesAt}.${isMap(object) ? 'valuesObject' : values !== undefined ? 'values' : 'valuesObject'}`;
  return {
    ...base,
    into,
    keyLines: (keys) => valuesKeyLines(view, file, doc, [[...helmPath, 'valuesObject'], [...helmPath, 'values']], keys),
    place: (override) =>
      edited(file, (edits) => {
        if (helm === undefined) {
          const src = nodeAt(doc.contents, helmPath.slice(0, -1));
          return isMap(src) ? mergeIntoMap(src, { helm: { valuesObject: override } }, text, edits, doc) : 'no source map';
        }
        if (!isMap(helm)) return `${g.valuesAt} is no map`;
        if (isMap(object)) return mergeIntoMap(object, override, text, edits, doc);
        if (isMap(values)) return mergeIntoMap(values, override, text, edits, doc);
        if (isScalar(values) && typeof values.value === 'string') return mergeIntoString(helm, 'values', values, override, text, edits);
        if (values !== undefined && !(isScalar(values) && values.value === null)) return `${g.valuesAt}.values is neither a map nor a string`;
        return mergeIntoMap(helm, { valuesObject: override }, text, edits, doc);
      }),
  };
}

function lookKustomize(c: KustomizeHelmChart, env: LookEnv): Looked | undefined {
  const { ctx, view } = env;
  const kdir = path.dirname(path.resolve(c.file));
  // A chart vendored where kustomize looks is inflated from there, never pulled (rewriteManifests says so).
  const dir = kustomizeChartDir(kdir, c);
  if (!c.repo || 'problem' in dir || lstatSync(dir.abs, { throwIfNoEntry: false })) return undefined;
  const form = /^oci:\/\//i.test(c.repo) ? 'oci' : 'http';
  const repo = form === 'oci' ? `oci://${c.repo.replace(/^oci:\/\//i, '').replace(/\/+$/, '')}` : c.repo.replace(/\/+$/, '');
  const entry = lockedChartFor({ tool: 'Kustomize', object: 'Kustomization', kind: 'Kustomization', keyPath: `helmCharts[${c.index}].repo`, url: c.repo, form, repo, chart: c.name, version: c.version }, ctx.lock, ctx.target);
  const where = `${c.file} helmCharts[${c.index}]`;
  return {
    object: `Kustomization helmCharts[${c.index}] (${c.name})`,
    file: c.file,
    line: c.line,
    entry,
    noChart: entry ? undefined : `the lock does not carry the chart ${c.name} ${c.version ?? ''} it inflates`,
    values: async () => {
      // valuesInline as kustomize reads it (sigs.k8s.io/yaml: `<<` a merge key), from this rewrite's own reading of the file.
      const doc = view.doc(c.file, 0);
      const inline = nodeAt(doc?.contents, ['helmCharts', c.index, 'valuesInline']);
      const unknown = valuesDoubts([[inline, `helmCharts[${c.index}].valuesInline`, doc]]);
      let valuesInline = c.valuesInline;
      try {
        if (isMap(inline)) valuesInline = inline.toJS(doc!, { maxAliasCount: 100 }) as Record<string, unknown>;
      } catch (err) {
        unknown.push(`helmCharts[${c.index}].valuesInline not read (${err instanceof Error ? err.message : String(err)})`);
      }
      return { values: await kustomizeValues({ ...c, valuesInline }, kdir, where), unknown };
    },
    render: { releaseName: c.releaseName, namespace: c.namespace, apiVersions: c.apiVersions, kubeVersion: c.kubeVersion },
    into: 'valuesInline',
    keyLines: (keys) => valuesKeyLines(view, c.file, view.doc(c.file, 0), [['helmCharts', c.index, 'valuesInline']], keys),
    place: (override) =>
      edited(c.file, (edits) => {
        const doc = view.doc(c.file, 0);
        const item = nodeAt(doc?.contents, ['helmCharts', c.index]);
        return isMap(item) ? mergeIntoMap(item, { valuesInline: override }, view.texts.get(c.file)!, edits, doc!) : 'no helmCharts entry map';
      }),
  };
}

function edited(file: string, make: (edits: TextEdit[]) => string | undefined): Map<string, TextEdit[]> | string {
  const edits: TextEdit[] = [];
  const problem = make(edits);
  return problem ?? new Map([[file, edits]]);
}

const get = (n: unknown, k: string) => mapGet(n, k);
const isPlain = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof BlockText);

/** A string value written as a `|` block. */
class BlockText {
  constructor(readonly text: string) {}
}

/** The values as one plain object (later wins, maps merged), for telling where a key is set. */
function plainValues(values: Values): Record<string, unknown> {
  let out: Record<string, unknown> = {};
  for (const v of values) {
    let data: unknown = v.data;
    if (typeof data === 'string') {
      try {
        // Helm reads a values string through sigs.k8s.io/yaml: a key written twice, the later wins (linear: yaml-input.ts).
        data = parseHostileYaml(data, { merge: true, duplicates: 'last-wins' });
      } catch {
        data = undefined;
      }
    }
    if (isPlain(data)) out = mergePlain(out, data);
  }
  return out;
}

function mergePlain(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = isPlain(out[k]) && isPlain(v) ? mergePlain(out[k] as Record<string, unknown>, v) : v;
  return out;
}

/** `over` split in two: the keys `by` sets (they go where `by` is), and the rest. */
function splitBy(over: Record<string, unknown>, by: Record<string, unknown>): [Record<string, unknown>, Record<string, unknown>] {
  const rest: Record<string, unknown> = {};
  const there: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(over)) {
    if (!(k in by)) rest[k] = v;
    else if (isPlain(v) && isPlain(by[k])) {
      const [r, t] = splitBy(v, by[k] as Record<string, unknown>);
      if (Object.keys(r).length) rest[k] = r;
      if (Object.keys(t).length) there[k] = t;
    } else there[k] = v;
  }
  return [rest, there];
}

/** A value as block YAML (no trailing line break). */
function blockYaml(v: unknown): string {
  return new Document(v).toString({ lineWidth: 0 }).replace(/\n$/, '');
}

/** A value as one flow line (JSON is YAML). */
const flow = (v: unknown): string => (v instanceof BlockText ? JSON.stringify(v.text) : JSON.stringify(v));

/** A string in a flow collection: plain where that reads back as the same string, quoted otherwise. */
const flowScalar = (v: string): string => (/[,[\]{}]/.test(v) ? JSON.stringify(v) : renderScalar(v));

function scalarValue(v: unknown): string {
  return typeof v === 'string' ? renderScalar(v) : blockYaml(v);
}

function columnOf(text: string, offset: number): number {
  return offset - (text.lastIndexOf('\n', offset - 1) + 1);
}

/** `key: value` lines at `indent`, the value a block under the key where it is a collection or a `|` string. */
function pairText(key: string, v: unknown, indent: number, eol: string): string {
  const pad = ' '.repeat(indent);
  const k = renderScalar(key);
  const nested = (body: string) => body.split('\n').map((l) => (l ? `${pad}  ${l}` : l)).join(eol);
  if (v instanceof BlockText) {
    // `|` keeps one final line break, `|-` none (as the string had).
    const body = v.text.replace(/\n+$/, '');
    return `${pad}${k}: |${/^\s/.test(body) ? '2' : ''}${v.text.endsWith('\n') ? '' : '-'}${eol}${nested(body)}`;
  }
  if ((isPlain(v) && Object.keys(v).length) || (Array.isArray(v) && v.length)) return `${pad}${k}:${eol}${nested(blockYaml(v))}`;
  return `${pad}${k}: ${scalarValue(v)}`;
}

/** A values node (a map, or a values string), its name, and the document it is in. */
type ValuesNode = [unknown, string, Document | undefined];

/** Nodes one look at merge keys reads at most, and how deep merge sources are followed (a crafted object can nest or alias without end). */
const MAX_MERGE_NODES = 100_000;
const MAX_MERGE_DEPTH = 64;
const MAX_DOUBTS = 5;

/** The maps a merge key's value names (`*base`, `[*a, *b]`, an inline map), aliases resolved. */
function mergeSources(value: unknown, doc: Document | undefined): YAMLMap[] {
  const resolve = (n: unknown) => (isAlias(n) ? (doc ? n.resolve(doc) : undefined) : n);
  const v = resolve(value);
  const list = isSeq(v) ? v.items.map(resolve) : [v];
  return list.filter((m): m is YAMLMap => isMap(m));
}

/** The keys a merge key's value puts into its map: its sources' own keys and what their merge keys put in. */
function keysMergedBy(value: unknown, doc: Document | undefined, seen = new Set<unknown>(), depth = 0): Set<string> {
  const out = new Set<string>();
  if (depth > MAX_MERGE_DEPTH) return out;
  for (const src of mergeSources(value, doc)) {
    if (seen.has(src) || seen.size >= MAX_MERGE_NODES) continue;
    seen.add(src);
    for (const q of src.items) {
      if (isMergePair(q)) for (const k of keysMergedBy(q.value, doc, seen, depth + 1)) out.add(k);
      else if (pairKey(q) !== undefined) out.add(pairKey(q)!);
    }
  }
  return out;
}

/**
 * Where the Go YAML readers the controllers use disagree on a values map with merge keys (`<<`),
 * so what the controller reads is unknown: a key written before a `<<` that sets it too (go-yaml
 * v2, which kubectl, Argo CD and Helm read with through sigs.k8s.io/yaml, lets the merged value
 * win; go-yaml v3, kustomize's reader, and the YAML merge rule keep the key), and two `<<` keys
 * in one map (go-yaml v3 refuses a key written twice). A values string is read as YAML of its own.
 * Each node comes with its name and the document it is in (for its aliases). Bounded: MAX_MERGE_NODES nodes.
 */
function valuesDoubts(nodes: ValuesNode[]): string[] {
  const out: string[] = [];
  for (const [node, name, nodeDoc] of nodes) {
    let root = node;
    let doc = nodeDoc;
    if (isScalar(root) && typeof root.value === 'string') {
      if (!root.value.includes('<<')) continue;
      checkConfigYamlDensity(root.value, name, 'the values text');
      const inner = tryParseYamlDocuments(root.value, { merge: true });
      root = inner?.[0]?.contents;
      doc = inner?.[0];
    }
    const seen = new Set<unknown>();
    const stack: Array<[unknown, string]> = [[root, '']];
    while (stack.length) {
      const [raw, at] = stack.pop()!;
      const n = isAlias(raw) ? (doc ? raw.resolve(doc) : undefined) : raw;
      if (!(isMap(n) || isSeq(n)) || seen.has(n)) continue;
      if (seen.size >= MAX_MERGE_NODES) {
        out.push(`${name}: more than ${MAX_MERGE_NODES} YAML nodes, so its merge keys (<<) were not all read`);
        break;
      }
      seen.add(n);
      if (isSeq(n)) {
        n.items.forEach((x, i) => stack.push([x, `${at}[${i}]`]));
        continue;
      }
      const merges = n.items.flatMap((p, i) => (isMergePair(p) ? [i] : []));
      const where = `${name}${at}`;
      // Helm's values reader in ferry (kinds/chart/values.ts) merges `<<: *alias` and `<<: [*a, *b]` in a values string, not an inline map.
      if (isScalar(node) && merges.some((i) => isMap(n.items[i].value))) out.push(`${where}: a YAML merge key (<<) with a map written in place, which ferry does not merge in a values string; write the map with an anchor and merge its alias (<<: *name)`);
      if (merges.length > 1) out.push(`${where}: two YAML merge keys (<<) in one map: go-yaml v2 (kubectl, Argo CD, Helm) merges them in turn, go-yaml v3 (kustomize) refuses the map, so what the controller reads is unknown; write one << with a list (<<: [*a, *b])`);
      else if (merges.length) {
        const merged = keysMergedBy(n.items[merges[0]].value, doc);
        for (const p of n.items.slice(0, merges[0])) {
          const k = pairKey(p);
          if (k !== undefined && merged.has(k)) out.push(`${where}: ${k} is written before a YAML merge key (<<) that sets it too: go-yaml v2 (kubectl, Argo CD, Helm) lets the merged value win, go-yaml v3 (kustomize) and the YAML merge rule keep ${k}, so which the controller reads is unknown; write ${k} after the << line`);
        }
      }
      // A few are reason enough to leave the object.
      if (out.length >= MAX_DOUBTS) return out;
      for (const p of n.items) stack.push([p.value, isMergePair(p) ? `${at}.<<` : `${at}.${pairKey(p) ?? '?'}`]);
    }
  }
  return out;
}

/**
 * Edits that merge `over` into a YAML map of `text` as Helm merges values (maps merge, the rest
 * replaces): a key present is changed in place (a scalar in its own quoting), a missing one is
 * added after the map's last entry in the map's style. Returns why not, when a value cannot be
 * edited safely (an alias, an anchored node others share, a key written twice).
 */
function mergeIntoMap(map: YAMLMap, over: Record<string, unknown>, text: string, edits: TextEdit[], doc: Document | undefined): string | undefined {
  // An anchored map is what its aliases read too (another source's valuesObject: *v): an edit would change them as well.
  if (map.anchor) return `the map is the YAML anchor &${map.anchor}, shared with its aliases`;
  const add: Array<[string, unknown]> = [];
  // A key a YAML merge key (`<<: *base`) puts into the map comes from another map (an anchor others
  // may share, as the anchored map above): edited there, every user would change; written over it
  // here, a map key would replace the merged map whole. Left, said why, as an anchor is.
  const merges = map.items.flatMap((p, i) => (isMergePair(p) ? [i] : []));
  const merged = new Set<string>();
  const seen = new Set<unknown>();
  for (const i of merges) for (const k of keysMergedBy(map.items[i].value, doc, seen)) merged.add(k);
  for (const [k, v] of Object.entries(over)) {
    const pairs = map.items.filter((p) => !isMergePair(p) && pairKey(p) === k);
    if (pairs.length > 1) return `the key ${k} is written twice`;
    if (map.items.some((p) => !isScalar(p.key))) return 'a map with a complex key';
    const own = pairs[0] ? map.items.indexOf(pairs[0]) : -1;
    if (merged.has(k) && (own < 0 || merges.some((m) => m > own))) return `${k} comes from a YAML merge key (<<) in the map, so the value to change is another map's (an anchor others may share)`;
    const pair = pairs[0];
    if (!pair) {
      add.push([k, v]);
      continue;
    }
    const node = pair.value as YamlNode | null;
    if (node && (node as { anchor?: string }).anchor) return `${k} is the YAML anchor &${(node as { anchor?: string }).anchor}, shared with its aliases`;
    if (node && !isMap(node) && !isSeq(node) && !isScalar(node)) return `${k} is a YAML alias`;
    if (isPlain(v) && isMap(node)) {
      const problem = mergeIntoMap(node, v, text, edits, doc);
      if (problem) return problem;
      continue;
    }
    if (!node || !node.range || (isScalar(node) && node.value === null)) {
      // `key:` with nothing: the value written after the colon.
      const end = (pair.key as Scalar).range![1];
      const colon = text.indexOf(':', end);
      if (colon < 0) return `no colon after ${k}`;
      const eol = text.includes('\r\n') ? '\r\n' : '\n';
      const indent = columnOf(text, (pair.key as Scalar).range![0]);
      const written = pairText('x', v, indent, eol);
      edits.push({ start: colon + 1, end: node?.range ? Math.max(colon + 1, node.range[1]) : colon + 1, text: written.slice(written.indexOf(':') + 1) });
      continue;
    }
    if (isScalar(node) && typeof v === 'string' && node.type !== Scalar.BLOCK_LITERAL && node.type !== Scalar.BLOCK_FOLDED) {
      const [start, end] = node.range;
      edits.push({ start, end, text: renderScalar(v, node.type) });
      continue;
    }
    // Another type, a list (Helm replaces lists whole) or a block string: the whole value, on one line.
    const [start] = node.range;
    const end = start + text.slice(start, node.range[1]).trimEnd().length;
    edits.push({ start, end, text: isScalar(node) && (typeof v === 'number' || typeof v === 'boolean' || v === null) ? String(v) : flow(v) });
  }
  if (!add.length) return undefined;
  if (map.flow || !map.items.length) {
    if (!map.range) return 'a map without a place in the text';
    // After the last entry (`{a: 1}` → `{a: 1, b: 2}`), or inside the braces of an empty map.
    const last = map.items[map.items.length - 1];
    const lastRange = last ? ((last.value as YamlNode | null)?.range ?? (last.key as Scalar).range) : undefined;
    const at = lastRange ? lastRange[1] : text.lastIndexOf('}', map.range[1] - 1);
    if (at < map.range[0]) return 'a flow map without its closing brace';
    const body = add.map(([k, v]) => `${flowScalar(k)}: ${typeof v === 'string' ? flowScalar(v) : flow(v)}`).join(', ');
    edits.push({ start: at, end: at, text: `${last ? ', ' : ''}${body}` });
    return undefined;
  }
  const first = map.items[0].key as Scalar;
  const indent = columnOf(text, first.range![0]);
  const last = map.items[map.items.length - 1];
  const lastEnd = ((last.value as YamlNode | null)?.range ?? (last.key as Scalar).range!)[1];
  // After the last entry's last line (a block value ends after its line break; a comment after it stays on its line).
  let at = lastEnd;
  while (at > 0 && /[ \t\r\n]/.test(text[at - 1])) at--;
  const nl = text.indexOf('\n', at);
  const eol = nl > 0 && text[nl - 1] === '\r' ? '\r\n' : '\n';
  const pos = nl < 0 ? text.length : nl - (eol === '\r\n' ? 1 : 0);
  edits.push({ start: pos, end: pos, text: add.map(([k, v]) => `${eol}${pairText(k, v, indent, eol)}`).join('') });
  return undefined;
}

/**
 * Edits that merge `over` into a values string (Argo CD `helm.values`, k3s `valuesContent`): the
 * string's own YAML edited as a map is (its comments kept), and the string written again as a
 * `|` block under its key.
 */
function mergeIntoString(parent: YAMLMap, key: string, node: Scalar, over: Record<string, unknown>, text: string, edits: TextEdit[]): string | undefined {
  const inner = String(node.value);
  let next: string;
  if (!inner.trim()) next = `${blockYaml(over)}\n`;
  else {
    // Bounded as a values file is (the yaml library needs ~1 KiB a token).
    checkConfigYamlDensity(inner, key, 'the values text');
    const docs = tryParseYamlDocuments(inner, { merge: true });
    if (!docs || docs.length !== 1) return `${key} is not one YAML document`;
    const contents = docs[0].contents;
    if (!isMap(contents)) return `${key} holds no map`;
    const innerEdits: TextEdit[] = [];
    const problem = mergeIntoMap(contents, over, inner, innerEdits, docs[0]);
    if (problem) return `${key}: ${problem}`;
    next = applyTextEdits(inner, innerEdits);
  }
  const pair = parent.items.find((p) => p.value === node)!;
  const indent = columnOf(text, (pair.key as Scalar).range![0]);
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  const written = pairText(key, new BlockText(next), indent, eol);
  const [start] = node.range!;
  let end = node.range![1];
  while (end > start && /[ \t\r\n]/.test(text[end - 1])) end--;
  edits.push({ start, end, text: written.slice(written.indexOf(':') + 2) });
  return undefined;
}

