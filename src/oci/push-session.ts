import type { Readable } from 'node:stream';
import { keyedMutex, mapLimit } from '../net/concurrency.js';
import type { Progress } from '../ui/progress.js';
import type { RegistryClient, RepoRef } from './client.js';
import type { PushResult } from './push.js';
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
  /**
   * `<registry>/<repository>@<digest>` → how this run put the blob there, and whether a later
   * pushBlobs already counted it: import pushes every blob first and the manifests after, and
   * the second pass neither HEADs those blobs again nor loses the bytes the first one sent.
   */
  private readonly done = new Map<string, { result: PushResult; counted: boolean }>();
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

  /** Blobs this run uploaded or mounted into a repository (what a failed import leaves untagged). */
  get written(): number {
    let n = 0;
    for (const d of this.done.values()) if (d.result !== 'exists') n++;
    return n;
  }

  /** Repositories of the target that already hold `digest` (found before the import): mounted from, not uploaded. */
  knownAt(digest: string, repositories: string[]): void {
    const holders = this.mounts.get(digest) ?? new Set<string>();
    for (const r of repositories) holders.add(r);
    this.mounts.set(digest, holders);
  }

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
    // Blobs this run already put into the repository: counted once (the bytes an earlier pass
    // sent belong to the artifact's result), not asked for again.
    const key = (digest: string) => `${repo.registry}/${repo.repository}@${digest}`;
    const todo: OciDescriptor[] = [];
    for (const blob of blobs) {
      const d = this.done.get(key(blob.digest));
      if (!d) todo.push(blob);
      else if (!d.counted) {
        d.counted = true;
        if (d.result === 'uploaded') sent += blob.size;
      }
    }
    if (!todo.length) return sent;
    const task = this.opts.progress.start(label, todo.reduce((n, b) => n + b.size, 0));
    const how: Record<string, number> = {};
    await mapLimit(todo, this.opts.concurrency, (blob) =>
      this.perDigest(blob.digest, async () => {
        const earlier = this.done.get(key(blob.digest));
        if (earlier) {
          // Pushed by another artifact while this one waited for the digest.
          how.exists = (how.exists ?? 0) + 1;
          task.cached(blob.size);
          return;
        }
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
        this.done.set(key(blob.digest), { result, counted: false });
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
 * then the top manifest, by its tag when it has one (one request: the registry keeps it under
 * its digest too, and the digest it answers is checked), else by digest. Call it inside
 * `session.withRepository`. Returns the blob bytes sent.
 */
export async function pushArtifactParts(session: RegistryPushSession, repo: RepoRef, a: OciArtifactPush): Promise<number> {
  const bytesSent = await session.pushBlobs(repo, a.blobs, a.label);
  for (const child of a.children) await session.client.putManifest(repo, child.desc.digest, child.bytes, child.desc.mediaType);
  const mediaType = a.top.mediaType || MT.ociManifest;
  await session.client.putManifest(repo, a.tag ?? a.top.digest, a.topBytes, mediaType);
  return bytesSent;
}

/**
 * The blobs of one artifact, ahead of its manifests (import's first pass; outside the
 * repository's lock, since the manifests are pushed later under it). Nothing when the tag (or,
 * for an untagged artifact, the digest) already names the top manifest, as pushOciArtifact
 * would skip it too. Returns the bytes sent.
 */
export async function pushOciArtifactBlobs(session: RegistryPushSession, repo: RepoRef, a: Pick<OciArtifactPush, 'label' | 'blobs' | 'top' | 'tag'>): Promise<number> {
  const existing = await session.client.headManifest(repo, a.tag ?? a.top.digest);
  if (existing?.digest === a.top.digest) return 0;
  return session.pushBlobs(repo, a.blobs, a.label);
}

/**
 * Push one artifact (image, chart) with its repository to itself: skipped when the tag (or, for
 * an untagged artifact, the digest) already names the top manifest, so a rerun sends nothing.
 */
export async function pushOciArtifact(session: RegistryPushSession, repo: RepoRef, a: OciArtifactPush): Promise<{ bytesSent: number; skipped: boolean; previous?: string }> {
  return session.withRepository(repo, async () => {
    const existing = await session.client.headManifest(repo, a.tag ?? a.top.digest);
    if (existing?.digest === a.top.digest) return { bytesSent: 0, skipped: true };
    const bytesSent = await pushArtifactParts(session, repo, a);
    // The tag named another manifest: it moves now (a vendor's re-release, or an older bundle
    // imported after a newer one) — said by the caller, never silently.
    return { bytesSent, skipped: false, ...(a.tag && existing?.digest ? { previous: existing.digest } : {}) };
  });
}
