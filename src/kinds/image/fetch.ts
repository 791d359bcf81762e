import { stat } from 'node:fs/promises';
import { FerryError } from '../../errors.js';
import type { ImageLock } from './lock.js';
import { isIndexType, type OciDescriptor } from '../../oci/media-types.js';
import { parseImageReference } from '../../oci/reference.js';
import type { RepoRef } from '../../oci/client.js';
import { mapLimit } from '../../net/concurrency.js';
import { digestOf } from '../../store/blob-store.js';
import { ANNOTATION } from '../../store/source.js';
import { humanBytes } from '../../ui/progress.js';
import type { FetchPlan, KindContext } from '../types.js';
import { filterIndex } from './platforms.js';
import { fetchExtras } from './extras.js';

export function imageFetchPlan(entry: ImageLock): FetchPlan {
  return { artifact: entry.ref, bytes: entry.blobs.reduce((n, b) => n + b.size, 0) };
}

/**
 * A manifest already in the cache (exact bytes, hash checked), so a frozen, cached build asks
 * nobody. No larger than the lock says (a filtered index is smaller than its upstream index),
 * so a lock naming some layer's digest cannot make ferry read a layer into memory.
 */
async function cachedManifest(ctx: KindContext, digest: string, maxSize: number): Promise<Buffer | undefined> {
  const size = await stat(ctx.store.blobPath(digest)).then((s) => s.size, () => undefined);
  if (size === undefined || size > maxSize) return undefined;
  const bytes = await ctx.store.readBytes(digest).catch(() => undefined);
  return bytes && digestOf(bytes) === digest ? bytes : undefined;
}

/**
 * Bring one locked image into the store: manifests by digest (verified against the exact bytes;
 * taken from the cache when it has them), every blob streamed and hashed, then the top
 * descriptor for the bundle's index.json. Progress is one line for the image, its blobs summed.
 */
export async function fetchImage(entry: ImageLock, ctx: KindContext): Promise<OciDescriptor[]> {
  const ref = parseImageReference(entry.ref);
  const repo: RepoRef = { registry: ref.registry, repository: ref.repository };
  const label = entry.ref;
  const plan = imageFetchPlan(entry);
  const task = ctx.progress.start(plan.artifact, plan.bytes);
  try {
    const storedDigest = entry.storedDigest ?? entry.digest;
    let topBytes = await cachedManifest(ctx, storedDigest, entry.size);
    if (!topBytes) {
      const top = await ctx.registry.getManifest(repo, entry.digest);
      topBytes = top.bytes;
      if (isIndexType(entry.mediaType)) {
        const filtered = filterIndex(label, top.bytes, entry.platforms);
        topBytes = filtered.bytes;
        const stored = digestOf(topBytes);
        if (stored !== storedDigest) {
          throw new FerryError('CONFLICT', `${label}: the filtered index hashes to ${stored}, the lock says ${storedDigest}`, {
            hint: 'The lock is out of date: run `ferry lock` again.',
          });
        }
      }
    }
    if (isIndexType(entry.mediaType)) {
      // The platform manifests a few at a time (one round trip each).
      await mapLimit(entry.manifests, Math.min(4, ctx.concurrency), async (child) => {
        if (await cachedManifest(ctx, child.digest, child.size)) return;
        const got = await ctx.registry.getManifest(repo, child.digest);
        await ctx.store.putBytes(got.bytes, child.digest);
      });
    }
    await ctx.store.putBytes(topBytes, storedDigest);

    let transferred = 0;
    await mapLimit(entry.blobs, ctx.concurrency, async (blob) => {
      if (await ctx.store.has(blob)) {
        task.cached(blob.size);
        return;
      }
      await ctx.store.ingest(blob, (offset) => ctx.registry.openBlob(repo, blob.digest, offset), {
        label: `${label} ${blob.mediaType.includes('config') ? 'config' : 'layer'}`,
        deferrable: true,
        onProgress: (n) => {
          transferred += n;
          task.advance(n);
        },
        onRetry: (m) => ctx.progress.log(m),
      });
    });
    const deferred = ctx.store.deferral ? entry.blobs.reduce((n, b) => n + (ctx.store.deferral!.get(b.digest) ? b.size : 0), 0) : 0;
    task.finish(deferred ? `${humanBytes(deferred)} to stream into the bundle${transferred ? `; fetched ${humanBytes(transferred)}` : ''}` : transferred ? `fetched ${humanBytes(transferred)}` : 'cached');

    const annotations: Record<string, string> = { [ANNOTATION.refName]: entry.ref, [ANNOTATION.kind]: 'image' };
    if (entry.storedDigest) annotations[ANNOTATION.upstreamDigest] = entry.digest;
    return [{ mediaType: entry.mediaType, digest: storedDigest, size: topBytes.length, annotations }, ...(await fetchExtras(entry, ctx))];
  } catch (err) {
    task.fail(err instanceof FerryError ? err.message : 'unexpected error');
    throw err;
  }
}
