import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { FerryError } from '../errors.js';
import type { RegistryClient, RepoRef } from '../oci/client.js';
import type { NetContext } from '../oci/context.js';
import { MT, sniffMediaType } from '../oci/media-types.js';
import type { BlobDescriptor, BlobStore, OpenAt } from './blob-store.js';
import { digestOf } from './blob-store.js';
import { isOciUrl } from './registry-bundle.js';
import { parseImageReference } from '../oci/reference.js';

/**
 * A shared cache in a registry (`--cache oci://registry/ferry-cache`): one repository holding
 * upstream blobs and manifests by digest, shared by every build host. It sits between the local
 * BlobStore and upstream: a blob the cache has is read from it (never fetched upstream again), a
 * blob fetched upstream is pushed to it once it has been verified locally. Manifests asked for by
 * digest take the same path through `wrapClient`. Anything the cache sends is hashed against its
 * digest exactly as upstream bytes are; a cache that is down or lies makes the build fail, it
 * never makes it wrong.
 */

/** The hook BlobStore.ingest calls (blob-store.ts). */
export interface StoreCacheLayer {
  /** Before fetching upstream: 'skip' (another shard's blob), an OpenAt reading the cache, or undefined (go upstream). */
  source(desc: BlobDescriptor): Promise<OpenAt | 'skip' | undefined>;
  /** After a blob was verified into the local store; `fromCache` when `source` served it. */
  stored(desc: BlobDescriptor, file: string, fromCache: boolean): Promise<void>;
}

export interface CacheStats {
  cache: string;
  /** Blobs and manifests read from the cache registry. */
  hits: number;
  hitBytes: number;
  /** Fetched upstream (and pushed to the cache). */
  misses: number;
  missBytes: number;
  /** Another shard's blobs, left alone. */
  skipped: number;
  /** Tags of the manifests that keep this run's blobs through registry garbage collection. */
  kept?: string[];
}

export function parseCacheUrl(url: string): RepoRef {
  if (!isOciUrl(url)) throw new FerryError('USAGE', `--cache ${url}: must be oci://registry[:port]/repository`, { hint: 'e.g. --cache oci://registry.example.com/ferry-cache' });
  const ref = parseImageReference(url.slice('oci://'.length));
  if (ref.tag || ref.digest) throw new FerryError('USAGE', `--cache ${url}: names a repository, without a tag or digest`);
  return { registry: ref.registry, repository: ref.repository };
}

const DIGEST = /^sha256:[a-f0-9]{64}$/;
const CACHE_ARTIFACT_TYPE = 'application/vnd.ferry.cache.v1';
const CACHE_BLOB_TYPE = 'application/vnd.ferry.cache.blob.v1';
const EMPTY_JSON = 'application/vnd.oci.empty.v1+json';
/** Descriptors per keep manifest: about 1.5 MB of JSON, well under the 4 MiB registries accept. */
const KEEP_PER_MANIFEST = 10_000;

/** The tag that keeps a lock's blobs in the cache: one per lock (and per shard). */
export function keepTag(lockDigest: string, shard?: { index: number; count: number }): string {
  return `keep-${lockDigest.replace(/^sha256:/, '').slice(0, 32)}${shard ? `-shard-${shard.index}-of-${shard.count}` : ''}`;
}
const MAX_MANIFEST = 16 * 1024 * 1024;

export class RegistryCache implements StoreCacheLayer {
  readonly stats: CacheStats;
  /** Set for a sharded build: true for the blobs this shard fetches. */
  mine?: (digest: string) => boolean;
  /** Everything this run read from or put into the cache, for the manifest that keeps it (`keep`). */
  private readonly used = new Map<string, number>();

  constructor(
    readonly client: RegistryClient,
    readonly repo: RepoRef,
    url: string,
  ) {
    this.stats = { cache: url, hits: 0, hitBytes: 0, misses: 0, missBytes: 0, skipped: 0 };
  }

  async source(desc: BlobDescriptor): Promise<OpenAt | 'skip' | undefined> {
    if (this.mine && !this.mine(desc.digest)) {
      this.stats.skipped++;
      return 'skip';
    }
    if ((await this.client.blobSize(this.repo, desc.digest)) !== desc.size) return undefined;
    this.stats.hits++;
    this.stats.hitBytes += desc.size;
    this.used.set(desc.digest, desc.size);
    return (offset) => this.client.openBlob(this.repo, desc.digest, offset);
  }

  async stored(desc: BlobDescriptor, file: string, fromCache: boolean): Promise<void> {
    if (fromCache) return;
    this.stats.misses++;
    this.stats.missBytes += desc.size;
    await this.client.pushBlob(this.repo, desc, async (start) => createReadStream(file, { start }));
    this.used.set(desc.digest, desc.size);
  }

  /** Small bytes by digest (manifests, configs): from the cache, else upstream and then into the cache. */
  private async viaCache(digest: string, upstream: () => Promise<Buffer>, max: number): Promise<Buffer> {
    const size = await this.client.blobSize(this.repo, digest);
    if (size !== undefined && size <= max) {
      const bytes = await this.client.getBlobBytes(this.repo, digest, max);
      this.stats.hits++;
      this.stats.hitBytes += bytes.length;
      this.used.set(digest, bytes.length);
      return bytes;
    }
    const bytes = await upstream();
    this.stats.misses++;
    this.stats.missBytes += bytes.length;
    if (digestOf(bytes) === digest) {
      await this.client.pushBlob(this.repo, { digest, size: bytes.length }, async (start) => Readable.from([bytes.subarray(start)]));
      this.used.set(digest, bytes.length);
    }
    return bytes;
  }

  /**
   * Tag manifests that reference every blob this run used, so registry garbage collection keeps
   * them: `<name>` (`<name>-2`, … past KEEP_PER_MANIFEST blobs). A later run under the same name
   * replaces them. Returns the tags written.
   */
  async keep(name: string): Promise<string[]> {
    const blobs = [...this.used].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const config = Buffer.from('{}');
    const configDesc = { mediaType: EMPTY_JSON, digest: digestOf(config), size: config.length };
    await this.client.pushBlob(this.repo, configDesc, async (start) => Readable.from([config.subarray(start)]));
    const tags: string[] = [];
    for (let i = 0; i === 0 || i * KEEP_PER_MANIFEST < blobs.length; i++) {
      const part = blobs.slice(i * KEEP_PER_MANIFEST, (i + 1) * KEEP_PER_MANIFEST);
      const manifest = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MT.ociManifest,
          artifactType: CACHE_ARTIFACT_TYPE,
          config: configDesc,
          layers: part.map(([digest, size]) => ({ mediaType: CACHE_BLOB_TYPE, digest, size })),
        }),
      );
      const tag = i === 0 ? name : `${name}-${i + 1}`;
      await this.client.putManifest(this.repo, tag, manifest, MT.ociManifest);
      tags.push(tag);
    }
    this.stats.kept = tags;
    return tags;
  }

  /**
   * The upstream client, with reads by digest going through the cache (references by tag still
   * go upstream: a tag can move, a digest cannot).
   */
  wrapClient(upstream: RegistryClient): RegistryClient {
    const wrapped = Object.create(upstream) as RegistryClient;
    wrapped.getManifest = async (repo, reference) => {
      if (!DIGEST.test(reference)) return upstream.getManifest(repo, reference);
      let mediaType: string | undefined;
      const bytes = await this.viaCache(
        reference,
        async () => {
          const got = await upstream.getManifest(repo, reference);
          mediaType = got.mediaType;
          return got.bytes;
        },
        MAX_MANIFEST,
      );
      return { bytes, digest: reference, mediaType: mediaType ?? sniffMediaType(bytes) };
    };
    wrapped.getBlobBytes = async (repo, digest, maxBytes) =>
      DIGEST.test(digest) ? this.viaCache(digest, () => upstream.getBlobBytes(repo, digest, maxBytes), maxBytes ?? 64 * 1024 * 1024) : upstream.getBlobBytes(repo, digest, maxBytes);
    return wrapped;
  }
}

/**
 * Put a cache registry between `store` and upstream: returns the network context whose registry
 * client reads digests through the cache, and the cache (for its statistics and shard filter).
 */
export async function useRegistryCache(store: BlobStore, net: NetContext, url: string): Promise<{ net: NetContext; cache: RegistryCache }> {
  const repo = parseCacheUrl(url);
  await net.registry.ping(repo.registry);
  const cache = new RegistryCache(net.registry, repo, url);
  store.cacheLayer = cache;
  return { net: { ...net, registry: cache.wrapClient(net.registry) }, cache };
}
