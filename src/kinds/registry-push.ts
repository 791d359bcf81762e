import type { RepoRef } from '../oci/client.js';
import type { OciDescriptor } from '../oci/media-types.js';
import { mapLimit } from '../net/concurrency.js';
import type { ImportContext } from './types.js';

/** Uploads under way in one import run, per digest, so a second repository mounts instead of re-sending. */
const pushing = new WeakMap<Map<string, string[]>, Map<string, Promise<void>>>();

/**
 * Push blobs into one repository of the target registry: skip what is there, mount what this
 * run already pushed elsewhere on the registry, upload the rest streamed from the bundle.
 * Returns the bytes actually sent.
 */
export async function pushBlobs(repo: RepoRef, blobs: OciDescriptor[], ctx: ImportContext, label: string): Promise<number> {
  const client = ctx.registry!;
  let inflight = pushing.get(ctx.mounts);
  if (!inflight) pushing.set(ctx.mounts, (inflight = new Map()));
  let sent = 0;
  await mapLimit(blobs, ctx.concurrency, async (blob) => {
    const other = inflight.get(blob.digest);
    if (other) await other.catch(() => undefined);
    const task = ctx.progress.start(`${label} ${blob.digest.slice(7, 19)}`, blob.size);
    const run = (async () => {
      const how = await client.pushBlob(repo, blob, (start) => ctx.source.openBlob(blob.digest, start), {
        mountFrom: (ctx.mounts.get(blob.digest) ?? []).filter((r) => r !== repo.repository),
      });
      if (how === 'uploaded') sent += blob.size;
      task.advance(blob.size);
      task.finish(how);
      ctx.mounts.set(blob.digest, [...new Set([...(ctx.mounts.get(blob.digest) ?? []), repo.repository])]);
    })();
    if (!other) inflight.set(blob.digest, run);
    try {
      await run;
    } finally {
      if (inflight.get(blob.digest) === run) inflight.delete(blob.digest);
    }
  });
  return sent;
}
