import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import semver from 'semver';
import { FerryError } from '../../errors.js';
import { redactUrl, type HttpClient } from '../../net/http.js';
import type { RegistryClient, RepoRef } from '../../oci/client.js';
import { MT, isIndexType, type OciDescriptor } from '../../oci/media-types.js';
import { checkRegistryHost, normalizeRegistryHost, parseImageReference } from '../../oci/reference.js';
import { trimTrailing } from '../../ui/escape.js';
import { loadChartStream, MAX_CHART_BYTES, type LoadedChart } from './load.js';
import { fetchProv, indexUrlOf } from './repo-http.js';
import { readProvenanceBlob, verifyFetchedProvenance, type ProvenanceRequirement } from './provenance.js';
import { readPublicKeys, type PublicKeys } from '../../net/pgp.js';
import { helmChartLayers, tagOf, versionOfTag } from './repo-oci.js';
import { chartRepoHttp, indexArchive, pickVersion } from './resolve.js';

/**
 * A chart a user names by where it is published, as `helm template` / `helm pull` take it:
 * `oci://host/path/chart` (with `--version`, `:tag` or `@sha256:`), a repository URL with
 * `--chart <name>` (its index.yaml), or the https URL of a packaged chart. Fetched through the
 * same clients `ferry lock` uses (credentials, proxies, CAs, plain HTTP only where allowed),
 * verified, and read in memory within the chart-archive bound: nothing is written to disk.
 */
export type RemoteChartRef =
  | { kind: 'oci'; input: string; repo: RepoRef; tag?: string; digest?: string; version?: string }
  | { kind: 'repo'; input: string; repo: string; name: string; version?: string }
  | { kind: 'url'; input: string; url: string };

export interface RemoteChartFlags {
  /** `--chart <name>`: the chart in the repository `input` names. */
  chart?: string;
  /** `--version <version or semver range>`. */
  version?: string;
  /** `--keyring <file>` (as `helm pull --verify --keyring`): the OpenPGP public keys the chart's provenance must be signed by. */
  keyring?: string;
}

/**
 * The keys `--keyring <file>` gives (armored or binary, as Helm's `--keyring` takes), for a chart
 * fetched from where it is published; refused for a chart on disk, which has no provenance ferry
 * fetches.
 */
export async function readKeyring(file: string, cwd: string, remote: RemoteChartRef | undefined, input: string): Promise<PublicKeys> {
  if (!remote) {
    throw usage(
      `--keyring ${file}: ${input} is not fetched (a chart directory, archive or manifest on disk); --keyring verifies the provenance of a chart fetched from oci://, a repository or a URL`,
      'Drop --keyring; in a manifest, give the chart entry keys: (`ferry lock` verifies them); for an archive on disk with its .prov, `helm verify --keyring` checks it.',
    );
  }
  try {
    return await readPublicKeys([file], cwd, `--keyring ${file}`);
  } catch (err) {
    if (!(err instanceof FerryError)) throw err;
    throw new FerryError('USAGE', err.message, { cause: err, hint: 'Give --keyring an OpenPGP public key file (armored, or a binary keyring such as a GnuPG pubring.gpg), relative to the current directory: `gpg --export <key id> > keyring.gpg`.' });
  }
}

/** What was rendered: where it came from and the digest to pin it by. */
export interface RemoteChartOrigin {
  /** The reference as resolved: `oci://host/path/chart:1.2.0`, `<repo> <name> 1.2.0`, the archive URL. */
  reference: string;
  /** Chart version (from the tag or the index; the Chart.yaml's is in the chart). */
  version?: string;
  /** sha256 of the chart archive that was rendered. */
  archiveDigest: string;
  /** OCI: the manifest digest (what `oci://…@sha256:` and a lock pin). */
  manifestDigest?: string;
  /** The reference pinned by digest, for OCI charts. */
  pinned?: string;
  /** What the archive's bytes were checked against: the OCI manifest's layer digest, the index's digest, or nothing. */
  verifiedBy: 'manifest' | 'index' | 'none';
  /** With `--keyring`: the provenance verified (its signer's fingerprint, the archive name it lists) before the chart was rendered. */
  provenance?: { signer: string; file: string };
}

/** The largest packaged chart read (in memory): helm's own bound on what a chart may unpack to. */
export const MAX_REMOTE_ARCHIVE = MAX_CHART_BYTES;

const usage = (message: string, hint?: string) => new FerryError('USAGE', message, hint ? { hint } : {});

/**
 * The remote chart `input` names, or undefined for a path on disk. `--chart`/`--version` are
 * checked against the form: a repository URL needs `--chart`; `--version` beside a tag or
 * digest that says otherwise is refused, not silently dropped.
 */
export function parseRemoteChart(input: string, flags: RemoteChartFlags = {}): RemoteChartRef | undefined {
  if (/^oci:\/\//i.test(input)) {
    if (flags.chart !== undefined) throw usage(`--chart ${flags.chart}: an oci:// reference names the chart itself (oci://host/path/<chart>)`, `Drop --chart: ferry charts images ${input}${flags.version ? ` --version ${flags.version}` : ''}`);
    return parseOciChart(input, flags.version);
  }
  if (/^https?:\/\//i.test(input)) {
    let url: URL;
    try {
      url = new URL(input);
    } catch {
      throw usage(`${JSON.stringify(input.slice(0, 200))}: not a valid URL`);
    }
    if (flags.chart !== undefined) {
      if (!flags.chart || /[\s/]/.test(flags.chart) || flags.chart.length > 250) throw usage(`--chart ${JSON.stringify(flags.chart.slice(0, 200))}: not a chart name`);
      return { kind: 'repo', input, repo: url.toString().replace(/\/$/, ''), name: flags.chart, version: flags.version };
    }
    if (flags.version !== undefined) {
      throw usage(`--version ${flags.version}: ${input} is an archive URL (it names one version); --version picks a version in a repository`, 'Name the repository and the chart: <repo-url> --chart <name> --version <version>.');
    }
    return { kind: 'url', input, url: url.toString() };
  }
  if (flags.chart !== undefined || flags.version !== undefined) {
    const which = flags.chart !== undefined ? '--chart' : '--version';
    throw usage(`${which}: ${input} is neither an oci:// reference nor a repository URL; ${which} names a chart in a repository`, 'Give oci://host/path/<chart> --version <version>, or <repo-url> --chart <name> --version <version>; a chart on disk is rendered as it is.');
  }
  return undefined;
}

function parseOciChart(input: string, version?: string): RemoteChartRef {
  const rest = input.slice('oci://'.length);
  const slash = rest.indexOf('/');
  const host = slash > 0 ? rest.slice(0, slash) : '';
  const bad = (why: string) => new FerryError('USAGE', `${input}: not an OCI chart reference: ${why}`, { hint: 'Write it as oci://<registry host>/<path>/<chart>, with --version <version>, :<tag> or @sha256:<digest>.' });
  if (!host || slash === rest.length - 1) throw bad('no repository path after the registry host');
  const hostProblem = checkRegistryHost(host);
  if (hostProblem) throw bad(hostProblem);
  // The first part is the registry, always (helm's rule), even without a dot: parsed under a host that is one.
  let parsed;
  try {
    parsed = parseImageReference(`localhost/${rest.slice(slash + 1)}`);
  } catch (err) {
    throw bad(err instanceof FerryError ? err.message.replace(/^.*?: not a valid image reference: /, '') : String(err));
  }
  const repo: RepoRef = { registry: normalizeRegistryHost(host), repository: parsed.repository };
  if (version !== undefined) {
    if (parsed.digest) throw usage(`--version ${version}: ${input} names a digest; give one or the other`);
    if (parsed.tag && versionOfTag(parsed.tag) !== version) throw usage(`--version ${version}: ${input} names the tag ${parsed.tag}; give one or the other`);
  }
  return { kind: 'oci', input, repo, tag: parsed.digest ? undefined : parsed.tag, digest: parsed.digest, version: version ?? (parsed.tag && !parsed.digest ? versionOfTag(parsed.tag) : undefined) };
}

/** A registry that does not answer, named with what to check (not a manifest's repo: the reference given). */
function unreachable(err: unknown, name: string): unknown {
  if (err instanceof FerryError && err.code === 'NETWORK') {
    return new FerryError('NETWORK', `${name}: registry unreachable (${err.message})`, {
      cause: err,
      hint: err.hint ?? 'Check the registry host and port, the network and HTTPS_PROXY/NO_PROXY; a plain-HTTP registry that is not on loopback needs --insecure-registry <host>.',
    });
  }
  return err;
}

/** Where an OCI chart reference shows in messages: `oci://host/path/chart`. */
const ociName = (repo: RepoRef) => `oci://${repo.registry}/${repo.repository}`;

export interface RemoteChart {
  chart: LoadedChart;
  /** The archive's bytes, verified (for a renderer that reads a file: `--render helm`). */
  archive: Buffer;
  origin: RemoteChartOrigin;
}

/** `--keyring` on `charts images` / `rewrite chart`: what requires a fetched chart's provenance, and the way out. */
export const KEYRING_REQUIREMENT: ProvenanceRequirement = {
  what: '--keyring',
  otherwise: 'drop --keyring to render it checked against its digest only (as `helm template` without --verify). Nothing was rendered.',
};

/**
 * The chart `ref` names, fetched, verified and loaded with all its files; `origin` says what was
 * rendered. With `keys` (`--keyring`, as `helm pull --verify --keyring`), its provenance (`<archive
 * URL>.prov`, an OCI chart's provenance layer) is required and verified as `lock` verifies a chart
 * entry's `keys:`, before anything renders the chart.
 */
export async function fetchRemoteChart(ref: RemoteChartRef, net: { http: HttpClient; registry: RegistryClient }, keys?: PublicKeys): Promise<RemoteChart> {
  const got = ref.kind === 'oci' ? await fetchOciChart(ref, net.registry) : ref.kind === 'repo' ? await fetchRepoChart(ref, net.http) : await fetchUrlChart(ref, net.http);
  if (!keys) return got;
  const { name, version } = got.chart.metadata;
  const label = `chart ${name} ${version} (${got.origin.reference})`;
  const prov = await got.provenance();
  const checked = await verifyFetchedProvenance(prov.bytes, keys, { label, name, version, archiveDigest: got.origin.archiveDigest, url: prov.archiveUrl, where: prov.where, requiredBy: KEYRING_REQUIREMENT });
  return { chart: got.chart, archive: got.archive, origin: { ...got.origin, provenance: checked } };
}

/** A fetched chart, and how to fetch its provenance (only with `--keyring`). */
interface FetchedChart extends RemoteChart {
  provenance(): Promise<{ bytes?: Buffer; where: string; archiveUrl?: string }>;
}

async function fetchUrlChart(ref: Extract<RemoteChartRef, { kind: 'url' }>, http: HttpClient): Promise<FetchedChart> {
  const bytes = await http.getBytes(ref.url, { label: `chart archive`, maxBytes: MAX_REMOTE_ARCHIVE });
  const digest = sha256(bytes);
  const chart = await loadArchive(bytes, redactUrl(ref.url));
  return {
    chart,
    archive: bytes,
    origin: { reference: redactUrl(ref.url), version: chart.metadata.version, archiveDigest: digest, verifiedBy: 'none' },
    provenance: async () => ({ bytes: await fetchProv(http, ref.url), where: `${ref.url}.prov`, archiveUrl: ref.url }),
  };
}

async function fetchOciChart(ref: Extract<RemoteChartRef, { kind: 'oci' }>, registry: RegistryClient): Promise<FetchedChart> {
  const name = ociName(ref.repo);
  let reference = ref.digest ?? (ref.tag ? ref.tag : undefined);
  let version = ref.version;
  if (!reference) {
    // `--version` as an exact version is the tag (`+` written `_`); a range, or nothing, picks from the tags as helm does.
    if (version !== undefined && semver.valid(version, { loose: true }) !== null) reference = tagOf(version);
    else {
      const tags = await registry.listTags(ref.repo).catch((err: unknown) => {
        if (err instanceof FerryError && err.code === 'NOT_FOUND') throw new FerryError('NOT_FOUND', `${name}: no such repository on ${ref.repo.registry}`, { cause: err, hint: 'Check the registry host and the chart path.' });
        throw unreachable(err, name);
      });
      version = pickVersion(tags.map(versionOfTag), version ?? '*', `chart ${name}`, ref.repo.registry);
      reference = tagOf(version);
    }
  }
  const shown = ref.digest ? `${name}@${ref.digest}` : `${name}:${reference}`;
  let got;
  try {
    got = await registry.getManifest(ref.repo, reference);
  } catch (err) {
    if (err instanceof FerryError && err.code === 'NOT_FOUND') throw new FerryError('NOT_FOUND', `${shown}: not found (${err.message})`, { cause: err, hint: err.hint });
    throw unreachable(err, name);
  }
  const { chart: layer, prov } = helmChartManifestLayers(got.bytes, got.mediaType, shown);
  if (layer.size > MAX_REMOTE_ARCHIVE) {
    throw new FerryError('VALIDATION', `${shown}: its chart layer is ${layer.size} bytes, more than the ${MAX_REMOTE_ARCHIVE} bytes ferry reads of a packaged chart`, { hint: 'helm refuses charts this large too; the manifest was crafted or is not a chart.' });
  }
  let bytes: Buffer;
  try {
    // getBlobBytes hashes what arrives and refuses bytes that are not the layer's digest.
    bytes = await registry.getBlobBytes(ref.repo, layer.digest, layer.size);
  } catch (err) {
    if (err instanceof FerryError && err.code === 'VERIFY') {
      throw new FerryError('VERIFY', `${shown} chart layer ${layer.digest}: ${err.message.replace(/^.*?blob sha256:[a-f0-9]+: /, '')}`, {
        cause: err,
        hint: 'The registry (or something between) served other bytes than the chart manifest names; nothing was rendered or kept.',
      });
    }
    throw unreachable(err, name);
  }
  if (bytes.length !== layer.size) throw new FerryError('VERIFY', `${shown} chart layer ${layer.digest}: ${bytes.length} bytes, the manifest says ${layer.size}`);
  const chart = await loadArchive(bytes, shown);
  return {
    chart,
    archive: bytes,
    origin: {
      reference: shown,
      version: version ?? (ref.tag ? versionOfTag(ref.tag) : chart.metadata.version),
      archiveDigest: layer.digest,
      manifestDigest: got.digest,
      pinned: `${name}@${got.digest}`,
      verifiedBy: 'manifest',
    },
    provenance: async () => ({
      // Its size is checked before the download, its bytes against the manifest's digest.
      bytes: prov ? await readProvenanceBlob({ readBlob: (d, max) => registry.getBlobBytes(ref.repo, d, Math.min(prov.size, max ?? prov.size)) }, prov, shown) : undefined,
      where: `${shown} (no layer of media type ${MT.helmProv})`,
    }),
  };
}

/**
 * The Helm chart layer of a manifest, or a refusal naming what the reference holds instead: an
 * image index, a container image, another artifact, a chart without its content layer.
 */
export function helmChartLayer(bytes: Buffer, mediaType: string, shown: string): OciDescriptor {
  return helmChartManifestLayers(bytes, mediaType, shown).chart;
}

/** helmChartLayer's chart layer, and the provenance layer when the manifest has one. */
function helmChartManifestLayers(bytes: Buffer, mediaType: string, shown: string): { chart: OciDescriptor; prov?: OciDescriptor } {
  const notChart = (what: string) =>
    new FerryError('VALIDATION', `${shown}: ${what}, not a Helm chart`, {
      hint: 'Name the chart (pushed with `helm push`: config application/vnd.cncf.helm.config.v1+json, layer application/vnd.cncf.helm.chart.content.v1.tar+gzip); an image goes under images: in a manifest.',
    });
  let m: { mediaType?: unknown; config?: unknown; layers?: unknown; manifests?: unknown };
  try {
    m = JSON.parse(bytes.toString('utf8')) as typeof m;
  } catch {
    throw notChart('the manifest is not JSON');
  }
  if (isIndexType(mediaType) || Array.isArray(m.manifests)) throw notChart(`an image index (${mediaType}: a multi-platform image)`);
  const config = m.config as Partial<OciDescriptor> | undefined;
  const configType = typeof config?.mediaType === 'string' ? config.mediaType : undefined;
  if (configType !== MT.helmConfig) {
    if (configType === MT.ociConfig || configType === MT.dockerConfig) throw notChart(`a container image (config ${configType})`);
    throw notChart(`an artifact of config media type ${configType ? JSON.stringify(configType.slice(0, 200)) : 'missing'}`);
  }
  const layers = Array.isArray(m.layers) ? (m.layers as unknown[]) : [];
  // Helm's chart layer, or the one helm 3.0–3.7 wrote (`application/tar+gzip`), which helm still pulls.
  const { chart, prov } = helmChartLayers(layers, shown, 'VALIDATION');
  if (!chart) {
    const types = layers.map((l) => (l && typeof (l as OciDescriptor).mediaType === 'string' ? (l as OciDescriptor).mediaType.slice(0, 200) : '?')).slice(0, 5);
    throw new FerryError('VALIDATION', `${shown}: a Helm chart manifest without a chart layer of media type ${MT.helmChart} (its layers: ${types.join(', ') || 'none'})`, {
      hint: 'The artifact is broken or crafted; push the chart again with `helm push`.',
    });
  }
  return { chart: { mediaType: chart.mediaType, digest: chart.digest, size: chart.size }, ...(prov ? { prov } : {}) };
}

async function fetchRepoChart(ref: Extract<RemoteChartRef, { kind: 'repo' }>, userHttp: HttpClient): Promise<FetchedChart> {
  // Credentials and CA of the repository's entry in Helm's repositories.yaml, as `helm pull --repo` finds them.
  const http = await chartRepoHttp(userHttp, ref.repo, undefined);
  const what = `chart ${ref.name}`;
  const { version, url, hex } = await indexArchive(http, ref.repo, ref.name, ref.version ?? '*', 'Check the chart name (--chart) and the repository URL.');
  const shown = `${redactUrl(trimTrailing(ref.repo, '/'))} ${ref.name} ${version}`;
  // The URL comes from the repository's answer: held to the redirect rule as `lock` holds it.
  const bytes = await http.getBytes(url, { label: `${what} ${version} archive`, maxBytes: MAX_REMOTE_ARCHIVE, namedBy: indexUrlOf(ref.repo) });
  const digest = sha256(bytes);
  if (hex !== undefined && digest !== `sha256:${hex}`) {
    throw new FerryError('VERIFY', `${what} ${version} archive (${redactUrl(url)}): digest mismatch: the index says sha256:${hex}, the archive hashes to ${digest}`, {
      hint: 'The repository served a different archive than its index names. Nothing was rendered or kept; report it to the repository maintainer.',
    });
  }
  const chart = await loadArchive(bytes, shown);
  return {
    chart,
    archive: bytes,
    origin: { reference: shown, version, archiveDigest: digest, verifiedBy: hex !== undefined ? 'index' : 'none' },
    provenance: async () => ({ bytes: await fetchProv(http, url, ref.repo), where: `${url}.prov`, archiveUrl: url }),
  };
}

/** A packaged chart's bytes, read as a stream is (the same unpack bound); a refusal names `shown`. */
function loadArchive(bytes: Buffer, shown: string): Promise<LoadedChart> {
  return loadChartStream(Readable.from([bytes]), shown, { allFiles: true });
}

const sha256 = (b: Uint8Array) => 'sha256:' + createHash('sha256').update(b).digest('hex');
