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
  // One progress line for the artifact (`label`), its blobs summed under it.
  const task = ctx.progress.start(label, blobs.reduce((n, b) => n + b.size, 0));
  const how: Record<string, number> = {};
  await mapLimit(blobs, ctx.concurrency, async (blob) => {
    // One transfer per digest at a time across the whole run: two entries waking from the same
    // wait must not both mount into one repository, because the registry rewrites the blob's
    // link while the other entry's manifest PUT reads it (seen as DIGEST_INVALID + BLOB_UNKNOWN).
    for (let other = inflight.get(blob.digest); other; other = inflight.get(blob.digest)) await other.catch(() => undefined);
    const run = (async () => {
      const result = await client.pushBlob(repo, blob, (start) => ctx.source.openBlob(blob.digest, start), {
        mountFrom: (ctx.mounts.get(blob.digest) ?? []).filter((r) => r !== repo.repository),
      });
      if (result === 'uploaded') sent += blob.size;
      how[result] = (how[result] ?? 0) + 1;
      if (result === 'uploaded') task.advance(blob.size);
      else task.cached(blob.size);
      ctx.mounts.set(blob.digest, [...new Set([...(ctx.mounts.get(blob.digest) ?? []), repo.repository])]);
    })();
    inflight.set(blob.digest, run);
    try {
      await run;
    } finally {
      if (inflight.get(blob.digest) === run) inflight.delete(blob.digest);
    }
  }).catch((err) => {
    task.fail(err instanceof Error ? err.message : String(err));
    throw err;
  });
  task.finish(`blobs: ${Object.keys(how).sort().map((k) => `${how[k]} ${k === 'exists' ? 'already there' : k}`).join(', ') || 'none'}`);
  return sent;
}

const repoLocks = new WeakMap<Map<string, string[]>, Map<string, Promise<unknown>>>();

/**
 * Entries that land in one mirror repository (an image by tag and by digest, two tags of one
 * image) import one after the other, so their manifest PUTs never race each other's writes.
 */
export async function withRepositoryLock<T>(ctx: ImportContext, repo: RepoRef, fn: () => Promise<T>): Promise<T> {
  let locks = repoLocks.get(ctx.mounts);
  if (!locks) repoLocks.set(ctx.mounts, (locks = new Map()));
  const key = `${repo.registry}/${repo.repository}`;
  const previous = locks.get(key) ?? Promise.resolve();
  const run = previous.catch(() => undefined).then(fn);
  const tail = run.catch(() => undefined);
  locks.set(key, tail);
  try {
    return await run;
  } finally {
    if (locks.get(key) === tail) locks.delete(key);
  }
}
