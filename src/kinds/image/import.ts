import { FerryError } from '../../errors.js';
import { mapImage, registryMappingFor } from '../../mapping/index.js';
import { isIndexType, type OciDescriptor, type OciIndex, type OciManifest } from '../../oci/media-types.js';
import type { RepoRef } from '../../oci/client.js';
import { writeArtifactToLayout } from '../layout-write.js';
import { pushBlobs, withRepositoryLock } from '../registry-push.js';
import { ANNOTATION, type BlobSource } from '../../store/source.js';
import type { ImportContext, ImportResult } from '../types.js';
import { isExtraTop, pushImageExtras } from './extras.js';

interface ImageGraph {
  refName: string;
  top: OciDescriptor;
  topBytes: Buffer;
  /** Child manifests of an index, with their bytes (empty for a single manifest). */
  children: Array<{ desc: OciDescriptor; bytes: Buffer }>;
  /** Config and layer blobs, each once. */
  blobs: OciDescriptor[];
}

/** Read an image's manifests from the bundle (small) and list every blob it reaches. */
export async function readImageGraph(top: OciDescriptor, source: BlobSource): Promise<ImageGraph> {
  const refName = top.annotations?.[ANNOTATION.refName] ?? top.digest;
  const topBytes = await source.readBlob(top.digest);
  const children: ImageGraph['children'] = [];
  const manifests: Buffer[] = [];
  if (isIndexType(top.mediaType)) {
    const index = JSON.parse(topBytes.toString('utf8')) as OciIndex;
    for (const desc of index.manifests) {
      const bytes = await source.readBlob(desc.digest);
      children.push({ desc, bytes });
      manifests.push(bytes);
    }
  } else {
    manifests.push(topBytes);
  }
  const blobs = new Map<string, OciDescriptor>();
  for (const bytes of manifests) {
    const m = JSON.parse(bytes.toString('utf8')) as OciManifest;
    for (const d of [m.config, ...(m.layers ?? [])]) if (d) blobs.set(d.digest, { mediaType: d.mediaType, digest: d.digest, size: d.size });
  }
  return { refName, top, topBytes, children, blobs: [...blobs.values()] };
}

/** Push to the target registry: blobs, then child manifests, then the index, then the tag. */
async function pushToRegistry(g: ImageGraph, ctx: ImportContext): Promise<ImportResult> {
  const reg = ctx.target.target.registry!;
  if (!ctx.registry) throw new FerryError('INTERNAL', 'no registry client for the target');
  const filtered = g.top.annotations?.[ANNOTATION.upstreamDigest] ? g.top.digest : undefined;
  const mapped = mapImage(g.refName, registryMappingFor(ctx.target.target), filtered);
  const repo: RepoRef = { registry: new URL(reg.url).host, repository: mapped.repository };

  const client = ctx.registry;
  return withRepositoryLock(ctx, repo, async (): Promise<ImportResult> => {
    const existing = await client.headManifest(repo, mapped.tag ?? g.top.digest);
    if (existing?.digest === g.top.digest) {
      return { artifact: g.refName, location: mapped.mirror, bytesSent: 0, skipped: true };
    }
    const bytesSent = await pushBlobs(repo, g.blobs, ctx, g.refName);
    for (const child of g.children) {
      await client.putManifest(repo, child.desc.digest, child.bytes, child.desc.mediaType);
    }
    await client.putManifest(repo, g.top.digest, g.topBytes, g.top.mediaType);
    if (mapped.tag) await client.putManifest(repo, mapped.tag, g.topBytes, g.top.mediaType);
    return { artifact: g.refName, location: mapped.mirror, bytesSent, skipped: false };
  });
}

/** Write into the target's OCI image layout directory; index.json is updated last. */
async function writeToDirectory(g: ImageGraph, ctx: ImportContext): Promise<ImportResult> {
  const { dir, bytesSent, skipped } = await writeArtifactToLayout(g.refName, g.top, [...g.blobs, ...g.children.map((c) => c.desc)], ctx);
  return { artifact: g.refName, location: `${dir}#${g.refName}`, bytesSent, skipped };
}

export async function importImage(top: OciDescriptor, ctx: ImportContext): Promise<ImportResult[]> {
  if (isExtraTop(top)) return []; // pushed with (after) its image
  const g = await readImageGraph(top, ctx.source);
  const results: ImportResult[] = [];
  if (ctx.target.target.registry) results.push(await pushToRegistry(g, ctx), ...(await pushImageExtras(g.refName, g.top.annotations?.[ANNOTATION.upstreamDigest] ? g.top.digest : undefined, ctx)));
  if (ctx.target.target.directory) results.push(await writeToDirectory(g, ctx));
  return results;
}
