import type { Readable } from 'node:stream';
import { keyedMutex, mapLimit } from '../net/concurrency.js';
import type { Progress } from '../ui/progress.js';
import type { RegistryClient, RepoRef } from './client.js';
import { MT, type OciDescriptor } from './media-types.js';

/**
 * Everything one import pushes to one target registry goes through one session (the model is
 * go-containerregistry's `remote.Pusher`). It owns:
 *  - cross-repository mounts: digest → the repositories that hold it in this run, so a blob
 *    pushed for one image is mounted, not re-sent, into the next repository that needs it;
 *  - one transfer per digest at a time across the whole run: two entries waking from the same
 *    wait must not both mount into one repository, because the registry rewrites the blob's
 *    link while the other entry's manifest PUT reads it (seen as DIGEST_INVALID + BLOB_UNKNOWN);
 *  - per-repository ordering: entries that land in one repository (an image by tag and by
 *    digest, two tags of one image, an image and its signatures) push one after the other, so
 *    their manifest PUTs never race each other's writes.
 */
export class RegistryPushSession {
  private readonly mounts = new Map<string, Set<string>>();
  private readonly perDigest = keyedMutex<string>();
  private readonly perRepository = keyedMutex<string>();

  constructor(
    readonly client: RegistryClient,
    private readonly opts: {
      /** Where the bytes come from (the bundle): `digest` from byte `start`. */
      openBlob: (digest: string, start: number) => Promise<Readable>;
      progress: Progress;
      /** Blobs of one artifact pushed side by side. */
      concurrency: number;
    },
  ) {}

  /** Run `fn` with `repo` to itself (calls for one repository run in call order). Not re-entrant. */
  withRepository<T>(repo: RepoRef, fn: () => Promise<T>): Promise<T> {
    return this.perRepository(`${repo.registry}/${repo.repository}`, fn);
  }

  /**
   * Push blobs into one repository: skip what is there, mount what this run already pushed
   * elsewhere on the registry, upload the rest. One progress line for the artifact (`label`),
   * its blobs summed under it. Returns the bytes actually sent.
   */
  async pushBlobs(repo: RepoRef, blobs: OciDescriptor[], label: string): Promise<number> {
    let sent = 0;
    const task = this.opts.progress.start(label, blobs.reduce((n, b) => n + b.size, 0));
    const how: Record<string, number> = {};
    await mapLimit(blobs, this.opts.concurrency, (blob) =>
      this.perDigest(blob.digest, async () => {
        const holders = this.mounts.get(blob.digest) ?? new Set<string>();
        const result = await this.client.pushBlob(repo, blob, (start) => this.opts.openBlob(blob.digest, start), {
          mountFrom: [...holders].filter((r) => r !== repo.repository),
        });
        how[result] = (how[result] ?? 0) + 1;
        if (result === 'uploaded') {
          sent += blob.size;
          task.advance(blob.size);
        } else {
          task.cached(blob.size);
        }
        this.mounts.set(blob.digest, holders.add(repo.repository));
      }),
    ).catch((err) => {
      task.fail(err instanceof Error ? err.message : String(err));
      throw err;
    });
    const summary = Object.keys(how)
      .sort()
      .map((k) => `${how[k]} ${k === 'exists' ? 'already there' : k}`)
      .join(', ');
    task.finish(`blobs: ${summary || 'none'}`);
    return sent;
  }
}

/** One OCI artifact as it is pushed: its blobs, its child manifests (an index's), its top manifest. */
export interface OciArtifactPush {
  /** Names the artifact in progress and errors. */
  label: string;
  /** Config and layer blobs, each once. */
  blobs: OciDescriptor[];
  /** Child manifests of an index, with their exact bytes (empty for a single manifest). */
  children: Array<{ desc: OciDescriptor; bytes: Buffer }>;
  top: OciDescriptor;
  /** The top manifest's exact bytes (never re-serialised). */
  topBytes: Buffer;
  /** The tag to point at the top manifest, if any. */
  tag?: string;
}

/**
 * Push an artifact into `repo` in the order registries require: blobs, then child manifests,
 * then the top manifest by digest, then the tag. Call it inside `session.withRepository`.
 * Returns the blob bytes sent.
 */
export async function pushArtifactParts(session: RegistryPushSession, repo: RepoRef, a: OciArtifactPush): Promise<number> {
  const bytesSent = await session.pushBlobs(repo, a.blobs, a.label);
  for (const child of a.children) await session.client.putManifest(repo, child.desc.digest, child.bytes, child.desc.mediaType);
  const mediaType = a.top.mediaType || MT.ociManifest;
  await session.client.putManifest(repo, a.top.digest, a.topBytes, mediaType);
  if (a.tag) await session.client.putManifest(repo, a.tag, a.topBytes, mediaType);
  return bytesSent;
}

/**
 * Push one artifact (image, chart) with its repository to itself: skipped when the tag (or, for
 * an untagged artifact, the digest) already names the top manifest, so a rerun sends nothing.
 */
export async function pushOciArtifact(session: RegistryPushSession, repo: RepoRef, a: OciArtifactPush): Promise<{ bytesSent: number; skipped: boolean }> {
  return session.withRepository(repo, async () => {
    const existing = await session.client.headManifest(repo, a.tag ?? a.top.digest);
    if (existing?.digest === a.top.digest) return { bytesSent: 0, skipped: true };
    return { bytesSent: await pushArtifactParts(session, repo, a), skipped: false };
  });
}
