import os from 'node:os';
import path from 'node:path';
import { parseHostileYaml } from '../../manifest/yaml-input.js';
import { yamlTokensOver } from '../../manifest/input-file.js';
import semver from 'semver';
import { LineCounter, YAMLError } from 'yaml';
import { FerryError, isFerryError, unreadableFile } from '../../errors.js';
import { chartNameProblems, mapChartHttp } from '../../mapping/index.js';
import { ANY_TARGET, foldedClashes } from '../../store/name-folding.js';
import { readRegularFile } from '../../store/verified-write.js';
import type { ResolveFailure } from '../failures.js';
import { MT } from '../../oci/media-types.js';
import { HttpClient, redactUrl } from '../../net/http.js';
import { authorizationFromEnv, basicAuthorization, manifestAuthSource, readCredentialsFile, repoHttp, sameOrigin, type HttpAuth, type RepoCredential, type RepoCredentials } from '../repo-auth.js';
import type { KindContext } from '../types.js';
import { warn } from '../warnings.js';
import { discoverFromValues, discoverWithDocuments, userValues, type DiscoveryResult } from './discover.js';
import { readImagePaths } from './discover/jsonpath.js';
import type { RenderedDocument } from './render/index.js';
import { NODE_OS_REASON } from './discover/rendered.js';
import { chartDependencies, chartLockPins, loadChartStream, readValuesFile, type ChartDependency, type LoadedChart } from './load.js';
import { imageValuesOf, mergeImageValues, type ChartLock } from './lock.js';
import { archiveUrl, downloadToStore, fetchProv, indexUrlOf, readIndexEntries } from './repo-http.js';
import { getOciChart, listOciVersions, ociRepoRef } from './repo-oci.js';
import { readProvenanceBlob, recordProvenance, verifyFetchedProvenance, type ChartProvenance, type ProvenanceRequirement } from './provenance.js';
import { readPublicKeys, type PublicKeys } from '../../net/pgp.js';
import type { ChartSpec } from './spec.js';
import { unionPlatforms } from '../image/platforms.js';
import { trimTrailing } from '../../ui/escape.js';
import { INJECTOR_WARNING } from './discover/injector.js';
import { INVALID_IMAGE_WARNING } from './discover/rendered.js';

/** A chart found in its repository and brought into the store. */
export interface LocatedChart {
  name: string;
  repo: string;
  version: string;
  requested: string;
  source: 'http' | 'oci';
  url?: string;
  digest: string;
  size: number;
  prov?: { url?: string; digest: string; size: number };
  oci?: ChartLock['oci'];
  /** The manifest entry's `auth:` (variable names only), kept for `bundle create`. */
  auth?: HttpAuth;
}

type ResolveCtx = Pick<KindContext, 'store' | 'http' | 'registry' | 'progress'>;

const MAX_LISTED = 30;

/** Exact version if it exists, else the newest match of a semver range; nothing → the versions that exist. */
export function pickVersion(available: string[], wanted: string, what: string, where: string): string {
  if (available.includes(wanted)) return wanted;
  const loose = { loose: true, includePrerelease: false };
  const range = semver.validRange(wanted, loose);
  const valid = available.filter((v) => semver.valid(v, loose));
  const best = range ? semver.maxSatisfying(valid, range, loose) : null;
  if (best) return best;
  const newest = [...valid].sort((a, b) => semver.rcompare(a, b, loose));
  const listed = newest.slice(0, MAX_LISTED);
  throw new FerryError('NOT_FOUND', `${what}: no version matches ${JSON.stringify(wanted)} in ${where}`, {
    details: available.length
      ? [`versions that exist (newest first${newest.length > MAX_LISTED ? `, ${MAX_LISTED} of ${newest.length}` : ''}): ${listed.join(', ')}`]
      : ['the repository lists no version of this chart'],
    hint: range ? 'Pick a version or range that matches one of these.' : `${JSON.stringify(wanted)} is neither a version nor a semver range.`,
  });
}

function repoKind(repo: string): 'http' | 'oci' | undefined {
  if (/^oci:\/\//.test(repo)) return 'oci';
  if (/^https?:\/\//.test(repo)) return 'http';
  return undefined;
}

/**
 * The archive of `name` an HTTP repository's index.yaml names for `wanted` (a version or range):
 * the version picked, the archive's URL, and the sha256 hex the index gives (checked to be one).
 */
export async function indexArchive(http: HttpClient, repo: string, name: string, wanted: string, notFoundHint: string): Promise<{ version: string; url: string; hex?: string }> {
  const what = `chart ${name}`;
  const entries = await readIndexEntries(http, repo, name);
  if (!entries.length) {
    const near = entries.near ?? [];
    throw new FerryError('NOT_FOUND', `${what}: not in the repository ${repo} (${indexUrlOf(repo)} has no entry for it${near.length ? `; it lists ${near.map((n) => JSON.stringify(n)).join(', ')}` : ''})`, {
      hint: near.length ? `Did you mean ${near.length === 1 ? JSON.stringify(near[0]) : `one of ${near.map((n) => JSON.stringify(n)).join(', ')}`}? ${notFoundHint}` : notFoundHint,
    });
  }
  const version = pickVersion(entries.map((e) => e.version), wanted, what, repo);
  const entry = entries.find((e) => e.version === version)!;
  const url = archiveUrl(repo, entry);
  const hex = typeof entry.digest === 'string' && entry.digest ? entry.digest.replace(/^sha256:/, '').toLowerCase() : undefined;
  if (hex && !/^[a-f0-9]{64}$/.test(hex)) {
    throw new FerryError('VALIDATION', `${what} ${version}: ${indexUrlOf(repo)} gives digest ${JSON.stringify(entry.digest)}, which is not a sha256`, { hint: 'The repository index is broken; ask its maintainer.' });
  }
  return { version, url, hex };
}

/** Find the version, download the archive (index digest checked) or pull the OCI artifact into the store. */
/** `ownLine: false` when the caller's own progress line already names this chart (`lock` prints one per chart). */
export async function locateChart(spec: Pick<ChartSpec, 'name' | 'repo' | 'version' | 'auth'>, ctx: ResolveCtx, { ownLine = true }: { ownLine?: boolean } = {}): Promise<LocatedChart> {
  const what = `chart ${spec.name}`;
  const kind = repoKind(spec.repo);
  if (kind === 'http') {
    const http = await chartRepoHttp(ctx.http, spec.repo, spec.auth);
    const { version, url, hex } = await indexArchive(http, spec.repo, spec.name, spec.version, 'Check the chart name and the repo URL.');
    const task = ownLine ? ctx.progress.start(`${spec.name} ${version}`, 0) : undefined;
    const got = await downloadToStore(http, url, hex, ctx.store, `${what} ${version} archive`, spec.repo);
    const provBytes = await fetchProv(http, url, spec.repo);
    let prov: LocatedChart['prov'];
    if (provBytes) {
      const d = await ctx.store.putBytes(provBytes);
      prov = { url: `${url}.prov`, digest: d.digest, size: d.size };
    }
    task?.finish('resolved');
    return { name: spec.name, repo: spec.repo, version, requested: spec.version, source: 'http', url, digest: got.digest, size: got.size, prov, ...(spec.auth ? { auth: spec.auth } : {}) };
  }
  if (kind === 'oci') {
    const versions = await listOciVersions(ctx.registry, spec.repo, spec.name);
    const version = pickVersion(versions, spec.version, what, spec.repo);
    const art = await getOciChart(ctx.registry, spec.repo, spec.name, version);
    const repoRef = ociRepoRef(spec.repo, spec.name);
    await ctx.store.putBytes(art.manifest.bytes, art.manifest.digest);
    for (const blob of [art.config, ...art.layers]) {
      await ctx.store.ingest(blob, (offset) => ctx.registry.openBlob(repoRef, blob.digest, offset), { label: `${what} ${version}` });
    }
    return {
      name: spec.name,
      repo: spec.repo,
      version,
      requested: spec.version,
      source: 'oci',
      digest: art.chart.digest,
      size: art.chart.size,
      prov: art.prov ? { digest: art.prov.digest, size: art.prov.size } : undefined,
      oci: { manifest: { mediaType: art.manifest.mediaType || MT.ociManifest, digest: art.manifest.digest, size: art.manifest.size }, config: art.config, layers: art.layers },
    };
  }
  throw new FerryError('VALIDATION', `${what}: repository ${JSON.stringify(spec.repo)} is neither http(s):// nor oci://`);
}

/** A chart from the store with all its files (discovery renders it). */
export async function loadChartFromStore(located: LocatedChart, ctx: Pick<KindContext, 'store'>): Promise<LoadedChart> {
  try {
    return await loadChartStream(ctx.store.open(located.digest), `${located.name}-${located.version}.tgz`, { allFiles: true });
  } catch (err) {
    // The archive came from outside: a refusal of its content names where it was downloaded.
    if (!(err instanceof FerryError) || err.code !== 'VALIDATION') throw err;
    const from = located.url ?? `${trimTrailing(located.repo, '/')}/${located.name}:${located.version}`;
    throw new FerryError(err.code, `${err.message} (the archive from ${redactUrl(from).slice(0, 300)})`, { hint: err.hint, details: err.details, cause: err });
  }
}

/** What the dependencies `attachDependencies` fetches are held to. */
export interface DependencyVerification {
  /** The keys their provenance must be signed by (`helm dependency build --verify --keyring`): the parent's `keys:`, or `--keyring`. */
  keys: PublicKeys;
  /** What requires it, and what to do when a dependency is not signed. */
  requiredBy: ProvenanceRequirement;
}

/** A dependency fetched for a chart, with its verified provenance when its parent was held to keys. */
export type LocatedDependency = LocatedChart & { provenance?: ChartProvenance };

/**
 * Resolve the dependencies Chart.yaml lists that are not vendored under charts/: the version
 * from Chart.lock when it pins one, else the newest match of the range; fetched from their
 * repositories, attached as subcharts (so discovery scopes them), recursively. With `verify`,
 * each one fetched (at every depth) must carry a provenance signed by one of its keys, as
 * `helm dependency build --verify` requires, checked before it is attached.
 */
export async function attachDependencies(
  chart: LoadedChart,
  located: Pick<LocatedChart, 'name' | 'version'>,
  ctx: ResolveCtx,
  verify?: DependencyVerification,
  seen = new Set<string>(),
): Promise<LocatedDependency[]> {
  const out: LocatedDependency[] = [];
  const pins = chartLockPins(chart);
  const parent = `${located.name} ${located.version}`;
  for (const dep of chartDependencies(chart)) {
    if (chart.subcharts.some((s) => s.metadata.name === dep.name)) continue;
    const depLabel = `chart ${parent}: dependency ${dep.name}${dep.version ? ` ${dep.version}` : ''}${dep.repository ? ` from ${dep.repository}` : ''}`;
    let repo = dep.repository?.trim();
    if (repo && /^(@|alias:)/.test(repo)) repo = (await helmRepoByName(repo.replace(/^(@|alias:)/, ''))) ?? repo;
    if (!repo || !repoKind(repo)) {
      throw new FerryError('NOT_FOUND', `${depLabel}: not vendored under charts/ and ${repo ? `repository ${JSON.stringify(repo)} is not an http(s):// or oci:// URL` : 'no repository given'}`, {
        hint: 'Vendor it (`helm dependency build`), give the dependency a repository URL in Chart.yaml, or add the named repository with `helm repo add` (ferry reads Helm\'s repositories.yaml).',
      });
    }
    const sameRepo = (a?: string) => !a || trimTrailing(a, '/') === trimTrailing(repo, '/');
    const pin = pins.find((p) => p.name === dep.name && sameRepo(p.repository));
    const version = pin?.version ?? dep.version ?? '*';
    let dl: LocatedChart;
    let sub: LoadedChart;
    let provenance: ChartProvenance | undefined;
    try {
      dl = await locateChart({ name: dep.name, repo, version }, ctx);
      sub = await loadChartFromStore(dl, ctx);
      if (verify) provenance = await verifyLocatedProvenance(dl, sub.metadata, verify.keys, ctx, verify.requiredBy);
    } catch (err) {
      if (err instanceof FerryError) throw new FerryError(err.code, `${depLabel}: ${err.message}`, { cause: err, hint: err.hint, details: err.details });
      throw err;
    }
    const key = `${dl.repo} ${dl.name} ${dl.version}`;
    chart.subcharts.push(sub);
    if (!seen.has(key)) {
      seen.add(key);
      out.push({ ...dl, requested: version, ...(provenance ? { provenance } : {}) });
      out.push(...(await attachDependencies(sub, dl, ctx, verify, seen)));
    }
  }
  return out;
}

/** Where Helm keeps its repositories ($HELM_REPOSITORY_CONFIG, else $XDG_CONFIG_HOME/helm or ~/.config/helm/repositories.yaml). */
export function helmRepositoriesFile(env: NodeJS.ProcessEnv = process.env): string {
  return env.HELM_REPOSITORY_CONFIG || path.join(env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config'), 'helm', 'repositories.yaml');
}

/** One entry of Helm's repositories.yaml (pkg/repo.Entry), as written by `helm repo add`. */
export interface HelmRepoEntry {
  name?: string;
  url?: string;
  username?: string;
  password?: string;
  certFile?: string;
  keyFile?: string;
  caFile?: string;
  insecure_skip_tls_verify?: boolean;
  pass_credentials_all?: boolean;
}

/** Entries compared at most, bytes and YAML tokens read (a hand-written file is short; a hostile one is bounded). */
const MAX_HELM_REPOS = 10_000;
const MAX_HELM_REPOS_BYTES = 4 * 1024 * 1024;
const MAX_HELM_REPOS_TOKENS = 100_000;

/**
 * The entries of Helm's repositories.yaml; none when there is no file. A file ferry cannot read as
 * one (too large, not YAML, an alias bomb) is refused, naming it, as Helm refuses it: passing over
 * it would say a repository has no credentials there when the file was never read.
 */
async function readHelmRepositories(): Promise<{ file: string; entries: HelmRepoEntry[] }> {
  const file = helmRepositoriesFile();
  const text = await readCredentialsFile(file, MAX_HELM_REPOS_BYTES, "Helm's repositories.yaml");
  if (text === undefined) return { file, entries: [] };
  const refuse = (why: string) => new FerryError('USAGE', `${file}: Helm's repositories.yaml ${why}`, { hint: 'Fix it (helm refuses it too), or point HELM_REPOSITORY_CONFIG at another file.' });
  if (yamlTokensOver(text, MAX_HELM_REPOS_TOKENS)) throw refuse(`holds more than ${MAX_HELM_REPOS_TOKENS} YAML tokens, more than ferry reads`);
  let doc: { repositories?: unknown };
  const lines = new LineCounter();
  try {
    doc = (parseHostileYaml(text, { duplicates: 'refuse', prettyErrors: false, lineCounter: lines }) ?? {}) as { repositories?: unknown };
  } catch (err) {
    // The parser's code and line, never its words: they may quote the file, and the file holds passwords.
    const at = err instanceof YAMLError ? `${err.code} at line ${lines.linePos(err.pos[0]).line}` : 'an alias it does not expand: unresolved, or more than ferry expands';
    throw refuse(`is not YAML ferry reads (${at})`);
  }
  const list = doc && typeof doc === 'object' && Array.isArray(doc.repositories) ? doc.repositories.slice(0, MAX_HELM_REPOS) : [];
  return { file, entries: list.filter((r): r is HelmRepoEntry => Boolean(r) && typeof r === 'object') };
}

/**
 * `repository: "@bitnami"` (or `alias:bitnami`) names a repository added with `helm repo add`:
 * looked up in Helm's repositories.yaml.
 */
export async function helmRepoByName(name: string): Promise<string | undefined> {
  const url = (await readHelmRepositories()).entries.find((r) => r.name === name)?.url;
  return typeof url === 'string' ? url : undefined;
}

/** A repository URL as Helm's urlutil.Equal compares two: scheme and host without case, the path without trailing slashes. */
function repoKey(url: string): string | undefined {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${trimTrailing(u.pathname, '/')}${u.search}`;
  } catch {
    return undefined;
  }
}

/** The repositories.yaml entry whose url is `repo` (the first, as Helm's lookup), and the file read. */
export async function helmRepoEntryFor(repo: string): Promise<{ file: string; entry?: HelmRepoEntry }> {
  const { file, entries } = await readHelmRepositories();
  const key = repoKey(repo);
  return { file, entry: key === undefined ? undefined : entries.find((r) => typeof r.url === 'string' && repoKey(r.url) === key) };
}

/** Clients with a repositories.yaml entry's caFile added to the trust and its client certificate, by the client they extend and the files. */
const withTls = new WeakMap<HttpClient, Map<string, HttpClient>>();

/** A PEM file a repositories.yaml entry names (a certificate or key is a few KiB): a regular file, read within 1 MiB (a FIFO or /dev/zero is not waited on). */
async function readPemFile(file: string, what: string): Promise<string> {
  const got = await readRegularFile(file, 1024 * 1024, { follow: true });
  if (!Buffer.isBuffer(got)) {
    if (got.why === 'unreadable') throw unreadableFile(file, what, got.err);
    throw new FerryError('USAGE', `${what} ${file}: ${got.why === 'too-large' ? 'larger than 1 MiB' : got.reason}, not a PEM file`);
  }
  const text = got.toString('utf8');
  if (!/-----BEGIN [A-Z ]+-----/.test(text)) throw new FerryError('USAGE', `${what} ${file}: not a PEM file`, { hint: 'Helm and ferry read PEM certificates and keys (-----BEGIN …-----).' });
  return text;
}

/**
 * The HttpClient an HTTP chart repository's requests go through: credentials from the manifest's
 * `auth:` (first) or the repositories.yaml entry for the repository (`username`/`password`, sent to
 * the repository's own origin, or to every host its index names with `pass_credentials_all: true`,
 * as Helm's getter), the entry's `caFile` trusted on top of the user's CAs and its client
 * certificate (`certFile`/`keyFile`) presented; `insecure_skip_tls_verify` is refused, named.
 */
export async function chartRepoHttp(http: HttpClient, repo: string, auth: HttpAuth | undefined): Promise<HttpClient> {
  if (!/^https?:\/\//i.test(repo)) return http;
  const label = `chart repository ${redactUrl(repo)}`;
  const { file, entry } = await helmRepoEntryFor(repo);
  const where = `${file} (entry ${JSON.stringify(String(entry?.name ?? entry?.url ?? '')).slice(0, 120)})`;
  let client = http;
  if (entry) {
    if (entry.insecure_skip_tls_verify === true) {
      throw new FerryError('TLS', `${label}: ${where} sets insecure_skip_tls_verify, which ferry does not honour for a repository it downloads from`, {
        hint: "Trust the repository's CA instead: caFile: in that entry, --ca-file, SSL_CERT_FILE, or a certs.d directory for its host:port (as for registries: TLS verification is only ever switched off for a mirror target the user names insecure).",
      });
    }
    const caFile = typeof entry.caFile === 'string' && entry.caFile ? entry.caFile : undefined;
    const certFile = typeof entry.certFile === 'string' && entry.certFile ? entry.certFile : undefined;
    const keyFile = typeof entry.keyFile === 'string' && entry.keyFile ? entry.keyFile : undefined;
    if (Boolean(certFile) !== Boolean(keyFile)) {
      throw new FerryError('USAGE', `${label}: ${where} gives ${certFile ? 'certFile without keyFile' : 'keyFile without certFile'}`, { hint: 'A client certificate needs both (helm repo add --cert-file … --key-file …).' });
    }
    if (caFile || certFile) {
      const key = `${caFile ?? ''}\0${certFile ?? ''}\0${keyFile ?? ''}`;
      let byTls = withTls.get(http);
      if (!byTls) withTls.set(http, (byTls = new Map()));
      let derived = byTls.get(key);
      if (!derived) {
        // Read here first, within bounds: the client's CA loading reads the whole file, waiting on a FIFO.
        if (caFile) await readPemFile(caFile, `${where}: caFile`);
        const clientCert = certFile && keyFile ? { cert: await readPemFile(certFile, `${where}: certFile`), key: await readPemFile(keyFile, `${where}: keyFile`) } : undefined;
        derived = new HttpClient({ ...http.settings, ...(caFile ? { caFiles: [...(http.settings.caFiles ?? []), caFile] } : {}), ...(clientCert ? { clientCert } : {}) });
        byTls.set(key, derived);
      }
      client = derived;
    }
  }
  let cred: RepoCredentials | undefined;
  if (auth) {
    const found: RepoCredential = { authorization: authorizationFromEnv(auth, label), source: manifestAuthSource(auth), plainHttpAllowed: auth.allowPlainHttp === true };
    cred = (url) => (sameOrigin(url, repo) ? found : undefined);
  } else if (entry && typeof entry.username === 'string' && entry.username && typeof entry.password === 'string') {
    const all = entry.pass_credentials_all === true;
    const found: RepoCredential = { authorization: basicAuthorization(entry.username, entry.password), source: where };
    cred = (url) => (all || sameOrigin(url, repo) ? found : undefined);
  }
  return repoHttp(client, label, cred, `no auth: on the chart entry, no username in ${entry ? where : `an entry for this URL in ${file}`}`);
}

export interface ResolvedChart {
  entries: ChartLock[];
  discovery: DiscoveryResult;
  /** The top entry's `possibleImages`, each with why discovery did not count it as deployed (the condition that would deploy it). */
  possible: PossibleImage[];
}

/** An image discovery found but did not count as deployed (the lock's `possibleImages`), and why. */
export interface PossibleImage {
  ref: string;
  why?: string;
}

async function readValues(files: string[], dir: string) {
  const out = [];
  for (const f of files) {
    const abs = path.resolve(dir, f);
    const text = await readValuesFile(abs, { hint: `Values paths in a manifest are relative to the manifest (${dir}).` });
    out.push(userValues(text, f));
  }
  return out;
}

function toLock(l: LocatedChart, images: string[], possible: string[], dependencyOf?: string[], provenance?: ChartProvenance): ChartLock {
  const e: ChartLock = { name: l.name, repo: l.repo, version: l.version, requested: l.requested, source: l.source, digest: l.digest, size: l.size, images };
  if (l.url) e.url = l.url;
  if (l.prov) e.prov = l.prov;
  if (provenance) e.provenance = provenance;
  if (l.oci) e.oci = l.oci;
  if (l.auth) e.auth = l.auth;
  if (dependencyOf?.length) e.dependencyOf = dependencyOf;
  if (possible.length) e.possibleImages = possible;
  return e;
}

/** A chart entry's keys:, as they hold the dependencies its chart does not vendor. */
function entryKeysOnDependency(parent: string): ProvenanceRequirement {
  return {
    what: `the keys: of chart ${parent}`,
    otherwise: `drop keys: from the entry of chart ${parent}: its keys: hold every dependency the chart does not vendor, as \`helm dependency build --verify\` does (one signed by another key: add that key to keys:), so a dependency published unsigned is carried only with the chart unverified. Nothing was locked.`,
  };
}

/** One manifest chart: the chart, its non-vendored dependencies, and the images it deploys. */
export async function resolveChart(spec: ChartSpec, ctx: KindContext): Promise<ResolvedChart> {
  const keys = spec.keys?.length ? readPublicKeys(spec.keys, ctx.manifestDir, `chart ${spec.name} (keys:)`) : undefined;
  keys?.catch(() => undefined); // awaited below, after the download
  const located = await locateChart(spec, ctx, { ownLine: false });
  const chart = await loadChartFromStore(located, ctx);
  const given = keys ? await keys : undefined;
  const provenance = given ? await verifyLocatedProvenance(located, chart.metadata, given, ctx) : undefined;
  // The dependencies it does not vendor are held to the same keys, as `helm dependency build --verify` holds them.
  const deps = await attachDependencies(chart, located, ctx, given ? { keys: given, requiredBy: entryKeysOnDependency(`${located.name} ${located.version}`) } : undefined);
  const mode = spec.images ?? 'discover';
  // Discovery renders the chart with the manifest's values; test-hook images (`helm test`) are a class of their own.
  const values = await readValues(spec.values ?? [], ctx.manifestDir);
  let discovery: DiscoveryResult;
  let documents: RenderedDocument[] = [];
  try {
    ({ result: discovery, documents } = discoverWithDocuments(chart, { values, kubeVersion: spec.kubeVersion, kubeVersionAdvice: "set kubeVersion: on the chart with your cluster's version to render for it" }));
    // e.g. the chart's kubeVersion refused the default Kubernetes version: which one it was rendered for
    if (mode === 'discover') for (const w of discovery.rendered?.warnings ?? []) if (w.includes('kubeVersion') || w.startsWith(INJECTOR_WARNING) || w.startsWith(INVALID_IMAGE_WARNING)) warn(ctx, `chart ${located.name} ${located.version}: ${w}`);
  } catch (err) {
    // The chart refuses to render with these values in the default release (a namespace check, a
    // required value only set at install time): fall back to reading the values, and say so.
    if (!isFerryError(err, 'VALIDATION')) throw err;
    discovery = { ...discoverFromValues(chart, { values }), renderError: err.message };
    if (mode === 'discover') {
      const what = `chart ${located.name} ${located.version}`;
      const why = err.message.startsWith(`${what}: `) ? err.message.slice(what.length + 2) : err.message;
      warn(
        ctx,
        `${what} does not render with the manifest's values (${why}); its images were read from the values alone, so an image only its templates name is missing: set the values it needs under values:, or list its images under images:`,
      );
    }
  }
  let images: string[] = [];
  let possible: string[] = [];
  let tests: string[] = [];
  if (mode === 'discover') {
    images = discovery.images.filter((i) => i.certainty === 'certain').map((i) => i.ref);
    possible = discovery.images.filter((i) => i.certainty === 'possible').map((i) => i.ref);
    // What `helm test` runs is recorded apart, so that rewrite and audit can name it; carried on request.
    tests = discovery.images.filter((i) => i.certainty === 'test').map((i) => i.ref);
    if (spec.testImages === 'carry') images = [...new Set([...images, ...tests])].sort();
  } else if (Array.isArray(mode)) images = [...mode].sort();
  const parent = `${located.name} ${located.version}`;
  if (mode === 'discover') warnNodeOsTagged(parent, discovery, ctx.listedImages ?? [], ctx);
  const foundAt = mode === 'discover' && spec.imagePaths?.length ? imagePathImages(spec.imagePaths, documents, discovery.renderError, `chart ${parent}`, ctx) : new Map<string, string[]>();
  const atPaths = [...foundAt.keys()];
  const have = new Set(images);
  const onlyAtPaths = atPaths.filter((r) => !have.has(r)).sort();
  if (onlyAtPaths.length) {
    images = [...images, ...onlyAtPaths].sort();
    // Deployed after all (the path reads it in what the values render), not just possible.
    const found = new Set(atPaths);
    possible = possible.filter((r) => !found.has(r));
  }
  const top = toLock(located, images, possible, undefined, provenance);
  const platforms = spec.platforms ?? ctx.defaultPlatforms;
  if (platforms && images.length) top.platforms = [...new Set(platforms)].sort();
  if (tests.length) top.testImages = tests;
  if (onlyAtPaths.length) {
    top.imagePathImages = onlyAtPaths;
    top.imagePathSources = Object.fromEntries(onlyAtPaths.map((r) => [r, foundAt.get(r)!]));
  }
  if (mode === 'discover') {
    // Even empty: the record says which images no values key deploys (the templates spell them).
    if (images.length || tests.length) top.imageValues = imageValuesOf(discovery.images);
    const injects = (discovery.injects ?? []).filter((i) => images.includes(i));
    if (injects.length) top.injects = injects;
  }
  const entries = [top, ...deps.map((d) => toLock(d, [], [], [parent], d.provenance))];
  const why = new Map(discovery.images.map((i) => [i.ref, (i.sources.find((s) => s.kind === 'rendered' && s.reason) ?? i.sources.find((s) => s.reason))?.reason]));
  return { entries, discovery, possible: possible.map((ref) => ({ ref, why: why.get(ref) })) };
}

/** Images named in a warning about possible images, at most; the rest are counted. */
const POSSIBLE_SHOWN = 5;
/** A reason longer than this (a chart's own words) is cut. */
const POSSIBLE_WHY_MAX = 160;

/**
 * What `lock` says about the images a chart's discovery found only as possible (the lock's
 * `possibleImages`: a section its values switch off, a loose match): they are not carried, so a
 * site that switches that section on pulls them from upstream. Said now, per chart, with how many
 * and the first few by name and why, not first at the site by `rewrite chart`. An image carried
 * anyway (listed under images:, or deployed by another chart: `carried`) is left out, and so is a
 * GPU operator `<tag>-<node OS>` image (warnNodeOsTagged says what to list for it).
 */
export function possibleImagesWarning(chart: string, possible: readonly PossibleImage[], carried: ReadonlySet<string>): string | undefined {
  // The GPU operator's `<tag>-<node OS>` images have their own warning, silent once such a tag is listed (warnNodeOsTagged).
  const left = possible.filter((p) => !carried.has(p.ref) && !p.why?.startsWith(NODE_OS_REASON));
  const n = left.length;
  if (!n) return undefined;
  const clip = (w: string) => (w.length > POSSIBLE_WHY_MAX ? `${w.slice(0, POSSIBLE_WHY_MAX)}…` : w);
  const shown = left.slice(0, POSSIBLE_SHOWN).map((p) => (p.why ? `${p.ref} (${clip(p.why)})` : p.ref));
  const more = n > POSSIBLE_SHOWN ? `, and ${n - POSSIBLE_SHOWN} more (the lock's possibleImages lists every one)` : '';
  const one = n === 1;
  return `chart ${chart}: ${one ? '1 image' : `${n} images`} discovery found only as possible (not deployed with the manifest's values, or a loose match) ${one ? 'is' : 'are'} not carried: ${shown.join(', ')}${more}; if the site switches on what deploys ${one ? 'it' : 'them'}, list ${one ? 'it' : 'them'} under images: in the manifest (or set the values that deploy ${one ? 'it' : 'them'} under the chart's values:) and lock again`;
}

/**
 * The provenance of a chart whose entry gives keys: (`helm pull --verify --keyring`): there, signed
 * by one of the keys, for the chart the archive's Chart.yaml names, with the archive's sha256.
 */
async function verifyLocatedProvenance(located: LocatedChart, metadata: { name: string; version: string }, keys: PublicKeys, ctx: Pick<KindContext, 'store'>, requiredBy?: ProvenanceRequirement): Promise<ChartProvenance> {
  const label = `chart ${located.name} ${located.version} (${redactUrl(located.repo)})`;
  const prov = located.prov ? await readProvenanceBlob({ readBlob: (d) => ctx.store.readBytes(d) }, located.prov, label) : undefined;
  const where = located.url ? `${located.url}.prov` : `${trimTrailing(located.repo, '/')}/${located.name}:${located.version} (no layer of media type ${MT.helmProv})`;
  const { signer, file } = await verifyFetchedProvenance(prov, keys, { label, name: metadata.name, version: metadata.version, archiveDigest: located.digest, url: located.url, where, requiredBy });
  return recordProvenance(signer, keys, file, label);
}

/** The images a chart entry's `imagePaths` select in its render with the manifest's values (readImagePaths), each with the paths that found it; its warnings said. */
function imagePathImages(paths: string[], documents: readonly RenderedDocument[], renderError: string | undefined, what: string, ctx: KindContext): Map<string, string[]> {
  const read = readImagePaths(paths, documents, renderError, what);
  for (const w of read.warnings) warn(ctx, w);
  return read.found;
}

/**
 * The GPU operator's driver-like images (ClusterPolicy `driver`, `gds`, `gdrcopy`, `vgpuManager`)
 * are pulled as `<tag>-<node OS>`: the tag the chart renders exists nowhere, so it is not carried,
 * and a manifest that lists no `<tag>-…` for it would leave the GPU nodes without a driver.
 */
function warnNodeOsTagged(chart: string, discovery: DiscoveryResult, listed: string[], ctx: KindContext): void {
  for (const img of discovery.images) {
    const src = img.sources.find((s) => s.reason?.startsWith(NODE_OS_REASON));
    if (!src || img.certainty === 'certain' || listed.some((l) => l.startsWith(`${img.ref}-`))) continue;
    warn(
      ctx,
      `chart ${chart}: ${img.ref} is not carried: ${src.reason!.replace(NODE_OS_REASON, `the GPU operator pulls it with `)}, as \`- ref: ${img.ref}-ubuntu24.04\``,
    );
  }
}

/**
 * Charts whose archives in a chart repository (`<name>-<version>.tgz`, placed by mapChartHttp)
 * are one name on a file system that folds case or Unicode normalization (`Foo` and `foo` of one
 * version): on such a charts.dir the second written replaces the first after it was verified. The
 * target is not known at lock, so every folding counts. Each clash as a failure of its second chart.
 */
export function foldedChartArchives(entries: readonly ChartLock[]): ResolveFailure[] {
  const placed = new Map<string, ChartLock>();
  for (const e of entries) {
    if (chartNameProblems(e.name, e.version).length) continue; // refused where the name is read
    const file = mapChartHttp(e.name, e.version, { baseUrl: 'http://ferry.invalid' }).path;
    if (!placed.has(file)) placed.set(file, e);
  }
  return foldedClashes(placed.keys(), ANY_TARGET).map(([a, b]) => {
    const [first, second] = [placed.get(a)!, placed.get(b)!];
    const from = (c: ChartLock) => `chart ${c.name} ${c.version} from ${redactUrl(c.repo)}`;
    return {
      artifact: `chart ${second.name} ${second.version}`,
      error: new FerryError('VALIDATION', `${from(second)} and ${from(first)}: their archives ${JSON.stringify(b)} and ${JSON.stringify(a)} are one name in a chart repository directory (charts.dir) on a file system that ignores case or Unicode normalization (Windows and SMB shares, macOS, ext4 casefold): there the second would replace the first`, {
        hint: 'A chart repository is flat (<name>-<version>.tgz for every chart, whichever repository it came from): carry one of the two; no lock was written.',
      }),
    };
  });
}

/** Merge entries for the same chart artifact (a dependency shared by two charts). */
export function mergeChartLocks(all: ChartLock[]): ChartLock[] {
  const byKey = new Map<string, ChartLock>();
  for (const e of all) {
    const key = `${e.repo}\u0000${e.name}\u0000${e.version}`;
    const prev = byKey.get(key);
    if (!prev) {
      byKey.set(key, { ...e });
      continue;
    }
    // Both bring images: carried for the platforms of both (every platform when one asks for all); one that brings none asks for nothing.
    if (prev.images.length && e.images.length) {
      const platforms = unionPlatforms(prev.platforms, e.platforms);
      if (platforms) prev.platforms = platforms;
      else delete prev.platforms;
    } else if (e.images.length && e.platforms) prev.platforms = e.platforms;
    prev.images = [...new Set([...prev.images, ...e.images])].sort();
    const poss = [...new Set([...(prev.possibleImages ?? []), ...(e.possibleImages ?? [])])].sort();
    if (poss.length) prev.possibleImages = poss;
    const tests = [...new Set([...(prev.testImages ?? []), ...(e.testImages ?? [])])].sort();
    if (tests.length) prev.testImages = tests;
    const atPaths = [...new Set([...(prev.imagePathImages ?? []), ...(e.imagePathImages ?? [])])].sort();
    if (atPaths.length) prev.imagePathImages = atPaths;
    if (prev.imagePathSources || e.imagePathSources) {
      const by = new Map(Object.entries(prev.imagePathSources ?? {}));
      for (const [r, ps] of Object.entries(e.imagePathSources ?? {})) by.set(r, [...new Set([...(by.get(r) ?? []), ...ps])]);
      prev.imagePathSources = Object.fromEntries([...by].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    if (prev.imageValues || e.imageValues) prev.imageValues = mergeImageValues(prev.imageValues ?? {}, e.imageValues ?? {});
    if (e.provenance && !prev.provenance) prev.provenance = e.provenance;
    if (prev.dependencyOf && !e.dependencyOf) delete prev.dependencyOf;
    else if (prev.dependencyOf && e.dependencyOf) prev.dependencyOf = [...new Set([...prev.dependencyOf, ...e.dependencyOf])].sort();
  }
  return [...byKey.values()].sort((a, b) => {
    const ka = `${a.name}\u0000${a.version}\u0000${a.repo}`;
    const kb = `${b.name}\u0000${b.version}\u0000${b.repo}`;
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  });
}

export type { ChartDependency };
