import { createHash } from 'node:crypto';
import { FerryError } from '../../errors.js';
import type { RegistryClient, RepoRef } from '../../oci/client.js';
import { isDescriptor, MT, type OciDescriptor, type OciManifest } from '../../oci/media-types.js';
import { parseImageReference } from '../../oci/reference.js';
import { trimTrailing } from '../../ui/escape.js';

/**
 * OCI chart repositories: `oci://host/path` + chart name is a registry repository whose tags
 * are the chart versions (`+` written as `_`), each a Helm artifact: config
 * `application/vnd.cncf.helm.config.v1+json` and the chart archive as the content layer.
 */
export function ociRepoRef(repo: string, name: string): RepoRef {
  const base = trimTrailing(repo.replace(/^oci:\/\//, ''), '/');
  const ref = parseImageReference(`${base}/${name}`);
  return { registry: ref.registry, repository: ref.repository };
}

export const tagOf = (version: string): string => version.replace(/\+/g, '_');
export const versionOfTag = (tag: string): string => tag.replace(/_/g, '+');

export async function listOciVersions(registry: RegistryClient, repo: string, name: string): Promise<string[]> {
  try {
    return (await registry.listTags(ociRepoRef(repo, name))).map(versionOfTag);
  } catch (err) {
    if (err instanceof FerryError && err.code === 'NOT_FOUND') {
      throw new FerryError('NOT_FOUND', `chart ${name}: not found in ${repo}`, { cause: err, hint: 'Check the chart name and the oci:// repository path.' });
    }
    throw unreachable(err, repo);
  }
}

export function unreachable(err: unknown, repo: string): unknown {
  if (err instanceof FerryError && err.code === 'NETWORK') {
    return new FerryError('NETWORK', `chart repository ${repo}: unreachable (${err.message})`, { cause: err, hint: 'Check the repo URL in the manifest, the network and HTTPS_PROXY.' });
  }
  return err;
}

/** Media types a Helm client takes as a chart's content: Helm's own and the one helm 3.0–3.7 wrote, which helm still pulls. */
const CHART_CONTENT = new Set<string>([MT.helmChart, 'application/tar+gzip']);

/**
 * A Helm chart manifest's content layer and provenance layer. Two of either is refused: which one
 * a client takes is not fixed (ferry read the first; Helm's registry client keeps the last it
 * meets), so a manifest carrying two could have one checked and the other installed from the
 * mirror, where the manifest is copied byte for byte. `code`: VALIDATION for an upstream answer,
 * VERIFY for a bundle's or a lock's.
 */
export function helmChartLayers(layers: readonly unknown[], label: string, code: 'VALIDATION' | 'VERIFY'): { chart?: OciDescriptor; prov?: OciDescriptor } {
  const charts: OciDescriptor[] = [];
  const provs: OciDescriptor[] = [];
  for (const l of layers) {
    if (!isDescriptor(l)) continue;
    if (CHART_CONTENT.has(l.mediaType)) charts.push(l);
    else if (l.mediaType === MT.helmProv) provs.push(l);
  }
  for (const [what, found] of [['chart content', charts], ['provenance', provs]] as const) {
    if (found.length > 1) {
      throw new FerryError(code, `${label}: the chart manifest has ${found.length} ${what} layers (${found.slice(0, 3).map((d) => d.digest).join(', ')}${found.length > 3 ? ', …' : ''}); a Helm chart has one`, {
        hint: 'Which one a client installs is not defined, so ferry would check one while the mirror serves both: the artifact is broken or crafted. Push the chart again with `helm push`.',
      });
    }
  }
  return { chart: charts[0], prov: provs[0] };
}

export interface OciChartArtifact {
  manifest: { digest: string; size: number; mediaType: string; bytes: Buffer };
  config: OciDescriptor;
  chart: OciDescriptor;
  prov?: OciDescriptor;
  layers: OciDescriptor[];
}

export async function getOciChart(registry: RegistryClient, repo: string, name: string, version: string): Promise<OciChartArtifact> {
  const label = `chart ${name} ${version} (${repo})`;
  let got;
  try {
    got = await registry.getManifest(ociRepoRef(repo, name), tagOf(version));
  } catch (err) {
    throw unreachable(err, repo);
  }
  const m = JSON.parse(got.bytes.toString('utf8')) as OciManifest;
  if (!m.config || m.config.mediaType !== MT.helmConfig) {
    throw new FerryError('VALIDATION', `${label}: not a Helm chart artifact (config media type ${m.config?.mediaType ?? 'missing'})`, {
      hint: 'The tag holds something else than a chart pushed with `helm push`.',
    });
  }
  const { chart, prov } = helmChartLayers(m.layers ?? [], label, 'VALIDATION');
  if (!chart) throw new FerryError('VALIDATION', `${label}: the artifact has no chart content layer`);
  const strip = (d: OciDescriptor): OciDescriptor => ({ mediaType: d.mediaType, digest: d.digest, size: d.size });
  return {
    manifest: { digest: got.digest, size: got.bytes.length, mediaType: got.mediaType || MT.ociManifest, bytes: got.bytes },
    config: strip(m.config),
    chart: strip(chart),
    prov: prov ? strip(prov) : undefined,
    layers: (m.layers ?? []).map(strip),
  };
}

/** Chart.yaml as Helm writes it into the OCI config (its metadata as JSON, Go field order). */
export function helmConfigJson(meta: Record<string, unknown>): Buffer {
  const order = ['name', 'home', 'sources', 'version', 'description', 'keywords', 'maintainers', 'icon', 'apiVersion', 'condition', 'tags', 'appVersion', 'deprecated', 'annotations', 'kubeVersion', 'dependencies', 'type'];
  // Nested structs in Go field order too (chart.Maintainer, chart.Dependency).
  const nested: Record<string, string[]> = {
    maintainers: ['name', 'email', 'url'],
    dependencies: ['name', 'version', 'repository', 'condition', 'tags', 'enabled', 'import-values', 'alias'],
  };
  const pick = (o: Record<string, unknown>, keys: string[]) => {
    const r: Record<string, unknown> = {};
    for (const k of keys) {
      const v = o[k];
      if (v === undefined || v === null || v === '' || v === false || (Array.isArray(v) && !v.length)) continue;
      r[k] = v;
    }
    return r;
  };
  const out = pick(meta, order);
  for (const [k, keys] of Object.entries(nested)) {
    if (Array.isArray(out[k])) out[k] = (out[k] as unknown[]).map((x) => (x && typeof x === 'object' ? pick(x as Record<string, unknown>, keys) : x));
  }
  return Buffer.from(JSON.stringify(out));
}

/**
 * The config and manifest ferry writes for a chart from an HTTP repository, made from the
 * archive's Chart.yaml alone: `bundle create` stores them, and import and serve make them again
 * from the archive the lock pins, so no field of either (appVersion, description, the title
 * annotations) comes from the bundle unchecked.
 */
export function httpChartArtifact(metadata: Record<string, unknown> & { name: string; version: string }, chart: { digest: string; size: number }, prov: { digest: string; size: number } | undefined): { config: Buffer; configDigest: string; manifest: Buffer } {
  const config = helmConfigJson(metadata);
  const configDigest = 'sha256:' + createHash('sha256').update(config).digest('hex');
  const manifest = helmManifest(
    { mediaType: MT.helmConfig, digest: configDigest, size: config.length },
    { mediaType: MT.helmChart, digest: chart.digest, size: chart.size },
    prov ? { mediaType: MT.helmProv, digest: prov.digest, size: prov.size } : undefined,
    { name: metadata.name, version: metadata.version, description: typeof metadata.description === 'string' ? metadata.description : undefined },
  );
  return { config, configDigest, manifest };
}

/** The manifest `helm push` writes: config, chart layer, provenance layer when there is one. */
export function helmManifest(config: OciDescriptor, chart: OciDescriptor, prov: OciDescriptor | undefined, meta: { name: string; version: string; description?: string }): Buffer {
  const layers: Array<{ mediaType: string; digest: string; size: number }> = [{ mediaType: MT.helmChart, digest: chart.digest, size: chart.size }];
  if (prov) layers.push({ mediaType: MT.helmProv, digest: prov.digest, size: prov.size });
  const annotations: Record<string, string> = { 'org.opencontainers.image.title': meta.name, 'org.opencontainers.image.version': meta.version };
  if (meta.description) annotations['org.opencontainers.image.description'] = meta.description;
  const manifest = {
    schemaVersion: 2,
    mediaType: MT.ociManifest,
    config: { mediaType: MT.helmConfig, digest: config.digest, size: config.size },
    layers,
    annotations,
  };
  return Buffer.from(JSON.stringify(manifest));
}
