import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { Transform } from 'node:stream';
import path from 'node:path';
import semver from 'semver';
import { stringify as stringifyYaml } from 'yaml';
import { FerryError } from '../../errors.js';
import { resolveTarget, type ResolvedTarget } from '../../manifest/resolved-target.js';
import { canonicalRegistryPath, chartNameProblems, chartOciReference, mapChartHttp, mapImage } from '../../mapping/index.js';
import { MT, type OciDescriptor, type OciManifest } from '../../oci/media-types.js';
import type { RepoRef } from '../../oci/client.js';
import { keyedMutex } from '../../net/concurrency.js';
import { MirrorTree } from '../../mapping/mirror-tree.js';
import { foldedByArtifact } from '../../store/name-folding.js';
import { safeJoin } from '../../store/safe-path.js';
import { writeFileAtomic } from '../../store/temp-files.js';
import { presentWithSize, sha256OfFile, verifiedWrite } from '../../store/verified-write.js';
import { bundleIndex, manifestParts, ProblemList, readJsonBlob, type ImportProblem } from '../import-checks.js';
import { layoutNeeds, stageArtifactForLayout, writeArtifactToLayout } from '../layout-write.js';
import { clipName, lockedByRefName, lockIndex, readOrSkip } from '../lock-index.js';
import { loadChartStream, type ChartMetadata } from './load.js';
import { helmChartLayers, httpChartArtifact } from './repo-oci.js';
import { INDEX_YAML } from './repo-http.js';
import { parseHostileYaml } from '../../manifest/yaml-input.js';
import { readProvenanceBlob, reverifyChartProvenance } from './provenance.js';
import { pushOciArtifact, pushOciArtifactBlobs, pushSessionOf } from '../registry-push.js';
import { ANNOTATION, type BlobSource } from '../../store/source.js';
import type { ImportContext, ImportNeed, ImportResult } from '../types.js';

/**
 * Import one chart artifact from the bundle: to the registry as `<mapped>/…/<chart>:<version>`
 * (what `helm pull oci://…` reads), into an OCI layout directory, and/or into an HTTP chart
 * repository directory with an `index.yaml` whose urls point at the target's baseUrl.
 */
export interface ChartArtifact {
  refName: string;
  top: OciDescriptor;
  topBytes: Buffer;
  manifest: OciManifest;
  meta: Record<string, unknown> & { name: string; version: string };
  chart: OciDescriptor;
  prov?: OciDescriptor;
  blobs: OciDescriptor[];
}

export async function readChartArtifact(top: OciDescriptor, source: BlobSource): Promise<ChartArtifact> {
  // A bundle made before chart names were canonical names a Docker Hub chart by its API host (registry-1.docker.io/…).
  const refName = canonicalRegistryPath(top.annotations?.[ANNOTATION.refName] ?? top.digest);
  const { bytes: topBytes, json: manifest } = await readJsonBlob<OciManifest>(source, top, `chart ${refName} manifest`);
  manifestParts(manifest, `chart ${refName}`);
  const meta = (await readJsonBlob<ChartArtifact['meta']>(source, manifest.config, `chart ${refName} config`)).json;
  const problems = chartNameProblems(meta.name, meta.version);
  if (problems.length) throw new FerryError('VERIFY', `chart ${refName}: ${problems.join('; ')}`, { hint: 'Chart names and versions become file names on the mirror; the bundle was crafted or damaged.' });
  const { chart, prov } = helmChartLayers(manifest.layers, `chart ${refName}`, 'VERIFY');
  if (!chart) throw new FerryError('VERIFY', `${refName}: the bundle's chart artifact has no chart content layer`);
  const strip = (d: OciDescriptor) => ({ mediaType: d.mediaType, digest: d.digest, size: d.size });
  return { refName, top, topBytes, manifest, meta, chart, prov, blobs: [strip(manifest.config), ...manifest.layers.map(strip)] };
}

function registryPlace(a: ChartArtifact, ctx: ImportContext) {
  const reg = ctx.target.registry!;
  const mapped = mapImage(a.refName, reg.mapping);
  const repo: RepoRef = { registry: reg.host, repository: mapped.repository };
  return { mapped, repo, artifact: `chart ${a.meta.name} ${a.meta.version}` };
}

async function pushToRegistry(a: ChartArtifact, ctx: ImportContext): Promise<ImportResult> {
  const session = pushSessionOf(ctx);
  const { mapped, repo, artifact } = registryPlace(a, ctx);
  const { bytesSent, skipped } = await pushOciArtifact(session, repo, { label: artifact, blobs: a.blobs, children: [], top: a.top, topBytes: a.topBytes, tag: mapped.tag });
  return { artifact, location: `oci://${mapped.mirror}`, bytesSent, skipped };
}

async function writeToLayout(a: ChartArtifact, ctx: ImportContext): Promise<ImportResult> {
  const top = a.top.annotations?.[ANNOTATION.refName] === undefined ? a.top : { ...a.top, annotations: { ...a.top.annotations, [ANNOTATION.refName]: a.refName } };
  const { dir, bytesSent, skipped } = await writeArtifactToLayout(a.refName, top, a.blobs, ctx);
  return { artifact: `chart ${a.meta.name} ${a.meta.version}`, location: `${dir}#${a.refName}`, bytesSent, skipped };
}

interface HelmIndex {
  apiVersion: string;
  entries: Record<string, Array<Record<string, unknown>>>;
  [key: string]: unknown;
}

/** index.yaml updates, one at a time per file within this process. */
const indexLock = keyedMutex<string>();

async function updateIndex(dir: string, entry: Record<string, unknown> & { name: string; version: string; digest: string }): Promise<'added' | 'same'> {
  const file = path.join(dir, 'index.yaml');
  return indexLock(file, async (): Promise<'added' | 'same'> => {
    let index: HelmIndex = { apiVersion: 'v1', entries: {} };
    try {
      const raw = parseHostileYaml(await readFile(file, 'utf8'), INDEX_YAML) as HelmIndex | null;
      if (raw && typeof raw === 'object') index = { ...raw, apiVersion: raw.apiVersion ?? 'v1', entries: raw.entries ?? {} };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new FerryError('VALIDATION', `${file}: the existing index is not valid YAML; ferry will not overwrite it`, { cause: err, hint: 'Fix or remove it, then import again.' });
      }
    }
    // Chart names are keys: looked up and set as own keys only (a chart named `constructor`,
    // `toString` or `__proto__` is a valid Helm name, and a plain object already "has" them).
    const byName = new Map(Object.entries(index.entries && typeof index.entries === 'object' ? index.entries : {}));
    const had = byName.get(entry.name) ?? [];
    if (!Array.isArray(had)) {
      throw new FerryError('VALIDATION', `${file}: entries.${entry.name} is not a list of versions; ferry will not overwrite it`, { hint: 'Fix or remove it, then import again.' });
    }
    const list = had.filter((e): e is Record<string, unknown> => typeof e === 'object' && e !== null);
    const prev = list.find((e) => String(e.version) === entry.version);
    if (prev) {
      if (prev.digest === entry.digest && JSON.stringify(prev.urls) === JSON.stringify(entry.urls)) return 'same';
      if (prev.digest && prev.digest !== entry.digest) {
        throw new FerryError('CONFLICT', `${file}: ${entry.name} ${entry.version} is already listed with digest ${String(prev.digest)}, the bundle has ${entry.digest}`, {
          hint: 'Two different archives claim the same chart version; remove the old one from the mirror if it is wrong.',
        });
      }
    }
    const next = [...list.filter((e) => String(e.version) !== entry.version), entry];
    next.sort((a, b) => {
      const va = String(a.version);
      const vb = String(b.version);
      const sa = semver.valid(va, { loose: true });
      const sb = semver.valid(vb, { loose: true });
      if (sa && sb) return semver.rcompare(sa, sb);
      return va < vb ? 1 : va > vb ? -1 : 0;
    });
    byName.set(entry.name, next);
    // fromEntries defines each key as its own property, `__proto__` included.
    index.entries = Object.fromEntries([...byName].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    const { apiVersion, entries, ...rest } = index;
    const text = stringifyYaml({ apiVersion, entries, ...rest }, { lineWidth: 0 });
    await writeFileAtomic(file, text);
    return 'added';
  });
}

/** Where a chart's archive goes in the chart repository, checked to stay inside its directory. */
function chartRepoPlace(a: ChartArtifact, charts: NonNullable<ResolvedTarget['charts']>) {
  const mapped = mapChartHttp(a.meta.name, a.meta.version, charts);
  const label = `chart ${a.meta.name} ${a.meta.version}`;
  return { mapped, label, file: safeJoin(charts.dir, mapped.path, label) };
}

async function writeToChartRepo(a: ChartArtifact, ctx: ImportContext): Promise<ImportResult> {
  const charts = ctx.target.charts!;
  const dir = charts.dir;
  const { mapped, label, file } = chartRepoPlace(a, charts);
  let bytesSent = 0;
  const have = await stat(file).then((s) => s.size, () => undefined);
  if (have !== a.chart.size || (await sha256OfFile(file)) !== a.chart.digest) {
    if (have !== undefined && (await sha256OfFile(file)) !== a.chart.digest) {
      throw new FerryError('CONFLICT', `${file}: a different archive of ${a.meta.name} ${a.meta.version} is already there (bundle has ${a.chart.digest})`, {
        hint: 'Remove the old archive if it is wrong, then import again.',
      });
    }
    if (!(await ctx.staged?.place(a.chart.digest, file))) await verifiedWrite(file, await ctx.source.openBlob(a.chart.digest), a.chart, { label });
    bytesSent += a.chart.size;
  }
  if (a.prov && (await sha256OfFile(`${file}.prov`)) !== a.prov.digest) {
    if (!(await ctx.staged?.place(a.prov.digest, `${file}.prov`))) await verifiedWrite(`${file}.prov`, await ctx.source.openBlob(a.prov.digest), a.prov, { label: `${label} provenance` });
    bytesSent += a.prov.size;
  }
  const { name, version, ...meta } = a.meta;
  const entry = { apiVersion: 'v2', ...meta, name, version, urls: [mapped.url], digest: a.chart.digest.slice('sha256:'.length) };
  const indexed = await updateIndex(dir, { ...entry, digest: entry.digest });
  return { artifact: label, location: mapped.url, bytesSent, skipped: bytesSent === 0 && indexed === 'same' };
}

/**
 * Every chart archive a chart repository of one bundle holds (`<name>-<version>.tgz` and its
 * `.prov`), each claimed by its artifact: two repositories' charts of one name and version with
 * different bytes cannot both be there (one archive would replace the other, and index.yaml list
 * the other's digest). Import and serve place through here.
 */
export class ChartTree extends MirrorTree {
  constructor() {
    super('chart archive', 'a chart repository is flat: <name>-<version>.tgz, whichever repository it came from');
  }

  /** Place a chart's archive (and provenance), claimed by `owner`: its problems, empty when it has a place. */
  placeChart(a: Pick<ChartArtifact, 'meta' | 'chart' | 'prov'>, owner: string): string[] {
    const file = mapChartHttp(a.meta.name, a.meta.version, { baseUrl: 'http://ferry.invalid' }).path;
    const out: string[] = [];
    for (const [p, d] of [[file, a.chart], ...(a.prov ? [[`${file}.prov`, a.prov] as const] : [])] as const) {
      const placed = this.place(`${owner} (${d.digest.slice(0, 19)}…)`, p, d.digest);
      if ('problem' in placed) out.push(`${a.meta.name} ${a.meta.version} (${d.digest.slice(0, 19)}…): ${placed.problem}; both stay apart in a registry (each under its repository's path): import into a target without charts.dir, or bundle one of them`);
    }
    return out;
  }
}

/** Per bundle source, built once: each chart's clashes with the bundle's other charts, by top digest; the archive paths placed. */
interface BundleCharts {
  problems: Map<string, string[]>;
  /** Archive (or provenance) path in charts.dir → the chart placed there and its top digest. */
  placed: Map<string, { shown: string; top: string }>;
  /** Per charts.dir: the paths one on its file system, by top digest (probed once). */
  folded: Map<string, Promise<Map<string, string[]>>>;
}

const bundleCharts = new WeakMap<BlobSource, Promise<BundleCharts>>();

function chartClashes(source: BlobSource): Promise<BundleCharts> {
  let p = bundleCharts.get(source);
  if (!p) {
    p = (async () => {
      const tree = new ChartTree();
      const problems = new Map<string, string[]>();
      const placed = new Map<string, { shown: string; top: string }>();
      for (const top of (await bundleIndex(source)).manifests) {
        if (top?.annotations?.[ANNOTATION.kind] !== 'chart') continue;
        // An artifact that cannot be read is reported by its own validation.
        const a = await readChartArtifact(top, source).catch(() => undefined);
        const found = a ? tree.placeChart(a, a.refName) : [];
        if (found.length) problems.set(top.digest, found);
        else if (a && !chartNameProblems(a.meta.name, a.meta.version).length) {
          const file = mapChartHttp(a.meta.name, a.meta.version, { baseUrl: 'http://ferry.invalid' }).path;
          for (const x of a.prov ? [file, `${file}.prov`] : [file]) if (!placed.has(x)) placed.set(x, { shown: `${a.refName} ${a.meta.name} ${a.meta.version} (${x})`, top: top.digest });
        }
      }
      return { problems, placed, folded: new Map() };
    })();
    bundleCharts.set(source, p);
  }
  return p;
}

/**
 * What an earlier import left at a chart's place in `charts.dir`: a different archive there, or
 * index.yaml listing another digest for its name and version, is not replaced (a site's chart
 * repository changes a published version for nobody): refused before anything is written.
 */
async function earlierChartProblem(a: ChartArtifact, dir: string, index: Promise<HelmIndex | undefined>): Promise<string | undefined> {
  const file = safeJoin(dir, mapChartHttp(a.meta.name, a.meta.version, { baseUrl: 'http://ferry.invalid' }).path, `chart ${a.refName}`);
  const what = `${a.meta.name} ${a.meta.version}`;
  const redo = 'a site keeps what it imported: if the old one is wrong, remove it (the archive and its index.yaml entry) and import again; else mirror the other repository\'s chart under another name or version';
  const have = await sha256OfFile(file);
  if (have !== undefined && have !== a.chart.digest) {
    return `${file} holds another archive of ${what} (${have.slice(0, 19)}…), from an earlier import; this bundle's, from ${a.refName}, is ${a.chart.digest.slice(0, 19)}…: ${redo}`;
  }
  const entries = (await index)?.entries;
  const listed = entries && Object.hasOwn(entries, a.meta.name) ? entries[a.meta.name] : undefined;
  const prev = Array.isArray(listed) ? listed.find((e) => e && String(e.version) === a.meta.version) : undefined;
  if (prev && typeof prev.digest === 'string' && `sha256:${prev.digest}` !== a.chart.digest) {
    return `${path.join(dir, 'index.yaml')} lists ${what} with digest ${prev.digest.slice(0, 12)}…, from an earlier import; this bundle's, from ${a.refName}, is ${a.chart.digest.slice(0, 19)}…: ${redo}`;
  }
  return undefined;
}

/** A chart repository's index.yaml, for validation: undefined when there is none (or it is not YAML, which updateIndex reports). */
async function readIndexQuietly(dir: string): Promise<HelmIndex | undefined> {
  try {
    const raw = parseHostileYaml(await readFile(path.join(dir, 'index.yaml'), 'utf8'), INDEX_YAML) as HelmIndex | null;
    return raw && typeof raw === 'object' && raw.entries && typeof raw.entries === 'object' ? raw : undefined;
  } catch {
    return undefined;
  }
}

/** Per bundle source and charts.dir: its index.yaml, read once for all the bundle's charts. */
const earlierIndexes = new WeakMap<BlobSource, Map<string, Promise<HelmIndex | undefined>>>();

/**
 * Before anything is written: manifest and config readable, within their caps and matching
 * their digests; name and version valid for Helm (they become `<name>-<version>.tgz`); the
 * reference maps onto the target registry; the archive path stays inside `charts.dir`, is this
 * chart's alone in the bundle, and holds nothing else from an earlier import.
 */
export async function validateChartImport(top: OciDescriptor, source: BlobSource, target: ResolvedTarget): Promise<ImportProblem[]> {
  const label = `chart ${top.annotations?.[ANNOTATION.refName] ?? top.digest}`;
  const problems = new ProblemList();
  const a = await problems.check(label, () => readChartArtifact(top, source));
  const t = target;
  if (t.registry) {
    const refName = top.annotations?.[ANNOTATION.refName];
    if (!refName) problems.add(label, `chart has no ${ANNOTATION.refName} annotation; it cannot be placed on the registry`);
    else await problems.check(label, () => mapImage(refName, t.registry!.mapping));
  }
  if (a && t.charts) {
    const dir = t.charts.dir;
    const placed = await problems.check(label, () => {
      const file = safeJoin(dir, mapChartHttp(a.meta.name, a.meta.version, t.charts!).path, label);
      if (a.prov) safeJoin(dir, `${path.basename(file)}.prov`, label);
      return true;
    });
    const charts = await chartClashes(source);
    for (const p of charts.problems.get(top.digest) ?? []) problems.add(label, p);
    for (const p of (await foldedByArtifact(charts.placed, dir, charts.folded)).get(top.digest) ?? []) problems.add(label, p, 'CONFLICT');
    if (placed) {
      let byDir = earlierIndexes.get(source);
      if (!byDir) earlierIndexes.set(source, (byDir = new Map()));
      let index = byDir.get(dir);
      if (!index) byDir.set(dir, (index = readIndexQuietly(dir)));
      const earlier = await problems.check(label, () => earlierChartProblem(a, dir, index));
      if (earlier) problems.add(label, earlier, 'CONFLICT');
    }
  }
  return problems.items;
}

export async function importChart(top: OciDescriptor, ctx: ImportContext): Promise<ImportResult[]> {
  // The command's target is resolved already (returned as is); a context built by hand may carry the loaded form.
  const resolved = resolveTarget(ctx.target);
  if (resolved !== ctx.target) ctx = { ...ctx, target: resolved };
  const a = await readChartArtifact(top, ctx.source);
  const results: ImportResult[] = [];
  const t = ctx.target;
  if (t.registry) results.push(await pushToRegistry(a, ctx));
  if (t.directory) results.push(await writeToLayout(a, ctx));
  if (t.charts) results.push(await writeToChartRepo(a, ctx));
  return results;
}

/**
 * What importChart would write into the target's directories: into an OCI layout, the blobs it
 * lacks; into charts.dir, the archive and provenance not there with their sizes (one there of
 * another digest is refused by validateChartImport) and index.yaml, rewritten through a temporary
 * copy (its size now, and the entry added).
 */
export async function chartImportNeeds(top: OciDescriptor, source: BlobSource, target: ResolvedTarget): Promise<ImportNeed[]> {
  const t = resolveTarget(target);
  if (!t.directory && !t.charts) return [];
  const a = await readChartArtifact(top, source);
  const needs = await layoutNeeds(a.top, a.blobs, t);
  if (t.charts) {
    const dir = t.charts.dir;
    const { file } = chartRepoPlace(a, t.charts);
    const need = (at: string, bytes: number, digest?: string) => needs.push({ key: 'charts.dir', dir, file: at, bytes, digest });
    if (!(await presentWithSize(file, a.chart.size))) need(file, a.chart.size, a.chart.digest);
    if (a.prov && !(await presentWithSize(`${file}.prov`, a.prov.size))) need(`${file}.prov`, a.prov.size, a.prov.digest);
    const index = path.join(dir, 'index.yaml');
    need(index, (await stat(index).then((s) => s.size, () => 0)) + Buffer.byteLength(JSON.stringify(a.meta)) + 1024);
  }
  return needs;
}

/**
 * Import's first pass: the chart's blobs (config, archive, provenance) into its registry
 * repository, no manifest; staged in an OCI layout target (not in its index.json) and in a
 * chart repository (the archive and provenance under temporary names, not in index.yaml).
 */
export async function importChartBlobs(top: OciDescriptor, ctx: ImportContext): Promise<void> {
  const resolved = resolveTarget(ctx.target);
  if (resolved !== ctx.target) ctx = { ...ctx, target: resolved };
  const t = ctx.target;
  const toRegistry = Boolean(t.registry && ctx.registry);
  const staged = ctx.staged;
  if (!toRegistry && !(staged && (t.directory || t.charts))) return;
  const a = await readChartArtifact(top, ctx.source);
  if (toRegistry) {
    const { mapped, repo, artifact } = registryPlace(a, ctx);
    await pushOciArtifactBlobs(pushSessionOf(ctx), repo, { label: artifact, blobs: a.blobs, top: a.top, tag: mapped.tag });
  }
  if (!staged) return;
  if (t.directory) await stageArtifactForLayout(a.refName, a.top, a.blobs, ctx);
  if (t.charts) {
    const { file } = chartRepoPlace(a, t.charts);
    if (!(await presentWithSize(file, a.chart.size))) await staged.stage(a.chart, path.dirname(file));
    if (a.prov && !(await presentWithSize(`${file}.prov`, a.prov.size))) await staged.stage(a.prov, path.dirname(file));
  }
}

const chartsByRef = lockIndex((e) => (typeof e.repo === 'string' && typeof e.name === 'string' && typeof e.version === 'string' ? chartOciReference(e.repo, e.name, e.version) : undefined));
const digestIn = (d: unknown): string | undefined => (typeof d === 'object' && d !== null && typeof (d as { digest?: unknown }).digest === 'string' ? (d as { digest: string }).digest : undefined);

/**
 * Why a chart in index.json is not what the lock pins: its ref.name (repository, name, version)
 * no locked chart's; from an OCI repository, its manifest not the one the lock pins (kept byte
 * for byte); from an HTTP repository (whose manifest ferry writes), its archive, provenance or
 * name and version not the lock's, or a layer besides them.
 */
export async function unlockedChartTop(top: OciDescriptor, entries: readonly unknown[], source: BlobSource): Promise<string | undefined> {
  const name = top.annotations?.[ANNOTATION.refName];
  const found = lockedByRefName(name === undefined ? top : { ...top, annotations: { ...top.annotations, [ANNOTATION.refName]: canonicalRegistryPath(name) } }, entries, chartsByRef, 'chart');
  if ('why' in found) return found.why;
  const label = `chart ${clipName(found.name)}`;
  const manifests = found.locked.map((e) => digestIn((e.oci as { manifest?: unknown } | undefined)?.manifest)).filter((d): d is string => d !== undefined);
  const byManifest = found.locked.find((e) => digestIn((e.oci as { manifest?: unknown } | undefined)?.manifest) === top.digest);
  if (byManifest) return byManifest.provenance === undefined ? undefined : provenanceProblem(byManifest, await readOrSkip(() => readChartArtifact(top, source)), source, label);
  const archives = found.locked.filter((e) => e.oci === undefined && typeof e.digest === 'string');
  if (!archives.length) return `${label}: index.json points it at ${top.digest}, the bundle's lock pins ${manifests.join(', ') || 'no manifest'}`;
  const a = await readOrSkip(() => readChartArtifact(top, source));
  if (!a) return undefined; // validateChartImport names what cannot be read
  const others = a.manifest.layers.filter((l) => l.digest !== a.chart.digest && l.digest !== a.prov?.digest);
  const why = archives.map((e) => {
    if (a.chart.digest !== e.digest) return `its archive in the bundle is ${a.chart.digest}, the bundle's lock pins ${String(e.digest)}`;
    if (a.prov?.digest !== digestIn(e.prov)) return `its provenance in the bundle is ${a.prov?.digest ?? 'none'}, the bundle's lock pins ${digestIn(e.prov) ?? 'none'}`;
    if (a.meta.name !== e.name || a.meta.version !== e.version) return `its config names ${clipName(`${a.meta.name} ${a.meta.version}`)}, the bundle's lock ${clipName(`${String(e.name)} ${String(e.version)}`)}`;
    if (others.length) return `its manifest carries ${others[0].digest} besides the archive and provenance the bundle's lock pins`;
    return undefined;
  });
  if (!why.includes(undefined)) return `${label}: ${why[0]}`;
  return (await madeFromArchive(a, source, label)) ?? provenanceProblem(archives[why.indexOf(undefined)], a, source, label);
}

/**
 * A chart whose lock entry records a verified provenance (its manifest entry gave keys:): the
 * bundle's provenance verified again, offline, with the key the lock records (the bundle
 * signature covers the lock, so the key as well), for the bundle's archive, name and version.
 */
async function provenanceProblem(entry: Record<string, unknown>, a: ChartArtifact | undefined, source: BlobSource, label: string): Promise<string | undefined> {
  if (entry.provenance === undefined || !a) return undefined; // an artifact that cannot be read: validateChartImport names it
  if (!a.prov) return `${label}: the bundle's lock records its provenance as verified, but the bundle carries no provenance for it`;
  try {
    const prov = await readProvenanceBlob(source, a.prov, label);
    await reverifyChartProvenance(entry.provenance, prov, { label, name: a.meta.name, version: a.meta.version, archiveDigest: a.chart.digest });
    return undefined;
  } catch (err) {
    if (err instanceof FerryError) return err.message;
    throw err;
  }
}

/**
 * Per bundle source: each archive's Chart.yaml metadata, read once per digest (undefined when it
 * cannot be read or is not its digest). Index.json may name one archive from any number of
 * entries: each is compared, the archive is not read again.
 */
const archiveMetadatas = new WeakMap<BlobSource, Map<string, Promise<ChartMetadata | undefined>>>();

function archiveMetadata(source: BlobSource, digest: string, where: string): Promise<ChartMetadata | undefined> {
  let byDigest = archiveMetadatas.get(source);
  if (!byDigest) archiveMetadatas.set(source, (byDigest = new Map()));
  let found = byDigest.get(digest);
  if (!found) {
    found = (async () => {
      const hash = createHash('sha256');
      const loaded = await readOrSkip(async () => {
        const hashed = new Transform({
          transform(chunk: Buffer, _enc, cb) {
            hash.update(chunk);
            cb(null, chunk);
          },
        });
        const raw = await source.openBlob(digest);
        raw.on('error', (err) => hashed.destroy(err));
        return loadChartStream(raw.pipe(hashed), where);
      });
      return loaded && `sha256:${hash.digest('hex')}` === digest ? loaded.metadata : undefined;
    })();
    byDigest.set(digest, found);
  }
  return found;
}

/**
 * Why an HTTP chart's manifest or config is not the one ferry makes from its archive (the lock
 * pins the archive only): index.yaml is written from the config (appVersion, description, …) and
 * the manifest's annotations, so each field must come from the archive's Chart.yaml. The archive
 * is read once (bounded by the chart loader's caps) and hashed as it is; an archive that is not its
 * digest is left to the verify pass, which names it.
 */
async function madeFromArchive(a: ChartArtifact, source: BlobSource, label: string): Promise<string | undefined> {
  const metadata = await archiveMetadata(source, a.chart.digest, `${a.meta.name}-${a.meta.version}.tgz`);
  if (!metadata) return undefined;
  const made = httpChartArtifact(metadata, a.chart, a.prov);
  if (made.configDigest !== a.manifest.config.digest) {
    const got = a.meta as Record<string, unknown>;
    const want = JSON.parse(made.config.toString('utf8')) as Record<string, unknown>;
    const field = [...new Set([...Object.keys(want), ...Object.keys(got)])].find((k) => JSON.stringify(want[k]) !== JSON.stringify(got[k]));
    const which = field === undefined ? 'its bytes' : `${clipName(field)}: ${clipName(JSON.stringify(got[field]) ?? 'none')}, the archive's Chart.yaml has ${clipName(JSON.stringify(want[field]) ?? 'none')}`;
    return `${label}: its config is not the one made from the archive the bundle's lock pins (${which})`;
  }
  if (`sha256:${createHash('sha256').update(made.manifest).digest('hex')}` !== a.top.digest) return `${label}: its manifest (${a.top.digest}) is not the one made from the archive the bundle's lock pins (its annotations or layers were changed)`;
  return undefined;
}
