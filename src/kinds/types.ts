import type { BlobStore } from '../store/blob-store.js';
import type { BlobSource } from '../store/source.js';
import type { OciDescriptor } from '../oci/media-types.js';
import type { Progress } from '../ui/progress.js';
import type { ResolvedTarget } from '../manifest/resolved-target.js';
import type { HttpClient } from '../net/http.js';
import type { RegistryClient } from '../oci/client.js';
import type { ImportProblem } from './import-checks.js';

/**
 * Every artifact kind (image, chart, file, apt) is one folder with this surface, registered
 * in src/kinds/index.ts. Endpoints resolve and fetch nothing; they feed the inventory.
 */
export interface KindContext {
  /** Directory relative paths in the manifest resolve against. */
  manifestDir: string;
  store: BlobStore;
  progress: Progress;
  /** Bounded concurrency for downloads and pushes. */
  concurrency: number;
  /** HTTP with the user's proxy and CA settings. */
  http: HttpClient;
  /** OCI distribution client for upstream registries (credentials from the docker config). */
  registry: RegistryClient;
  /** `--no-extras`: images resolve without signatures, attestations, SBOMs and referrers. */
  noExtras?: boolean;
}

export interface ImportContext {
  source: BlobSource;
  target: ResolvedTarget;
  progress: Progress;
  concurrency: number;
  /** Client for the target registry (the target's CA and insecure settings), when the target has one. */
  registry?: RegistryClient;
  /** digest → mirror repositories that already hold it in this run, for cross-repository mounts. */
  mounts: Map<string, string[]>;
}

export interface ImportResult {
  /** Artifact named as a user would (reference, URL, repository). */
  artifact: string;
  /** Where it went (mirror reference, path, URL). */
  location: string;
  /** Bytes actually transferred (0 when the target had everything). */
  bytesSent: number;
  skipped: boolean;
}

/** An upstream location a lock entry stands for, for mapping, rewrite and audit. */
export interface UpstreamRef {
  kind: 'image' | 'chart' | 'file' | 'apt';
  /** Normalized reference or URL. */
  upstream: string;
  /** Images: the digest stored when a platform filter changed the index. */
  storedDigest?: string;
}

/** What fetching one lock entry will show and move: known before the fetch phase starts. */
export interface FetchPlan {
  /** The artifact as its user names it: image reference, `chart podinfo 6.5.0`, file URL, `apt[name] suite`. */
  artifact: string;
  /** Bytes of its content (0 = unknown). */
  bytes: number;
}

export interface Kind<Spec, LockEntry> {
  name: UpstreamRef['kind'];
  resolve(specs: Spec[], ctx: KindContext): Promise<LockEntry[]>;
  /** Bring the bytes into the store; return the top-level descriptors for the bundle's index.json. */
  fetch(entry: LockEntry, ctx: KindContext): Promise<OciDescriptor[]>;
  /** Name and size of one entry's fetch, for progress totals known before the first byte. */
  fetchPlan(entry: LockEntry): FetchPlan;
  /** Push or write one top-level bundle entry to the target, idempotently. */
  importTo(top: OciDescriptor, ctx: ImportContext): Promise<ImportResult[]>;
  /**
   * Check one top-level bundle entry before anything is written: read its small metadata
   * (capped, digest-checked) and validate every name, path, facet and key `importTo` will use.
   * Returns every problem found, each naming the artifact; never writes.
   */
  validateImport?(top: OciDescriptor, source: BlobSource, target: ResolvedTarget): Promise<ImportProblem[]>;
  references(entry: LockEntry): UpstreamRef[];
}
