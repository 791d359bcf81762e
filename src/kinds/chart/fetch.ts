import { FerryError } from '../../errors.js';
import { chartOciReference } from '../../mapping/index.js';
import { MT, type OciDescriptor } from '../../oci/media-types.js';
import { ANNOTATION } from '../../store/source.js';
import { failTaskOnError, humanBytes } from '../../ui/progress.js';
import type { FetchPlan, KindContext } from '../types.js';
import { loadChartStream } from './load.js';
import type { ChartLock } from './lock.js';
import { downloadToStore, indexUrlOf } from './repo-http.js';
import { chartRepoHttp } from './resolve.js';
import { helmChartLayers, httpChartArtifact, ociRepoRef } from './repo-oci.js';
import { readProvenanceBlob, reverifyChartProvenance } from './provenance.js';
import { redactUrl } from '../../net/http.js';
import { trimTrailing } from '../../ui/escape.js';

export function chartFetchPlan(entry: ChartLock): FetchPlan {
  const blobs = entry.oci ? [entry.oci.config, ...entry.oci.layers] : [{ size: entry.size }, ...(entry.prov ? [entry.prov] : [])];
  return { artifact: `chart ${entry.name} ${entry.version}`, bytes: blobs.reduce((n, b) => n + b.size, 0) };
}

/**
 * Bring a locked chart into the store as a Helm OCI artifact. From an OCI repository the
 * upstream manifest, config and layers are kept byte for byte; from an HTTP repository the
 * archive (digest checked) becomes the content layer of the manifest `helm push` would write.
 */
export async function fetchChart(entry: ChartLock, ctx: KindContext): Promise<OciDescriptor[]> {
  const plan = chartFetchPlan(entry);
  const task = ctx.progress.start(plan.artifact, plan.bytes);
  let transferred = 0;
  const onProgress = (n: number) => {
    transferred += n;
    task.advance(n);
  };
  const top = await failTaskOnError(task, () => fetchChartInto(entry, ctx, onProgress));
  task.finish(transferred ? `fetched ${humanBytes(transferred)}` : 'cached');
  return top;
}

async function fetchChartInto(entry: ChartLock, ctx: KindContext, onProgress: (n: number) => void): Promise<OciDescriptor[]> {
  const label = `chart ${entry.name} ${entry.version}`;
  let top: OciDescriptor;
  if (entry.source === 'oci') {
    if (!entry.oci) throw new FerryError('VALIDATION', `${label}: the lock entry has no oci section; run \`ferry lock\` again`);
    const repo = ociRepoRef(entry.repo, entry.name);
    if (!(await ctx.store.has(entry.oci.manifest))) {
      const got = await ctx.registry.getManifest(repo, entry.oci.manifest.digest);
      await ctx.store.putBytes(got.bytes, entry.oci.manifest.digest);
    }
    for (const blob of [entry.oci.config, ...entry.oci.layers]) {
      if (await ctx.store.has(blob)) continue;
      await ctx.store.ingest(blob, (offset) => ctx.registry.openBlob(repo, blob.digest, offset), { label, onProgress, onRetry: (m) => ctx.progress.log(m) });
    }
    top = { mediaType: entry.oci.manifest.mediaType, digest: entry.oci.manifest.digest, size: entry.oci.manifest.size };
  } else {
    if (!entry.url) throw new FerryError('VALIDATION', `${label}: the lock entry has no url; run \`ferry lock\` again`);
    const http = await chartRepoHttp(ctx.http, entry.repo, entry.auth);
    if (!(await ctx.store.has({ digest: entry.digest, size: entry.size }))) {
      const got = await downloadToStore(http, entry.url, entry.digest.slice('sha256:'.length), ctx.store, `${label} archive`, entry.repo);
      if (got.size !== entry.size) throw new FerryError('VERIFY', `${label} (${entry.url}): ${got.size} bytes, the lock says ${entry.size}`);
    }
    if (entry.prov && !(await ctx.store.has(entry.prov)) && entry.prov.url) {
      const bytes = await http.getBytes(entry.prov.url, { label: `${label} provenance`, namedBy: indexUrlOf(entry.repo) });
      await ctx.store.putBytes(bytes, entry.prov.digest);
    }
    const chart = await loadChartStream(ctx.store.open(entry.digest), `${entry.name}-${entry.version}.tgz`);
    const made = httpChartArtifact(chart.metadata, entry, entry.prov);
    await ctx.store.putBytes(made.config, made.configDigest);
    const manifest = made.manifest;
    const stored = await ctx.store.putBytes(manifest);
    top = { mediaType: MT.ociManifest, digest: stored.digest, size: stored.size };
  }
  if (entry.provenance) await reverifyStored(entry, ctx);
  top.artifactType = MT.helmConfig;
  top.annotations = {
    [ANNOTATION.refName]: chartOciReference(entry.repo, entry.name, entry.version),
    [ANNOTATION.kind]: 'chart',
    [ANNOTATION.source]: entry.url ?? `${trimTrailing(entry.repo, '/')}/${entry.name}:${entry.version}`,
    [ANNOTATION.title]: `${entry.name}-${entry.version}.tgz`,
  };
  return [top];
}

/**
 * A chart whose lock records a verified provenance: verified again with the recorded key before
 * it joins a bundle (the lock may have been edited since, or the cache altered).
 */
async function reverifyStored(entry: ChartLock, ctx: KindContext): Promise<void> {
  const label = `chart ${entry.name} ${entry.version} (${redactUrl(entry.repo)})`;
  const prov = entry.oci ? helmChartLayers(entry.oci.layers, label, 'VERIFY').prov : entry.prov;
  if (!prov) throw new FerryError('VERIFY', `${label}: the lock records a verified provenance, but pins no provenance file`, { hint: 'Run `ferry lock` again.' });
  const bytes = await readProvenanceBlob({ readBlob: (d) => ctx.store.readBytes(d) }, prov, label);
  const chart = await loadChartStream(ctx.store.open(entry.digest), `${entry.name}-${entry.version}.tgz`);
  await reverifyChartProvenance(entry.provenance, bytes, { label, name: chart.metadata.name, version: chart.metadata.version, archiveDigest: entry.digest });
}
