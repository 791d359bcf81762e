import os from 'node:os';
import path from 'node:path';
import type { YamlDocumentData } from '../input-file.js';
import { brief, emptyConversion, isHttpUrl, isMapping, isSet, localFile, text, TRUST_TODO, type Conversion, type SourcePlace } from './common.js';
import { fileName } from './zarf.js';

/**
 * Hauler manifests (`content.hauler.cattle.io/v1`, kinds Images, Charts, Files; several in one
 * file, `---` apart) read as a ferry manifest. Fields as in hauler-dev/hauler
 * pkg/apis/hauler.cattle.io/v1 (image.go, chart.go, file.go); values files are relative to the
 * manifest's directory and a cosign key to the working directory (`~` expanded), as hauler reads them.
 */

export interface HaulerOptions {
  /** Where the converted manifest is written (local paths are made relative to it). */
  outDir: string;
  /** The directory hauler would run in (a key's relative path is read from it). */
  cwd: string;
}

const CONTENT_API = new Set(['content.hauler.cattle.io/v1', 'content.hauler.cattle.io/v1alpha1']);

const KEYLESS = ['certificate-identity', 'certificate-identity-regexp', 'certificate-oidc-issuer', 'certificate-oidc-issuer-regexp', 'certificate-github-workflow-repository'];
const TRUST = ['ca-file', 'insecure-skip-tls-verify', 'caFile', 'insecureSkipTLSVerify', 'plainHTTP', 'certFile', 'keyFile'];

interface FieldRule {
  why: string;
  todo: string;
  /** The whole item is not carried (not only this field). */
  drops?: boolean;
}

const IMAGE_RULES: Record<string, FieldRule> = {
  ...Object.fromEntries(KEYLESS.map((k) => [k, { why: 'a keyless (Fulcio) signature check against the public Sigstore services; ferry checks keyless signatures offline, against a trusted root you name', todo: 'Add verify: { trustedRoot: <Fulcio CA or trusted_root.json>, certificateIdentity…, certificateOidcIssuer… } to the image (see "Supply chain" in the README).' }])),
  'use-tlog-verify': { why: 'a transparency-log check at download; ferry checks signatures offline', todo: 'With keyless verify:, name rekorPublicKey: to have the Rekor bundle checked.' },
  rewrite: { why: 'a new name for the image in hauler\'s store; where an image lives on the mirror is the mirror target\'s mapping', todo: 'Set the mapping in the mirror target (`ferry map` shows it).' },
  local: { why: 'an image from hauler\'s local store, not from a registry', todo: 'List the image\'s upstream reference, or push it to a registry first.', drops: true },
  ...Object.fromEntries(TRUST.map((k) => [k, { why: 'registry trust settings', todo: TRUST_TODO }])),
};

const CHART_RULES: Record<string, FieldRule> = {
  rewrite: IMAGE_RULES.rewrite,
  'exclude-extras': { why: 'ferry carries a chart\'s images with their signatures and attestations', todo: 'List the images under images: with extras: false to leave those out.' },
  verify: { why: 'a provenance (.prov) check of the chart; ferry does not check chart provenance', todo: 'Check the chart\'s provenance before you lock it.' },
  keyring: { why: 'a keyring for the chart\'s provenance check; ferry does not check chart provenance', todo: 'Check the chart\'s provenance before you lock it.' },
  usernameEnv: { why: 'credentials for the chart repository', todo: 'Give ferry the credentials as docker/helm registry credentials (see "Settings respected" in the README).' },
  passwordEnv: { why: 'credentials for the chart repository', todo: 'Give ferry the credentials as docker/helm registry credentials (see "Settings respected" in the README).' },
  passCredentialsAll: { why: 'credentials for the chart repository', todo: 'Give ferry the credentials as docker/helm registry credentials (see "Settings respected" in the README).' },
  ...Object.fromEntries(TRUST.map((k) => [k, { why: 'repository trust settings', todo: TRUST_TODO }])),
};

const FILE_RULES: Record<string, FieldRule> = Object.fromEntries(TRUST.map((k) => [k, { why: 'trust settings of the file\'s host', todo: TRUST_TODO }]));

/** `file` as the user named it (in places), `abs` where it is: values files start at abs's directory. */
export function convertHauler(docs: YamlDocumentData[], file: string, abs: string, opts: HaulerOptions): Conversion & { contentDocuments: number } {
  const conv = { ...emptyConversion(), contentDocuments: 0 };
  const base = path.dirname(abs);
  docs.forEach((doc, d) => {
    const m = doc.value;
    const kind = isMapping(m) ? text(m.kind) : undefined;
    const apiVersion = isMapping(m) ? text(m.apiVersion) : undefined;
    const metadata = isMapping(m) && isMapping(m.metadata) ? m.metadata : {};
    const component = `${kind ?? 'document'}/${text(metadata.name) ?? `#${d + 1}`}`;
    const at = (...p: Array<string | number>): SourcePlace => ({ file, line: doc.lineOf(p), component });
    const skip = (from: SourcePlace, item: string, why: string, todo: string) => conv.skipped.push({ from, item, why, todo });
    if (!isMapping(m) || !apiVersion || !CONTENT_API.has(apiVersion) || !['Images', 'Charts', 'Files'].includes(kind ?? '')) {
      const collection = apiVersion?.startsWith('collection.hauler.cattle.io/');
      skip(at(), `${apiVersion ?? '?'} ${kind ?? '?'}`, collection ? 'a Hauler collection (its content is decided when hauler runs)' : 'not a Hauler content manifest (Images, Charts or Files of content.hauler.cattle.io/v1)', collection ? 'List its images, charts and files in Images, Charts and Files manifests (or straight in the ferry manifest).' : 'Leave it out, or convert it by hand.');
      return;
    }
    conv.contentDocuments++;
    conv.name ??= text(metadata.name);
    const annotations = isMapping(metadata.annotations) ? metadata.annotations : {};
    const relocated = kind === 'Images' && isSet(annotations['hauler.dev/registry']);
    for (const key of Object.keys(annotations).filter((k) => k.startsWith('hauler.dev/')).sort()) {
      skip(at('metadata', 'annotations', key), `${key}: ${brief(annotations[key])}`, 'a Hauler default for every item of this document', key === 'hauler.dev/registry' && relocated ? 'Write every image\'s full reference (registry included): the images of this document are not converted while a default registry may change them.' : 'Write the setting on each item it concerns.');
    }
    const spec = isMapping(m.spec) ? m.spec : {};
    const list = kind === 'Images' ? spec.images : kind === 'Charts' ? spec.charts : spec.files;
    if (!Array.isArray(list)) return;
    const field = kind === 'Images' ? 'images' : kind === 'Charts' ? 'charts' : 'files';
    list.forEach((item, j) => {
      const here = (...p: Array<string | number>) => at('spec', field, j, ...p);
      if (!isMapping(item)) return skip(here(), `${field}: ${brief(item)}`, 'an entry must be a mapping', 'Fix the manifest.');
      if (kind === 'Images') convertImage(item, here, relocated, { ...opts, base }, conv);
      else if (kind === 'Charts') convertChart(item, here, base, opts, conv);
      else convertFile(item, here, conv);
    });
  });
  return conv;
}

type Here = (...p: Array<string | number>) => SourcePlace;

/** Report the set fields the rules name (not carried); true when one of them drops the whole item. */
function applyRules(entry: Record<string, unknown>, label: string, rules: Record<string, FieldRule>, known: string[], here: Here, conv: Conversion): boolean {
  let drops = false;
  for (const key of Object.keys(entry)) {
    if (known.includes(key) || !isSet(entry[key])) continue;
    const rule = rules[key] ?? { why: 'not a field hauler defines', todo: 'Check the field; ferry converts what hauler-dev/hauler content.hauler.cattle.io/v1 defines.' };
    conv.skipped.push({ from: here(key), item: `${label} ${key}: ${brief(entry[key])}`, why: rule.why, todo: rule.todo });
    drops ||= Boolean(rule.drops);
  }
  return drops;
}

function convertImage(img: Record<string, unknown>, here: Here, relocated: boolean, opts: HaulerOptions & { base: string }, conv: Conversion): void {
  const name = text(img.name);
  const label = `images: ${name ?? '?'}`;
  if (applyRules(img, label, IMAGE_RULES, ['name', 'platform', 'key', 'exclude-extras'], here, conv)) return;
  if (!name) return void conv.skipped.push({ from: here(), item: label, why: 'names no image (name:)', todo: 'Fix the manifest.' });
  if (relocated) return void conv.skipped.push({ from: here(), item: label, why: 'the document\'s hauler.dev/registry annotation may change this image\'s registry', todo: 'Write the image\'s full reference.' });
  const entry: Record<string, unknown> = { ref: name };
  const platform = text(img.platform);
  if (platform) entry.platforms = [platform];
  const key = text(img.key);
  if (key) {
    const expanded = key === '~' || key.startsWith('~/') ? path.join(os.homedir(), key.slice(1)) : key;
    // hauler reads the key from the directory it runs in; a key beside the manifest is named, not taken.
    entry.verify = { keys: [localFile(expanded, opts.cwd, opts.outDir, `${label} key:`, here('key'), conv, 'hauler reads a key relative to the directory it runs in; ferry convert takes that to be this one', opts.base)] };
  }
  if (img['exclude-extras'] === true) entry.extras = false;
  conv.candidates.push({ field: 'images', entry, from: here() });
}

function convertChart(chart: Record<string, unknown>, here: Here, base: string, opts: HaulerOptions, conv: Conversion): void {
  const name = text(chart.name);
  const repo = text(chart.repoURL);
  const label = `charts: ${name ?? '?'}`;
  applyRules(chart, label, CHART_RULES, ['name', 'repoURL', 'version', 'valuesFiles', 'add-images', 'add-dependencies', 'platform'], here, conv);
  // hauler pulls the images it adds for a chart (add-images) for the chart's platform, as an image's.
  const platform = text(chart.platform);
  const platforms = platform ? { platforms: [platform] } : {};
  if (!name) return void conv.skipped.push({ from: here(), item: label, why: 'names no chart (name:)', todo: 'Fix the manifest.' });
  const values = (Array.isArray(chart.valuesFiles) ? chart.valuesFiles : []).map(text).filter((v): v is string => Boolean(v));
  if (repo && !isHttpUrl(repo) && !/^[a-z][a-z0-9+.-]*:\/\//i.test(repo)) {
    // hauler asks helm for <repoURL>/<name>, which helm finds on disk, relative to where hauler runs: rendered by the command for its images.
    const rel = path.join(repo, name);
    conv.localCharts.push({
      location: path.resolve(opts.cwd, rel),
      shown: rel,
      root: opts.cwd,
      values: values.map((v) => ({ abs: path.resolve(base, v), shown: path.join(path.dirname(here().file), v) })),
      ...platforms,
      item: `${label} (repoURL: ${repo})`,
      from: here(),
    });
    return;
  }
  if (!repo || !(isHttpUrl(repo) || /^oci:\/\/\S+$/.test(repo))) {
    return void conv.skipped.push({ from: here(), item: `${label}${repo ? ` (repoURL: ${repo})` : ''}`, why: repo ? 'not an http(s):// or oci:// chart repository, nor a directory' : 'names no repoURL:', todo: 'Name the chart\'s repository (http(s):// or oci://), or the directory holding the chart.' });
  }
  const entry: Record<string, unknown> = { name, repo, version: text(chart.version), ...platforms };
  if (entry.version === undefined) {
    entry.version = '*';
    conv.notes.push({ from: here(), item: label, why: 'no version: converted as version "*", the newest release when you lock (the lock pins it), as hauler takes the newest', todo: 'Write the version you deploy under version:.' });
  }
  if (values.length) entry.values = values.map((v, k) => localFile(v, base, opts.outDir, `${label} valuesFiles:`, here('valuesFiles', k), conv, 'relative to the Hauler manifest\'s directory, as hauler reads it'));
  // hauler stores the chart alone unless add-images (the images it renders) and add-dependencies (its dependency charts) say more; a ferry chart brings both at lock.
  const alone = [chart['add-images'] === true ? '' : 'its images (add-images)', chart['add-dependencies'] === true ? '' : 'the dependency charts it does not vendor (add-dependencies)'].filter(Boolean);
  if (alone.length) conv.notes.push({ from: here(), item: label, why: `hauler stores this chart without ${alone.join(' or ')}; ferry finds ${alone.length === 2 ? 'both' : 'them'} at lock (images: discover) and carries them with the chart`, todo: 'Nothing to do to carry more; to carry the chart alone, write images: none on it in the manifest.' });
  conv.candidates.push({ field: 'charts', entry, from: here() });
}

function convertFile(f: Record<string, unknown>, here: Here, conv: Conversion): void {
  const source = text(f.path) ?? '';
  const label = `files: ${source}`;
  applyRules(f, label, FILE_RULES, ['path', 'name'], here, conv);
  if (!isHttpUrl(source)) {
    return void conv.skipped.push({ from: here(), item: label, why: source ? 'a local file (ferry carries files from URLs)' : 'names no path:', todo: 'Serve it from an HTTP server you trust and list its URL under files:, or keep it with your deployment.' });
  }
  conv.candidates.push({ field: 'files', entry: { name: text(f.name) || fileName(undefined, source), url: source }, from: here() });
}
