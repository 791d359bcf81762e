import { createHash } from 'node:crypto';
import path from 'node:path';
import { readListedFile } from '../store/bundle-sign.js';
import { writeFileAtomic } from '../store/temp-files.js';
import { FerryError } from '../errors.js';
import { LockSchema, type Lock } from '../kinds/schema.js';
import { parseImageReference } from '../oci/reference.js';
import { VERSION } from '../version.js';
import { openBundleSource } from '../store/open-bundle.js';
import type { NetOptions } from '../oci/context.js';
import { trimTrailing } from '../ui/escape.js';
import { atStartFlags } from '../net/v8-flags.js';
import { holdYoungSync, noteTablesBuilt } from '../store/young-gc.js';

/**
 * The bundle's bill of materials, built from its lock alone (the lock names every artifact the
 * bundle carries with its digests; nothing is fetched or guessed): every image with its
 * platform manifests, every chart, every Debian package, every file. One neutral list, then two
 * renderings: CycloneDX 1.6 JSON through the CycloneDX library, and SPDX 2.3 JSON.
 *
 * Deterministic: components sorted, serial number and namespace derived from the lock's bytes,
 * no timestamp in CycloneDX; SPDX requires `created`, which honours SOURCE_DATE_EPOCH.
 */

export type SbomFormat = 'cyclonedx' | 'spdx';
export const SBOM_FORMATS: readonly SbomFormat[] = ['cyclonedx', 'spdx'];
/** Inside the bundle, listed in ferry/checksums.sha256 like any other file. */
export const BUNDLE_SBOM_FILE = 'ferry/sbom.cdx.json';

export type ItemKind = 'image' | 'platform' | 'attestation' | 'chart' | 'deb' | 'file';

export interface SbomItem {
  kind: ItemKind;
  /** Unique within the document: the purl, or the kind and URL for files without one. */
  id: string;
  name: string;
  version?: string;
  purl?: string;
  /** Lowercase hex by algorithm. */
  hashes: { 'SHA-256'?: string; 'SHA-512'?: string };
  /** Where the artifact came from (archive, package or file URL; image repository). */
  downloadUrl?: string;
  properties: Array<[string, string]>;
  /** Platform manifests of a multi-platform image (and the attestation manifests carried with them). */
  children: SbomItem[];
}

export interface SbomInput {
  lock: Lock;
  /**
   * The lock's bytes as stored, or their digest (`{ digest: 'sha256:<hex>' }`, when the caller
   * hashed the file without holding it): serial number and namespace are derived from their sha256.
   */
  lockBytes: Buffer | string | { digest: string };
  /** Bundle (or manifest) name. */
  name: string;
}

// ---------------------------------------------------------------------------------------------
// purl (https://github.com/package-url/purl-spec): percent-encoding per component, qualifiers
// sorted by key; `/`, `:` and `,` stay readable in qualifier values as the spec's examples show
// (`checksum=sha1:…,sha256:…`).

const enc = (s: string) => encodeURIComponent(s);
const encQualifier = (s: string) => encodeURIComponent(s).replace(/%2F/gi, '/').replace(/%3A/gi, ':').replace(/%2C/gi, ',');

export function purl(type: string, namespace: string | undefined, name: string, version: string | undefined, qualifiers: Record<string, string | undefined> = {}): string {
  const q = Object.entries(qualifiers)
    .filter((e): e is [string, string] => e[1] !== undefined && e[1] !== '')
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${encQualifier(v)}`)
    .join('&');
  const ns = namespace ? `${namespace.split('/').map(enc).join('/')}/` : '';
  return `pkg:${type}/${ns}${enc(name)}${version ? `@${enc(version)}` : ''}${q ? `?${q}` : ''}`;
}

// Release numbers of the codenames, for the `distro` qualifier scanners read.
const DEBIAN_RELEASES: Record<string, string> = { jessie: '8', stretch: '9', buster: '10', bullseye: '11', bookworm: '12', trixie: '13', forky: '14', duke: '15' };
const UBUNTU_RELEASES: Record<string, string> = { xenial: '16.04', bionic: '18.04', focal: '20.04', jammy: '22.04', kinetic: '22.10', lunar: '23.04', mantic: '23.10', noble: '24.04', oracular: '24.10', plucky: '25.04', questing: '25.10', resolute: '26.04' };

/**
 * The purl vendor (`debian` or `ubuntu`) and `distro` qualifier of a suite's packages. Grype
 * and Trivy read `distro` as `<id>-<version>` (`debian-12`, `ubuntu-24.04`) and pick the
 * vulnerability feed by it: a bare codename (`bookworm`) names no distribution they know, so no
 * deb would be matched at all, and an Ubuntu package under `debian` would be matched against
 * Debian's feed. A suite whose codename is not known (a flat repository, a vendor's own suite
 * name) gets no `distro` (the suite stays in the `ferry:suite` property).
 */
export function debDistro(url: string, suite: string): { vendor: string; distro?: string } {
  const codename = suite.toLowerCase().split(/[-/]/)[0];
  let host = '';
  try {
    host = new URL(url).hostname.toLowerCase();
  } catch {
    host = '';
  }
  const ubuntu = Object.hasOwn(UBUNTU_RELEASES, codename) || host === 'ubuntu.com' || host.endsWith('.ubuntu.com') || /\/ubuntu\/?$/i.test(url);
  const vendor = ubuntu ? 'ubuntu' : 'debian';
  const releases = ubuntu ? UBUNTU_RELEASES : DEBIAN_RELEASES;
  const version = Object.hasOwn(releases, codename) ? releases[codename] : undefined;
  return { vendor, distro: version ? `${vendor}-${version}` : undefined };
}

const hexOfDigest = (digest: string) => digest.replace(/^sha256:/, '');

/** oci purls name the last path segment; `repository_url` carries the rest (registry/path). */
function ociPurl(ref: string, digest: string, extra: Record<string, string | undefined> = {}): { name: string; purl: string; repository: string } {
  const r = parseImageReference(ref);
  const segments = r.repository.split('/');
  const name = segments[segments.length - 1].toLowerCase();
  const repository = `${r.registry}/${r.repository}`;
  return { name, repository, purl: purl('oci', undefined, name, digest, { repository_url: repository, tag: r.tag, ...extra }) };
}

function archOf(platform: string): { os: string; arch: string; variant?: string } {
  const [os, arch, variant] = platform.split('/');
  return { os, arch, variant };
}

/**
 * A download URL as an SBOM may link it, or undefined (no link: SPDX's NOASSERTION). The lock
 * comes from a bundle and its URLs are any string: one with a line break or a space made the
 * CycloneDX document fail its own schema (`iri-reference`) and SPDX's downloadLocation no URL,
 * and a `javascript://…%0a…` link runs script in a viewer that renders it. So: a scheme a
 * download uses, and only characters a URL has (a `%` starting an escape).
 */
export function linkableUrl(url: string | undefined): string | undefined {
  if (!url || !/^(?:https?|ftp|oci):\/\/[^\s\x00-\x1f\x7f-\x9f<>"{}|\\^`]+$/i.test(url) || /%(?![0-9a-f]{2})/i.test(url)) return undefined;
  try {
    new URL(url);
    return url;
  } catch {
    return undefined;
  }
}

const NO_CHILDREN: SbomItem[] = [];

/**
 * A Debian package's item, compact: its hashes and download URL are made when read, its
 * properties list is shared. An SBOM of a whole APT component holds tens of thousands.
 */
class DebItem implements SbomItem {
  readonly kind = 'deb';
  constructor(
    readonly id: string,
    private readonly pkg: { name: string; version: string; sha256: string; filename: string },
    private readonly base: string,
    readonly properties: Array<[string, string]>,
  ) {}
  get name() {
    return this.pkg.name;
  }
  get version() {
    return this.pkg.version;
  }
  get purl() {
    return this.id;
  }
  get hashes() {
    return { 'SHA-256': this.pkg.sha256 };
  }
  get downloadUrl() {
    return linkableUrl(`${this.base}/${this.pkg.filename}`);
  }
  get children() {
    return NO_CHILDREN;
  }
}

/** The neutral list, sorted: images (with platforms), charts, Debian packages, files. */
export function sbomItems(lock: Lock): SbomItem[] {
  const items: SbomItem[] = [];
  for (const img of lock.images) {
    const top = ociPurl(img.ref, img.digest);
    const children = img.manifests.map((m): SbomItem => {
      // A buildx attestation manifest (platform unknown/unknown) describes one platform's manifest: no platform of its own.
      if (m.attestation) {
        const att = ociPurl(img.ref, m.digest);
        return {
          kind: 'attestation',
          id: att.purl,
          name: att.name,
          version: m.digest,
          purl: att.purl,
          hashes: { 'SHA-256': hexOfDigest(m.digest) },
          properties: [...(m.attestation.of ? [['ferry:attestationOf', m.attestation.of] as [string, string]] : []), ['ferry:mediaType', m.mediaType]],
          children: [],
        };
      }
      const p = archOf(m.platform);
      const child = ociPurl(img.ref, m.digest, { arch: p.arch, os: p.os, variant: p.variant });
      return {
        kind: 'platform',
        id: child.purl,
        name: child.name,
        version: m.digest,
        purl: child.purl,
        hashes: { 'SHA-256': hexOfDigest(m.digest) },
        properties: [['ferry:platform', m.platform], ['ferry:mediaType', m.mediaType]],
        children: [],
      };
    });
    const properties: Array<[string, string]> = [
      ['ferry:reference', img.ref],
      ['ferry:repository', top.repository],
      ['ferry:mediaType', img.mediaType],
      ...img.manifests.filter((m) => !m.attestation).map((m): [string, string] => ['ferry:platform', m.platform]),
    ];
    if (img.storedDigest) properties.push(['ferry:storedDigest', img.storedDigest]);
    items.push({
      kind: 'image',
      id: top.purl,
      name: top.name,
      version: img.digest,
      purl: top.purl,
      hashes: { 'SHA-256': hexOfDigest(img.digest) },
      // The source repository is the purl's repository_url (and a property): a registry has no
      // URI scheme of its own that validators accept (oci:// is not registered).
      properties,
      children,
    });
  }
  for (const chart of lock.charts) {
    const repositoryUrl = chart.repo;
    const p = purl('helm', undefined, chart.name, chart.version, { repository_url: repositoryUrl });
    items.push({
      kind: 'chart',
      id: p,
      name: chart.name,
      version: chart.version,
      purl: p,
      hashes: { 'SHA-256': hexOfDigest(chart.digest) },
      downloadUrl: linkableUrl(chart.url ?? chart.repo),
      properties: [['ferry:chartSource', chart.source], ...(chart.dependencyOf ?? []).map((d): [string, string] => ['ferry:dependencyOf', d])],
      children: [],
    });
  }
  const debs = new Map<string, SbomItem>();
  for (const repo of lock.apt) {
    const base = trimTrailing(repo.url, '/');
    for (const suite of repo.suites) {
      const { vendor, distro } = debDistro(repo.url, suite.suite);
      // One properties list per architecture, shared by the packages (a whole component has tens of thousands).
      const propsByArch = new Map<string, Array<[string, string]>>();
      for (const pkg of suite.packages) {
        const p = purl('deb', vendor, pkg.name, pkg.version, { arch: pkg.architecture, distro });
        if (debs.has(p)) continue;
        let properties = propsByArch.get(pkg.architecture);
        if (!properties) propsByArch.set(pkg.architecture, (properties = [['ferry:aptRepository', repo.name], ['ferry:suite', suite.suite], ['ferry:architecture', pkg.architecture]]));
        debs.set(p, new DebItem(p, pkg, base, properties));
      }
    }
  }
  for (const d of debs.values()) items.push(d);
  for (const file of lock.files) {
    // Every checksum the lock pins (a file pinned by SHA-512 alone has no SHA-256 to name it by).
    const checksum = [file.sha256 && `sha256:${file.sha256}`, file.sha512 && `sha512:${file.sha512}`].filter(Boolean).join(',');
    const p = purl('generic', undefined, file.name, undefined, { download_url: file.url, checksum: checksum || undefined });
    items.push({
      kind: 'file',
      id: p,
      name: file.name,
      purl: p,
      hashes: { ...(file.sha256 ? { 'SHA-256': file.sha256 } : {}), ...(file.sha512 ? { 'SHA-512': file.sha512 } : {}) },
      downloadUrl: linkableUrl(file.url),
      properties: file.size !== undefined ? [['ferry:size', String(file.size)]] : [],
      children: [],
    });
  }
  const order: Record<ItemKind, number> = { image: 0, platform: 1, attestation: 1, chart: 2, deb: 3, file: 4 };
  return items.sort((a, b) => order[a.kind] - order[b.kind] || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** A stable UUID (v8 layout, RFC 9562) from bytes: equal locks give equal serial numbers. */
function stableUuid(bytes: SbomInput['lockBytes']): string {
  const h = typeof bytes === 'object' && !Buffer.isBuffer(bytes) ? Buffer.from(bytes.digest.replace(/^sha256:/, ''), 'hex') : createHash('sha256').update(bytes).digest();
  h[6] = (h[6] & 0x0f) | 0x80;
  h[8] = (h[8] & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

// ---------------------------------------------------------------------------------------------
// CycloneDX 1.6

/**
 * CycloneDX through the CycloneDX library, loaded on first use (sbom-cyclonedx.ts): its
 * start-up (~20 ms of CPU) is paid only by the commands that write an SBOM.
 */
export async function renderCycloneDx(input: SbomInput, items = sbomItems(input.lock)): Promise<string> {
  return [...(await cycloneDxSource(input, items))()].join('');
}

/**
 * The CycloneDX document as chunks, rendered one component at a time on each call (the same
 * bytes as renderCycloneDx): a bundle hashes it first and writes it later without holding it.
 */
export async function cycloneDxSource(input: SbomInput, given?: SbomItem[]): Promise<() => Iterable<string>> {
  const { cycloneDxChunks } = await atStartFlags(() => import('./sbom-cyclonedx.js'));
  // The items and their order outlive this call (kept until the bundle is written): built with
  // the young generation held, and the garbage of their tables' growth collected once built.
  const chunks = holdYoungSync(() => cycloneDxChunks(given ?? sbomItems(input.lock), { serialNumber: `urn:uuid:${stableUuid(input.lockBytes)}`, name: input.name, ferryVersion: VERSION }));
  noteTablesBuilt();
  return chunks;
}

// ---------------------------------------------------------------------------------------------
// SPDX 2.3

const SPDX_PURPOSE: Record<ItemKind, string> = { image: 'CONTAINER', platform: 'CONTAINER', attestation: 'OTHER', chart: 'APPLICATION', deb: 'LIBRARY', file: 'FILE' };

function spdxCreated(): string {
  const epoch = process.env.SOURCE_DATE_EPOCH;
  const date = epoch && /^\d+$/.test(epoch) ? new Date(Number(epoch) * 1000) : new Date();
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function renderSpdx(input: SbomInput, items = sbomItems(input.lock)): string {
  const packages: object[] = [];
  const relationships: object[] = [];
  let n = 0;
  const idFor = (item: SbomItem) => `SPDXRef-${item.kind}-${++n}-${item.name.replace(/[^A-Za-z0-9.-]+/g, '-').slice(0, 60)}`;
  const add = (item: SbomItem, parent: string) => {
    const id = idFor(item);
    packages.push({
      name: item.name,
      SPDXID: id,
      ...(item.version ? { versionInfo: item.version } : {}),
      downloadLocation: item.downloadUrl && /^[a-z][a-z0-9+.-]*:\/\//i.test(item.downloadUrl) ? item.downloadUrl : 'NOASSERTION',
      filesAnalyzed: false,
      checksums: Object.entries(item.hashes).map(([alg, hex]) => ({ algorithm: alg.replace('-', ''), checksumValue: hex })),
      ...(item.purl ? { externalRefs: [{ referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: item.purl }] } : {}),
      primaryPackagePurpose: SPDX_PURPOSE[item.kind],
      licenseConcluded: 'NOASSERTION',
      licenseDeclared: 'NOASSERTION',
      copyrightText: 'NOASSERTION',
      ...(item.properties.length ? { comment: item.properties.map(([k, v]) => `${k}=${v}`).join('\n') } : {}),
    });
    relationships.push({ spdxElementId: parent, relationshipType: parent === 'SPDXRef-DOCUMENT' ? 'DESCRIBES' : 'CONTAINS', relatedSpdxElement: id });
    for (const child of item.children) add(child, id);
  };
  for (const item of items) add(item, 'SPDXRef-DOCUMENT');
  const doc = {
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    SPDXID: 'SPDXRef-DOCUMENT',
    name: input.name,
    documentNamespace: `https://ferry.invalid/spdx/${enc(input.name)}-${stableUuid(input.lockBytes)}`,
    creationInfo: { created: spdxCreated(), creators: [`Tool: ferry-${VERSION}`] },
    packages,
    relationships,
  };
  return JSON.stringify(doc, null, 2) + '\n';
}

export async function renderSbom(format: SbomFormat, input: SbomInput): Promise<string> {
  return format === 'spdx' ? renderSpdx(input) : renderCycloneDx(input);
}

/** Caps what is read as a lock: a lock of a very large APT mirror is tens of MB at most. */
const MAX_LOCK_BYTES = 256 * 1024 * 1024;

export interface SbomOptions {
  /** How to reach a bundle in a registry (`oci://…`): CAs, plain-HTTP hosts. */
  net?: NetOptions;
  /** Write the SBOM to this file (through a temporary name), relative to `cwd`; else it is only returned. */
  output?: string;
  cwd?: string;
}

export interface BundleSbom {
  bundle: string;
  format: SbomFormat;
  text: string;
  /** The file written, when `output` named one (absolute). */
  output?: string;
  counts: { images: number; platforms: number; attestations: number; charts: number; debs: number; files: number };
}

/**
 * The first string (value or key) of parsed JSON that is not well-formed UTF-16, with its path:
 * JSON can spell a lone surrogate (`"\\ud800"`), which encodeURIComponent (a purl) refuses with
 * a URIError and a UTF-8 writer turns into U+FFFD, another name.
 */
// A high surrogate not followed by a low one, or a low one not after a high one (code units: no u flag).
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function illFormedString(value: unknown, at = ''): { path: string; value: string } | undefined {
  if (typeof value === 'string') return !LONE_SURROGATE.test(value) ? undefined : { path: at || '(root)', value };
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const bad = illFormedString(value[i], `${at}[${i}]`);
      if (bad) return bad;
    }
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (LONE_SURROGATE.test(k)) return { path: at || '(root)', value: k };
      const bad = illFormedString(v, at ? `${at}.${k}` : k);
      if (bad) return bad;
    }
  }
  return undefined;
}

/**
 * `ferry sbom <bundle>`: the SBOM of what a bundle carries, from its ferry/lock.json (checked
 * against ferry/checksums.sha256 first, so a lock changed after packing is refused; the full
 * byte-by-byte check is `ferry bundle verify`).
 */
export async function bundleSbom(tarPath: string, format: string, opts: SbomOptions = {}): Promise<BundleSbom> {
  if (!SBOM_FORMATS.includes(format as SbomFormat)) throw new FerryError('USAGE', `--format ${JSON.stringify(format)}: choose one of ${SBOM_FORMATS.join(', ')}`);
  const sbom = await readBundleSbom(tarPath, format as SbomFormat, opts.net);
  if (opts.output === undefined) return sbom;
  const output = path.resolve(opts.cwd ?? process.cwd(), opts.output);
  await writeFileAtomic(output, sbom.text);
  return { ...sbom, output };
}

async function readBundleSbom(tarPath: string, format: SbomFormat, net?: NetOptions): Promise<BundleSbom> {
  const reader = await openBundleSource(tarPath, net);
  try {
    const entry = reader.entry('ferry/lock.json');
    if (!entry) throw new FerryError('VALIDATION', `${reader.path}: ferry/lock.json is missing; not a ferry bundle?`, { hint: '`ferry bundle verify` checks the bundle.' });
    if (entry.size > MAX_LOCK_BYTES) throw new FerryError('VALIDATION', `${reader.path}: ferry/lock.json is ${entry.size} bytes, over the ${MAX_LOCK_BYTES}-byte cap`);
    const lockBytes = await readListedFile(reader, 'ferry/lock.json', 'no SBOM written');
    let parsed: unknown;
    try {
      parsed = JSON.parse(lockBytes.toString('utf8'));
    } catch (err) {
      throw new FerryError('VERIFY', `${reader.path}: ferry/lock.json is not valid JSON`, { cause: err });
    }
    const r = LockSchema.safeParse(parsed);
    if (!r.success) {
      throw new FerryError('VALIDATION', `${reader.path}: ferry/lock.json is not a lock this ferry reads`, {
        details: r.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`),
      });
    }
    const bad = illFormedString(parsed);
    if (bad) {
      throw new FerryError('VALIDATION', `${reader.path}: ferry/lock.json ${bad.path}: ${JSON.stringify(bad.value.slice(0, 200))} is not well-formed Unicode (a lone UTF-16 surrogate, written as a \\u escape); no purl, bom-ref or SPDX field can hold it, so no SBOM is written`, {
        hint: 'The lock was made by hand or changed after `ferry lock`: rebuild the bundle from its manifest.',
      });
    }
    const info = await reader.info();
    const items = sbomItems(r.data);
    const input = { lock: r.data, lockBytes, name: info.manifestName };
    const text = format === 'spdx' ? renderSpdx(input, items) : await renderCycloneDx(input, items);
    const count = (k: ItemKind) => items.filter((i) => i.kind === k).length;
    return {
      bundle: reader.path,
      format,
      text,
      counts: { images: count('image'), platforms: items.reduce((s, i) => s + i.children.filter((c) => c.kind === 'platform').length, 0), attestations: items.reduce((s, i) => s + i.children.filter((c) => c.kind === 'attestation').length, 0), charts: count('chart'), debs: count('deb'), files: count('file') },
    };
  } finally {
    await reader.close();
  }
}
