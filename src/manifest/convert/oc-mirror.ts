import path from 'node:path';
import type { YamlDocumentData } from '../input-file.js';
import { brief, emptyConversion, isHttpUrl, isMapping, isSet, text, type Conversion, type ConvertNote, type SourcePlace } from './common.js';

/**
 * An oc-mirror ImageSetConfiguration (`mirror.openshift.io/v1alpha2` or `v2alpha1`) read as a
 * ferry manifest. Fields as in openshift/oc-mirror internal/pkg/api/v2alpha1 (type_config.go,
 * type_config_include.go, type_platform.go) and v1/pkg/api/v1alpha2 (types_config.go).
 * `additionalImages` are images; a Helm repository's charts are charts (ferry renders them to find
 * their images, as oc-mirror does); an operator catalog is carried as the catalog image alone:
 * its bundles and their related images are not resolved (ferry does not render a catalog), and
 * every package asked for is named as not carried. OpenShift releases (`platform`) are not
 * carried. `blockedImages` leave out the images above they match, as oc-mirror's
 * excludeImages does (a Go regular expression, unanchored, against the name as written).
 */

export const OC_MIRROR_APIS = new Set(['mirror.openshift.io/v1alpha2', 'mirror.openshift.io/v2alpha1']);

const TOP_FIELDS = new Set(['apiVersion', 'kind', 'mirror', 'archiveSize', 'storageConfig']);
const MIRROR_FIELDS = new Set(['platform', 'operators', 'additionalImages', 'helm', 'blockedImages', 'samples']);
const TARGET_TODO = 'Where an image lives on the mirror is the mirror target\'s mapping: set it there (`ferry map` shows it).';

type Here = (...p: Array<string | number>) => SourcePlace;

export interface OcMirrorOptions {
  /** Where convert runs: oc-mirror reads a `helm.local` chart's `path:` relative to the directory it runs in. */
  cwd: string;
  /** Real path of that directory: a local chart is read only inside it. */
  root: string;
  /** Why the chart kind would not evaluate a JSONPath (a repository chart's `imagePaths` go to its `imagePaths:`), or undefined. */
  imagePathProblem: (path: string) => string | undefined;
}

export function convertOcMirror(docs: YamlDocumentData[], file: string, opts: OcMirrorOptions): Conversion & { configs: number } {
  const conv = { ...emptyConversion(), configs: 0 };
  docs.forEach((doc, d) => {
    const m = doc.value;
    const kind = isMapping(m) ? text(m.kind) : undefined;
    const apiVersion = isMapping(m) ? text(m.apiVersion) : undefined;
    const at = (...p: Array<string | number>): SourcePlace => ({ file, line: doc.lineOf(p), ...(docs.length > 1 ? { component: `document ${d + 1}` } : {}) });
    const skip = (from: SourcePlace, item: string, why: string, todo: string) => void conv.skipped.push({ from, item, why, todo });
    if (!isMapping(m) || kind !== 'ImageSetConfiguration' || !apiVersion || !OC_MIRROR_APIS.has(apiVersion)) {
      const del = kind === 'DeleteImageSetConfiguration';
      skip(at(), `${apiVersion ?? '?'} ${kind ?? '?'}`, del ? 'a delete configuration: what oc-mirror removes from a mirror, nothing to carry' : 'not an ImageSetConfiguration of mirror.openshift.io/v1alpha2 or v2alpha1', del ? 'Leave it out.' : 'Convert the ImageSetConfiguration oc-mirror reads.');
      return;
    }
    conv.configs++;
    for (const key of Object.keys(m)) {
      const v = m[key];
      if (['apiVersion', 'kind', 'mirror'].includes(key) || !isSet(v)) continue;
      if (key === 'archiveSize') skip(at(key), `archiveSize: ${brief(v)}`, 'the size oc-mirror cuts its archive into; a ferry manifest says what is carried, not how the bundle is cut', `Give it to the bundle: ferry bundle create … --split-size ${brief(v)}G.`);
      else if (key === 'storageConfig') skip(at(key), `storageConfig: ${brief(v)}`, 'where oc-mirror keeps what it mirrored before; ferry records that in the lock file and the bundle', 'Nothing to do: keep the lock file (and a base bundle for differential bundles) instead.');
      else if (!TOP_FIELDS.has(key)) skip(at(key), `${key}: ${brief(v)}`, 'not a field of an ImageSetConfiguration ferry knows', 'Check the field; ferry converts what openshift/oc-mirror v2alpha1 and v1alpha2 define.');
    }
    const mirror = isMapping(m.mirror) ? m.mirror : {};
    const here: Here = (...p) => at('mirror', ...p);
    const blocked = blockedPatterns(mirror.blockedImages, here, conv);
    for (const key of Object.keys(mirror)) {
      const v = mirror[key];
      if (!isSet(v)) continue;
      if (key === 'samples') skip(here(key), `samples: ${brief(v)}`, 'sample content, which oc-mirror does not implement either', 'Leave it out.');
      else if (!MIRROR_FIELDS.has(key)) skip(here(key), `${key}: ${brief(v)}`, 'not a field of mirror: ferry knows', 'Check the field; ferry converts what openshift/oc-mirror v2alpha1 and v1alpha2 define.');
    }
    convertPlatform(mirror.platform, here, conv);
    convertAdditionalImages(mirror.additionalImages, here, blocked, conv);
    convertOperators(mirror.operators, here, blocked, conv);
    convertHelm(mirror.helm, here, conv, opts);
  });
  return conv;
}

/** `platforms: [{os, architecture}]` as ferry's `os/arch` list; a problem as text. */
function platformsOf(v: unknown): { platforms?: string[]; problem?: string } {
  if (!isSet(v)) return {};
  if (!Array.isArray(v)) return { problem: 'platforms must be a list of {os, architecture}' };
  const out: string[] = [];
  for (const p of v) {
    const os = isMapping(p) ? text(p.os) : undefined;
    const arch = isMapping(p) ? text(p.architecture) : undefined;
    if (!os || !arch) return { problem: `platform ${brief(p)} names no os and architecture (oc-mirror refuses it)` };
    out.push(`${os}/${arch}`);
  }
  return { platforms: out };
}

/**
 * An image name as oc-mirror reads it (image.ParseRef): `docker://` is a registry, any other
 * `transport://` is on disk (an OCI layout, a directory); a registry image needs a tag or digest.
 */
function registryRef(name: string): { ref?: string; why?: string; todo?: string } {
  const sep = name.indexOf('://');
  if (sep >= 0 && name.slice(0, sep) !== 'docker') {
    return { why: `an image from ${name.slice(0, sep + 3)} (on disk, not a registry)`, todo: 'Push it to a registry and list that reference, or list its upstream reference.' };
  }
  const ref = sep >= 0 ? name.slice(sep + 3) : name;
  const last = ref.slice(ref.lastIndexOf('/') + 1);
  if (!ref.includes('@') && !last.includes(':')) return { why: 'names neither a tag nor a digest, which oc-mirror refuses', todo: 'Write the tag or digest you mirror.' };
  return { ref };
}

function convertPlatform(platform: unknown, here: Here, conv: Conversion): void {
  if (!isSet(platform)) return;
  const p = isMapping(platform) ? platform : {};
  const why = 'an OpenShift release: oc-mirror picks the release images from Red Hat\'s update graph (Cincinnati) and mirrors each release payload\'s component images; ferry resolves no update graph and reads no release payload';
  const todo = 'On a connected host, list the release image and its component images (`oc adm release info --pullspecs quay.io/openshift-release-dev/ocp-release:<version>-<arch>`) under images: by digest, or keep mirroring the platform with oc-mirror.';
  const arches = [...(platformsOf(p.platforms).platforms ?? []), ...(Array.isArray(p.architectures) ? p.architectures.map((a) => `linux/${brief(a)}`) : [])];
  const forArch = arches.length ? ` for ${arches.join(', ')}` : '';
  const channels = Array.isArray(p.channels) ? p.channels : [];
  channels.forEach((c, i) => {
    const name = isMapping(c) ? (text(c.name) ?? '?') : brief(c);
    const range = isMapping(c) && (text(c.minVersion) || text(c.maxVersion)) ? ` ${text(c.minVersion) ?? ''}–${text(c.maxVersion) ?? ''}` : '';
    const type = isMapping(c) && text(c.type) === 'okd' ? ' (OKD)' : '';
    conv.skipped.push({ from: here('platform', 'channels', i), item: `platform channel ${name}${range}${type}${forArch}`, why, todo });
  });
  const release = text(p.release);
  if (release) conv.skipped.push({ from: here('platform', 'release'), item: `platform release: ${release}${forArch}`, why: `${why} (the release image alone is not a release)`, todo });
  if (p.graph === true) conv.skipped.push({ from: here('platform', 'graph'), item: 'platform graph: true', why: 'the update-graph data image oc-mirror builds for the cluster\'s update service', todo: 'Build it with oc-mirror, or run the update service from its own image.' });
  if (p.kubeVirtContainer === true) conv.skipped.push({ from: here('platform', 'kubeVirtContainer'), item: 'platform kubeVirtContainer: true', why: 'the KubeVirt boot image named inside the release payload', todo: 'List that image under images: (it is named in the payload\'s 0000_50_installer_coreos-bootimages).' });
  if (!channels.length && !release) conv.skipped.push({ from: here('platform'), item: `platform: ${brief(platform)}`, why, todo });
}

function convertAdditionalImages(list: unknown, here: Here, blocked: Blocked, conv: Conversion): void {
  if (!Array.isArray(list)) return;
  list.forEach((img, i) => {
    const from = here('additionalImages', i);
    const name = isMapping(img) ? text(img.name) : undefined;
    const item = `additionalImages: ${name ?? brief(img)}`;
    if (!name) return void conv.skipped.push({ from, item, why: 'names no image (name:)', todo: 'Fix the ImageSetConfiguration.' });
    const r = registryRef(name);
    if (!r.ref) return void conv.skipped.push({ from, item, why: r.why!, todo: r.todo! });
    const by = blocked.matching(r.ref);
    if (by) return void conv.skipped.push({ from, item, why: `matches blockedImages ${by}, so oc-mirror does not mirror it`, todo: 'List it only if you mean to carry it: take it out of blockedImages.' });
    const { platforms, problem } = platformsOf((img as Record<string, unknown>).platforms);
    if (problem) return void conv.skipped.push({ from: here('additionalImages', i, 'platforms'), item, why: problem, todo: 'Write each platform as {os: linux, architecture: amd64}.' });
    for (const key of Object.keys(img as Record<string, unknown>)) {
      const v = (img as Record<string, unknown>)[key];
      if (['name', 'platforms'].includes(key) || !isSet(v)) continue;
      if (key === 'targetRepo' || key === 'targetTag') conv.notes.push({ from: here('additionalImages', i, key), item: `${item} ${key}: ${brief(v)}`, why: 'carried under its own name; oc-mirror would push it under this one', todo: TARGET_TODO });
      else conv.skipped.push({ from: here('additionalImages', i, key), item: `${item} ${key}: ${brief(v)}`, why: 'not a field of an additional image ferry knows', todo: 'Check the field; ferry converts what openshift/oc-mirror v2alpha1 defines.' });
    }
    if (platforms) conv.notes.push(filteredNote(here('additionalImages', i, 'platforms'), item, platforms));
    conv.candidates.push({ field: 'images', entry: { ref: r.ref, ...(platforms ? { platforms } : {}) }, from });
  });
}

/**
 * `platforms:` mean another image on the mirror in ferry than in oc-mirror: oc-mirror copies the
 * index as it is, with only the asked-for platforms' manifests behind it (a sparse index, upstream's
 * digest; internal/pkg/mirror determinePlatformSelection, copy.CopySpecificImages), ferry stores an
 * index of those platforms alone, which has a digest of its own.
 */
function filteredNote(from: SourcePlace, item: string, platforms: string[]): ConvertNote {
  return {
    from,
    item: `${item} platforms: ${platforms.join(', ')}`,
    why: 'carried as an index of these platforms only, whose digest is not upstream\'s (the lock records it as storedDigest); oc-mirror keeps the upstream index whole (a sparse index, upstream\'s digest)',
    todo: 'Pull it by tag, or by the lock\'s storedDigest (`ferry rewrite` uses it); leave platforms: out to keep upstream\'s digest.',
  };
}

function convertOperators(list: unknown, here: Here, blocked: Blocked, conv: Conversion): void {
  if (!Array.isArray(list)) return;
  list.forEach((op, i) => {
    const from = here('operators', i);
    const catalog = isMapping(op) ? text(op.catalog) : undefined;
    const item = `operators catalog: ${catalog ?? brief(op)}`;
    if (!isMapping(op) || !catalog) return void conv.skipped.push({ from, item, why: 'names no catalog image (catalog:)', todo: 'Fix the ImageSetConfiguration.' });
    const r = registryRef(catalog);
    const by = r.ref ? blocked.matching(r.ref) : undefined;
    const { platforms, problem } = platformsOf(op.platforms);
    if (!r.ref) conv.skipped.push({ from, item, why: `a catalog ${r.why!}`, todo: r.todo! });
    else if (by) conv.skipped.push({ from, item, why: `matches blockedImages ${by}, so oc-mirror does not mirror it`, todo: 'List it only if you mean to carry it: take it out of blockedImages.' });
    else if (problem) conv.skipped.push({ from: here('operators', i, 'platforms'), item, why: problem, todo: 'Write each platform as {os: linux, architecture: amd64}.' });
    else {
      if (platforms) conv.notes.push(filteredNote(here('operators', i, 'platforms'), item, platforms));
      conv.candidates.push({ field: 'images', entry: { ref: r.ref, ...(platforms ? { platforms } : {}) }, from });
    }
    // What oc-mirror mirrors from the catalog: the bundles of the packages asked for and the images they name.
    const why = `the catalog is carried as one image${r.ref && !by ? '' : ' (here not even that)'}; ferry does not render an operator catalog, so the operator bundles and their related images oc-mirror would mirror are NOT carried`;
    const todo = `On a connected host, list the package's bundle images and their relatedImages (\`opm render ${r.ref ?? catalog}\`, olm.bundle entries) under images:, or keep mirroring operators with oc-mirror.`;
    const packages = Array.isArray(op.packages) ? op.packages : [];
    if (!packages.length) conv.skipped.push({ from, item: `${item} (every package, ${op.full === true ? 'every version' : 'channel heads'})`, why, todo });
    packages.forEach((p, j) => {
      const name = isMapping(p) ? (text(p.name) ?? '?') : brief(p);
      const channels = isMapping(p) && Array.isArray(p.channels) ? p.channels.map((c) => (isMapping(c) ? (text(c.name) ?? '?') : brief(c))) : [];
      const versions = isMapping(p) && (text(p.minVersion) || text(p.maxVersion)) ? ` ${text(p.minVersion) ?? ''}–${text(p.maxVersion) ?? ''}` : '';
      conv.skipped.push({ from: here('operators', i, 'packages', j), item: `operator package ${name}${channels.length ? ` (channels ${channels.join(', ')})` : ''}${versions}`, why, todo });
    });
    for (const key of Object.keys(op)) {
      const v = op[key];
      if (['catalog', 'packages', 'platforms', 'full', 'skipDependencies', 'originalRef'].includes(key) || !isSet(v)) continue;
      if (['targetCatalog', 'targetTag', 'targetName'].includes(key)) conv.notes.push({ from: here('operators', i, key), item: `${item} ${key}: ${brief(v)}`, why: 'the catalog is carried under its own name, unfiltered; oc-mirror would rebuild it with only the packages asked for and push it under this name', todo: TARGET_TODO });
      else if (key === 'targetCatalogSourceTemplate') conv.skipped.push({ from: here('operators', i, key), item: `${item} ${key}: ${brief(v)}`, why: 'a template for the CatalogSource resource oc-mirror writes; ferry writes no cluster resources', todo: 'Write the CatalogSource for the mirrored catalog yourself.' });
      else conv.skipped.push({ from: here('operators', i, key), item: `${item} ${key}: ${brief(v)}`, why: 'not a field of an operator catalog ferry knows', todo: 'Check the field; ferry converts what openshift/oc-mirror v2alpha1 defines.' });
    }
  });
}

/** A field as oc-mirror reads it: sigs.k8s.io/yaml hands the file to encoding/json, which matches names in any case (`imagepaths`). */
function field(m: Record<string, unknown>, name: string): { key: string; value: unknown } | undefined {
  if (Object.hasOwn(m, name)) return { key: name, value: m[name] };
  const lower = name.toLowerCase();
  const key = Object.keys(m).find((k) => k.toLowerCase() === lower);
  return key === undefined ? undefined : { key, value: m[key] };
}

/** A chart's `imagePaths` (JSONPath expressions, Kubernetes syntax), each with its place; a problem as text. */
function imagePathsOf(chart: Record<string, unknown>, at: (...p: Array<string | number>) => SourcePlace): { paths: Array<{ path: string; from: SourcePlace }>; key?: string; problem?: string } {
  const f = field(chart, 'imagePaths');
  if (!f || !isSet(f.value)) return { paths: [] };
  if (!Array.isArray(f.value)) return { paths: [], key: f.key, problem: 'imagePaths must be a list of JSONPath expressions' };
  const paths: Array<{ path: string; from: SourcePlace }> = [];
  for (let k = 0; k < f.value.length; k++) {
    const p = text(f.value[k]);
    if (p === undefined) return { paths: [], key: f.key, problem: `imagePaths: ${brief(f.value[k])} is not a JSONPath expression` };
    paths.push({ path: p, from: at(f.key, k) });
  }
  return { paths, key: f.key };
}

/** Keys of a chart entry as oc-mirror names them (matched in any case, as it reads them). */
const CHART_KEYS = new Set(['name', 'version', 'path', 'imagepaths', 'platforms']);

/**
 * `helm.local`: a chart on disk (a directory or packaged .tgz, `path:` relative to where oc-mirror
 * runs), which oc-mirror renders with its default values and mirrors the images it finds: rendered
 * by the command as `helm template` does (LocalChart), `imagePaths` read in what it renders,
 * `platforms` as the images' platforms.
 */
function convertLocalCharts(list: unknown, here: Here, conv: Conversion, opts: OcMirrorOptions): void {
  if (!Array.isArray(list)) return;
  list.forEach((c, i) => {
    const from = here('helm', 'local', i);
    const at = (...p: Array<string | number>) => here('helm', 'local', i, ...p);
    const name = isMapping(c) ? (text(field(c, 'name')?.value) ?? '?') : brief(c);
    const item = `helm local: ${name}`;
    const p = isMapping(c) ? text(field(c, 'path')?.value) : undefined;
    if (!isMapping(c) || !p) return void conv.skipped.push({ from, item, why: 'names no chart on disk (path:), which oc-mirror needs', todo: 'Fix the ImageSetConfiguration.' });
    const paths = imagePathsOf(c, at);
    if (paths.problem) conv.skipped.push({ from: at(paths.key!), item: `${item} ${paths.key}`, why: paths.problem, todo: 'Write each path as a JSONPath expression, e.g. "{.spec.template.spec.containers[*].env[*].value}".' });
    const pf = field(c, 'platforms');
    const { platforms, problem } = platformsOf(pf?.value);
    if (problem) conv.skipped.push({ from: at(pf!.key), item: `${item} platforms`, why: `${problem}; the chart's images are carried for every platform`, todo: 'Write each platform as {os: linux, architecture: amd64}.' });
    if (platforms) conv.notes.push(filteredNote(at(pf!.key), `${item} images`, platforms));
    for (const key of Object.keys(c)) {
      if (!CHART_KEYS.has(key.toLowerCase()) && isSet(c[key])) conv.skipped.push({ from: at(key), item: `${item} ${key}: ${brief(c[key])}`, why: 'not a field of a Helm chart ferry knows', todo: 'Check the field; ferry converts what openshift/oc-mirror v2alpha1 defines.' });
    }
    conv.localCharts.push({
      location: path.resolve(opts.cwd, p),
      shown: p,
      root: opts.root,
      values: [],
      item,
      from,
      ...(paths.paths.length ? { imagePaths: paths.paths } : {}),
      ...(platforms ? { platforms } : {}),
    });
  });
}

const UNKNOWN_TODO = 'Check the field; ferry converts what openshift/oc-mirror v2alpha1 and v1alpha2 define.';

function convertHelm(helm: unknown, here: Here, conv: Conversion, opts: OcMirrorOptions): void {
  if (!isMapping(helm)) return;
  for (const key of Object.keys(helm)) {
    if (!['local', 'repositories'].includes(key) && isSet(helm[key])) conv.skipped.push({ from: here('helm', key), item: `helm ${key}: ${brief(helm[key])}`, why: 'not a field of helm: ferry knows', todo: UNKNOWN_TODO });
  }
  convertLocalCharts(helm.local, here, conv, opts);
  const repos = Array.isArray(helm.repositories) ? helm.repositories : [];
  repos.forEach((repo, i) => {
    const from = here('helm', 'repositories', i);
    if (isMapping(repo)) {
      for (const key of Object.keys(repo)) {
        if (!['name', 'url', 'charts'].includes(key) && isSet(repo[key])) conv.skipped.push({ from: here('helm', 'repositories', i, key), item: `helm repository ${text(repo.name) ?? '?'} ${key}: ${brief(repo[key])}`, why: 'not a field of a Helm repository ferry knows', todo: UNKNOWN_TODO });
      }
    }
    const url = isMapping(repo) ? text(repo.url) : undefined;
    const item = `helm repository ${isMapping(repo) ? (text(repo.name) ?? '?') : brief(repo)}`;
    if (!isMapping(repo) || !url) return void conv.skipped.push({ from, item, why: 'names no url:', todo: 'Fix the ImageSetConfiguration.' });
    if (/^oci:\/\/\S+$/.test(url)) {
      // oc-mirror adds every repository as a Helm repository and reads its index.yaml (internal/pkg/helm repoAdd), which an OCI registry has none of.
      const names = Array.isArray(repo.charts) ? repo.charts.map((c) => (isMapping(c) ? text(c.name) : undefined)).filter((n): n is string => Boolean(n)) : [];
      return void conv.skipped.push({
        from,
        item: `${item} (url: ${brief(url)})${names.length ? `: ${names.slice(0, 8).map(brief).join(', ')}${names.length > 8 ? `, … (${names.length})` : ''}` : ''}`,
        why: 'an OCI chart repository, which oc-mirror does not read (it adds each repository as a Helm repository and reads its index.yaml); what oc-mirror would mirror from it is not known',
        todo: `ferry carries OCI charts: list each under charts: as { name: <chart>, repo: ${url}, version: <version> }.`,
      });
    }
    if (!isHttpUrl(url)) return void conv.skipped.push({ from, item: `${item} (url: ${url})`, why: 'not an http(s):// chart repository (oc-mirror adds it as a Helm repository)', todo: 'Name the chart repository\'s http(s):// URL.' });
    if (!Array.isArray(repo.charts) || !repo.charts.length) {
      return void conv.skipped.push({ from, item: `${item} (${url}): every chart`, why: 'no charts: listed, so oc-mirror takes every chart of the repository\'s index; ferry carries the charts it is told', todo: 'List the charts you deploy (name and version) under charts: with this repo.' });
    }
    repo.charts.forEach((chart, j) => {
      const at = here('helm', 'repositories', i, 'charts', j);
      const name = isMapping(chart) ? text(chart.name) : undefined;
      const label = `helm chart ${name ?? brief(chart)}`;
      if (!isMapping(chart) || !name) return void conv.skipped.push({ from: at, item: label, why: 'names no chart (name:)', todo: 'Fix the ImageSetConfiguration.' });
      const entry: Record<string, unknown> = { name, repo: url, version: text(chart.version) };
      if (entry.version === undefined) {
        entry.version = '*';
        conv.notes.push({ from: at, item: label, why: 'no version: converted as version "*", the newest release when you lock (the lock pins it), as helm takes the newest', todo: 'Write the version you deploy under version:.' });
      }
      const chartAt = (...p: Array<string | number>) => here('helm', 'repositories', i, 'charts', j, ...p);
      const paths = imagePathsOf(chart, chartAt);
      if (paths.problem) conv.skipped.push({ from: chartAt(paths.key!), item: `${label} ${paths.key}`, why: paths.problem, todo: 'Write each path as a JSONPath expression, e.g. "{.spec.template.spec.containers[*].env[*].value}".' });
      // The chart kind reads imagePaths in the chart it renders at lock (images: discover); a path it does not evaluate is named.
      const kept: string[] = [];
      for (const p of paths.paths) {
        const problem = opts.imagePathProblem(p.path);
        if (problem !== undefined) {
          conv.skipped.push({ from: p.from, item: `${label} imagePaths: ${p.path}`, why: `not evaluated: ${problem}; the images only it names are not carried`, todo: 'Write it as one {.a.b[*].c} path (fields, [\'a.b\'], [*], [n], ..field, [?(@.f == \'v\')]) under the chart\'s imagePaths:, or list those images under images:.' });
        } else if (!kept.includes(p.path)) kept.push(p.path);
      }
      if (kept.length) entry.imagePaths = kept;
      // The platforms of the images the chart brings, as a helm.local chart's.
      const pf = field(chart, 'platforms');
      const { platforms, problem } = platformsOf(pf?.value);
      if (problem) conv.skipped.push({ from: chartAt(pf!.key), item: `${label} platforms`, why: `${problem}; the chart's images are carried for every platform`, todo: 'Write each platform as {os: linux, architecture: amd64}.' });
      if (platforms) {
        entry.platforms = platforms;
        conv.notes.push(filteredNote(chartAt(pf!.key), `${label} images`, platforms));
      }
      for (const key of Object.keys(chart)) {
        const v = chart[key];
        if (['name', 'version', 'imagepaths', 'platforms'].includes(key.toLowerCase()) || !isSet(v)) continue;
        const why = key === 'path' ? 'a path on disk, which oc-mirror reads only for helm.local charts' : 'not a field of a Helm chart ferry knows';
        const todo = 'Check the field; ferry converts what openshift/oc-mirror v2alpha1 defines.';
        conv.skipped.push({ from: here('helm', 'repositories', i, 'charts', j, key), item: `${label} ${key}: ${brief(v)}`, why, todo });
      }
      conv.candidates.push({ field: 'charts', entry, from: at });
    });
  });
}

/** The blockedImages patterns: which of them an image name matches (the pattern as written), or undefined. */
interface Blocked {
  matching(ref: string): string | undefined;
}

/** Work the blocked-image matcher may do in one file (pattern × name steps); past it, patterns are not evaluated. */
const MATCH_BUDGET = 20_000_000;
const MAX_PATTERN = 256;

/**
 * Compile an oc-mirror blockedImages pattern (a Go RE2 expression, matched unanchored) when it
 * is of the plain kind people write: literal characters and escaped punctuation, `.`, `.*`, and a
 * leading `^` / trailing `$`. Such a pattern is matched here without a backtracking engine (a
 * pattern from the file must not hang ferry). Anything else (groups, classes, other repeats) is
 * not evaluated, and said so.
 */
function compilePattern(p: string): Array<{ any?: true; star?: true; ch?: string }> | undefined {
  if (p.length > MAX_PATTERN) return undefined;
  const out: Array<{ any?: true; star?: true; ch?: string }> = [];
  let i = 0;
  const anchoredStart = p.startsWith('^');
  if (anchoredStart) i = 1;
  let end = p.length;
  const anchoredEnd = p.endsWith('$') && !p.endsWith('\\$');
  if (anchoredEnd) end--;
  if (!anchoredStart) out.push({ star: true });
  while (i < end) {
    const c = p[i];
    if (c === '\\') {
      const n = p[i + 1];
      if (n === undefined || i + 1 >= end || /[A-Za-z0-9]/.test(n)) return undefined;
      out.push({ ch: n });
      i += 2;
    } else if (c === '.' && p[i + 1] === '*' && i + 1 < end) {
      out.push({ star: true });
      i += 2;
    } else if (c === '.') {
      out.push({ any: true });
      i++;
    } else if ('[](){}*+?|^$'.includes(c)) {
      return undefined;
    } else {
      out.push({ ch: c });
      i++;
    }
    if (p[i] !== undefined && i < end && '*+?{'.includes(p[i])) return undefined;
  }
  if (!anchoredEnd) out.push({ star: true });
  return out;
}

function blockedPatterns(list: unknown, here: Here, conv: Conversion): Blocked {
  const compiled: Array<{ pattern: string; tokens: ReturnType<typeof compilePattern>; from: SourcePlace; exhausted?: boolean }> = [];
  if (Array.isArray(list)) {
    list.forEach((b, i) => {
      const pattern = isMapping(b) ? text(b.name) : undefined;
      const from = here('blockedImages', i);
      if (pattern === undefined) return void conv.skipped.push({ from, item: `blockedImages: ${brief(b)}`, why: 'names no pattern (name:)', todo: 'Fix the ImageSetConfiguration.' });
      const tokens = compilePattern(pattern);
      compiled.push({ pattern, tokens, from });
      conv.skipped.push({
        from,
        item: `blockedImages: ${pattern}`,
        why: tokens
          ? 'ferry keeps no block list: the additional images and catalogs above that match it are left out (matched against the name as written; oc-mirror also matches the mirror\'s name, unknown here), but images ferry finds in charts at lock are not checked against it'
          : 'a regular expression ferry does not evaluate (only literal text, `.`, `.*`, `^` and `$` are): NOT checked against the images carried, nor against the images ferry finds in charts at lock',
        todo: tokens ? 'Check the chart images in the lock file; list what a chart must not bring under its images: instead of discovering.' : 'Check the images carried against it by hand (or write it with literal text, `.`, `.*`, `^`, `$` only).',
      });
    });
  }
  let budget = MATCH_BUDGET;
  const evaluated = compiled.filter((c) => c.tokens);
  return {
    matching(ref: string) {
      for (const c of evaluated) {
        const r = matches(c.tokens!, ref, budget);
        budget = r.budget;
        if (r.match === undefined && !c.exhausted) {
          c.exhausted = true;
          conv.skipped.push({ from: c.from, item: `blockedImages: ${c.pattern}`, why: `not evaluated against every image: the file asks for more than ${MATCH_BUDGET} matching steps, so an image it blocks may be carried`, todo: 'Check the carried images against the pattern by hand.' });
        } else if (r.match) return c.pattern;
      }
      return undefined;
    },
  };
}

/** Whether `s` matches the tokens (wildcard matching, one row at a time: pattern × text steps); undefined when the budget runs out. */
function matches(tokens: NonNullable<ReturnType<typeof compilePattern>>, s: string, budget: number): { match?: boolean; budget: number } {
  const cost = (tokens.length + 1) * (s.length + 1);
  if (cost > budget) return { budget };
  // can[j]: the tokens so far match s[0..j).
  let can = new Array<boolean>(s.length + 1).fill(false);
  can[0] = true;
  for (const t of tokens) {
    const next = new Array<boolean>(s.length + 1).fill(false);
    if (t.star) {
      let seen = false;
      for (let j = 0; j <= s.length; j++) {
        seen ||= can[j];
        next[j] = seen;
      }
    } else {
      for (let j = 1; j <= s.length; j++) next[j] = can[j - 1] && (t.any === true || s[j - 1] === t.ch);
    }
    can = next;
  }
  return { match: can[s.length], budget: budget - cost };
}
