import { MT, type OciDescriptor } from '../../oci/media-types.js';
import type { BlobStore } from '../../store/blob-store.js';

/** The OCI empty descriptor: config of artifacts that need none. */
export const EMPTY_CONFIG: OciDescriptor = {
  mediaType: 'application/vnd.oci.empty.v1+json',
  digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
  size: 2,
};

/** Layer annotation: what a blob is to its artifact (file, checksums, signature, package, index …). */
export const ROLE = 'io.ferry.role';

/**
 * Store an OCI artifact manifest (OCI 1.1: `artifactType`, layers = the files) and return the
 * descriptor for the bundle's index.json. Key order is fixed, so the digest is stable.
 */
export async function putArtifact(
  store: BlobStore,
  opts: { artifactType: string; config?: { mediaType: string; bytes: Uint8Array }; layers: OciDescriptor[]; annotations: Record<string, string>; topAnnotations: Record<string, string> },
): Promise<OciDescriptor> {
  let config = EMPTY_CONFIG;
  if (opts.config) {
    const d = await store.putBytes(opts.config.bytes);
    config = { mediaType: opts.config.mediaType, digest: d.digest, size: d.size };
  } else if (!(await store.has(EMPTY_CONFIG))) {
    await store.putBytes(Buffer.from('{}'), EMPTY_CONFIG.digest);
  }
  const manifest = {
    schemaVersion: 2,
    mediaType: MT.ociManifest,
    artifactType: opts.artifactType,
    config,
    layers: opts.layers,
    annotations: sortedRecord(opts.annotations),
  };
  const bytes = Buffer.from(JSON.stringify(manifest));
  const d = await store.putBytes(bytes);
  return { mediaType: MT.ociManifest, digest: d.digest, size: d.size, artifactType: opts.artifactType, annotations: sortedRecord(opts.topAnnotations) };
}

export function sortedRecord(r: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(r).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Locale-independent order (and no ICU collator start-up): what deterministic output needs. */
export function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
