import { FerryError } from '../../errors.js';
import type { ImageLock } from '../../manifest/lock.js';
import { isIndexType, type OciDescriptor } from '../../oci/media-types.js';
import { parseImageReference } from '../../oci/reference.js';
import type { RepoRef } from '../../oci/client.js';
import { mapLimit } from '../../net/concurrency.js';
import { digestOf } from '../../store/blob-store.js';
import { ANNOTATION } from '../../store/source.js';
import type { KindContext } from '../types.js';
import { filterIndex } from './platforms.js';
import { fetchExtras } from './extras.js';

/**
 * Bring one locked image into the store: manifests by digest (verified against the exact bytes),
 * every blob streamed and hashed, then the top descriptor for the bundle's index.json.
 */
export async function fetchImage(entry: ImageLock, ctx: KindContext): Promise<OciDescriptor[]> {
  const ref = parseImageReference(entry.ref);
  const repo: RepoRef = { registry: ref.registry, repository: ref.repository };
  const label = entry.ref;

  const top = await ctx.registry.getManifest(repo, entry.digest);
  let topBytes = top.bytes;
  if (isIndexType(entry.mediaType)) {
    const filtered = filterIndex(label, top.bytes, entry.platforms);
    topBytes = filtered.bytes;
    const stored = digestOf(topBytes);
    if (stored !== (entry.storedDigest ?? entry.digest)) {
      throw new FerryError('CONFLICT', `${label}: the filtered index hashes to ${stored}, the lock says ${entry.storedDigest ?? entry.digest}`, {
        hint: 'The lock is out of date: run `ferry lock` again.',
      });
    }
    for (const child of entry.manifests) {
      const got = await ctx.registry.getManifest(repo, child.digest);
      await ctx.store.putBytes(got.bytes, child.digest);
    }
  }
  await ctx.store.putBytes(topBytes, entry.storedDigest ?? entry.digest);

  await mapLimit(entry.blobs, ctx.concurrency, async (blob) => {
    if (await ctx.store.has(blob)) return;
    const task = ctx.progress.start(`${label} ${blob.digest.slice(7, 19)}`, blob.size);
    await ctx.store.ingest(blob, (offset) => ctx.registry.openBlob(repo, blob.digest, offset), {
      label: `${label} ${blob.mediaType.includes('config') ? 'config' : 'layer'}`,
      onProgress: (n) => task.advance(n),
      onRetry: (m) => ctx.progress.log(m),
    });
    task.finish('fetched');
  });

  const annotations: Record<string, string> = { [ANNOTATION.refName]: entry.ref, [ANNOTATION.kind]: 'image' };
  if (entry.storedDigest) annotations[ANNOTATION.upstreamDigest] = entry.digest;
  return [{ mediaType: entry.mediaType, digest: entry.storedDigest ?? entry.digest, size: topBytes.length, annotations }, ...(await fetchExtras(entry, ctx))];
}
