import { createHash } from 'node:crypto';
import path from 'node:path';
import { Readable } from 'node:stream';
import { validateAptImport } from '../../src/kinds/apt/import.js';

/**
 * The problems `validateAptImport` finds in a crafted APT artifact held in memory (a config and
 * package layers with the given titles), imported into an APT directory under `work`: for tests
 * of what a bundle may not make import write.
 */
export async function aptImportProblems(work: string, config: unknown, packageTitles: readonly string[] = []): Promise<string> {
  const { top, source } = craftedAptArtifact(config, packageTitles);
  const target = { file: path.join(work, 'target.yaml'), dir: work, target: {}, apt: { dir: path.join(work, 'apt'), baseUrl: 'http://apt.site.internal' } };
  return (await validateAptImport(top, source, target as never)).map((p) => p.message).join('\n');
}

/** A crafted APT artifact held in memory (a config and package layers with the given titles): its top descriptor and a blob source reading it. */
export function craftedAptArtifact(config: unknown, packageTitles: readonly string[] = []) {
  const blobs = new Map<string, Buffer>();
  const put = (mediaType: string, bytes: Buffer) => {
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    blobs.set(digest, bytes);
    return { mediaType, digest, size: bytes.length };
  };
  const cfg = put('application/vnd.ferry.apt.config.v1+json', Buffer.from(JSON.stringify(config)));
  const layers = packageTitles.map((t, i) => ({ ...put('application/vnd.debian.binary-package', Buffer.from(`deb ${i}`)), annotations: { 'org.opencontainers.image.title': t, 'io.ferry.role': 'package' } }));
  const top = put('application/vnd.oci.image.manifest.v1+json', Buffer.from(JSON.stringify({ schemaVersion: 2, config: cfg, layers })));
  const source = {
    blobSize: async (d: string) => blobs.get(d)?.length,
    openBlob: async (d: string) => Readable.from([blobs.get(d)!]),
    readBlob: async (d: string) => blobs.get(d)!,
    readIndex: async () => ({ schemaVersion: 2 as const, manifests: [top] }),
  };
  return { top: { ...top, annotations: { 'io.ferry.kind': 'apt' } }, source };
}
