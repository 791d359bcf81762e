import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { FerryError } from '../errors.js';
import { DEFAULT_CONCURRENCY, mapLimit } from '../net/concurrency.js';
import { createNetContext, type NetOptions } from '../oci/context.js';
import { MT, sniffMediaType, type OciDescriptor } from '../oci/media-types.js';
import type { RegistryClient } from '../oci/client.js';
import { repoLabel, type RepoRef } from '../oci/transport.js';
import { digestOf } from '../store/blob-store.js';
import { describeDifferential, readDifferential, type DifferentialManifest } from '../store/differential.js';
import { BundleReader } from '../store/bundle-reader.js';
import { describeBlob, roleOf, walkIndex, type BlobRole } from '../store/layout.js';
import {
  BUNDLE_ANNOTATION,
  BUNDLE_ARTIFACT_TYPE,
  BUNDLE_CONFIG_TYPE,
  BUNDLE_FILE_TYPE,
  BUNDLE_TOC_TYPE,
  MAX_SMALL_FILE,
  parseOciUrl,
  tocLayout,
  type BundleToc,
} from '../store/registry-bundle.js';
import type { Progress } from '../ui/progress.js';

export interface PushBundleOptions extends NetOptions {
  concurrency?: number;
  progress: Progress;
}

export interface PushBundleResult {
  bundle: string;
  reference: string;
  /** Digest of the tagged index (pull by digest: oci://…@<digest>). */
  digest: string;
  tarDigest: string;
  blobs: number;
  uploaded: number;
  bytes: number;
}

const BLOB_NAME = /^blobs\/sha256\/([a-f0-9]{64})$/;

/**
 * `ferry bundle push <bundle.tar> oci://registry/repository:tag`: the bundle as an OCI artifact
 * (layout in registry-bundle.ts). Blobs first, then the bundle's manifests (children before
 * their indexes), then the ferry manifest, and the tag last, so a reader never sees a tag whose
 * content is not all there. A rerun uploads only what is missing.
 */
export async function pushBundle(tarPath: string, url: string, opts: PushBundleOptions): Promise<PushBundleResult> {
  const { repo, reference } = parseOciUrl(url, { needTag: true });
  const reader = await BundleReader.open(tarPath);
  // A registry answering 5xx is retried: the progress says so, each time.
  const net = createNetContext({ ...opts, onRetry: (m) => opts.progress.log(m) });
  try {
    await reader.info();
    const index = await reader.readIndex();
    const walk = await walkIndex(index, reader);
    // A differential bundle lacks, on purpose, the blobs its base carried: they must already be in
    // the repository (its base pushed there first), so the manifests that name them can go in and
    // one tag keeps everything the bundle needs from garbage collection.
    const diff = await readDifferential(reader);
    const omitted = new Map(diff?.omitted.map((o) => [o.digest, o.size]) ?? []);
    const problems = walk.problems.filter((p) => !(p.message === 'missing' && omitted.has(p.digest)));
    if (problems.length) {
      throw new FerryError('VERIFY', `${reader.path}: the bundle is incomplete; nothing was pushed`, {
        details: problems.map((p) => `${describeBlob(p.artifacts, p.role, p.digest)}: ${p.message}`),
        hint: 'Run `ferry bundle verify` on it, and copy or recreate it.',
      });
    }
    if (diff) await checkBaseInRepository(net.registry, repo, url, reader.path, diff, walk.problems, opts.concurrency);
    const toc: BundleToc = { entries: reader.index.entries.map((e) => ({ name: e.name, type: e.type, size: e.type === 'file' ? e.size : 0 })) };
    await checkRebuildable(reader, toc);

    // The whole tar's sha256, for `bundle pull` to prove it rebuilt the same bytes; read beside the
    // uploads, through the bundle opened above (a split bundle's parts as one tar): the bytes
    // hashed are the bytes pushed, never a file renamed over the bundle's name meanwhile.
    const tarHash = (async () => {
      const h = createHash('sha256');
      if (reader.index.fileSize > 0) for await (const c of reader.file.createReadStream(0, reader.index.fileSize - 1)) h.update(c as Buffer);
      return 'sha256:' + h.digest('hex');
    })();
    tarHash.catch(() => undefined);

    const client = net.registry;
    const files = reader.index.entries.filter((e) => e.type === 'file');
    const total = files.reduce((s, e) => s + e.size, 0);
    const task = opts.progress.start(`push ${url}`, total);
    let uploaded = 0;
    const layers: OciDescriptor[] = [];
    const tocBytes = Buffer.from(JSON.stringify(toc));
    const tocDesc = { mediaType: BUNDLE_TOC_TYPE, digest: digestOf(tocBytes), size: tocBytes.length };
    const fromBytes = (bytes: Buffer) => async (start: number) => Readable.from([bytes.subarray(start)]);
    await client.pushBlob(repo, tocDesc, fromBytes(tocBytes));
    layers.push(tocDesc);
    let config: OciDescriptor | undefined;
    for (const e of files) {
      if (BLOB_NAME.test(e.name)) continue;
      if (e.size > MAX_SMALL_FILE) throw new FerryError('VALIDATION', `${reader.path}: ${e.name} is ${e.size} bytes, more than a bundle's metadata file may be (${MAX_SMALL_FILE})`);
      const bytes = await reader.readFile(e.name);
      const desc = { mediaType: BUNDLE_FILE_TYPE, digest: digestOf(bytes), size: bytes.length };
      if ((await client.pushBlob(repo, desc, fromBytes(bytes))) === 'uploaded') uploaded++;
      layers.push({ ...desc, annotations: { [BUNDLE_ANNOTATION.title]: e.name } });
      if (e.name === 'ferry/bundle.json') config = { ...desc, mediaType: BUNDLE_CONFIG_TYPE };
      task.advance(e.size);
    }
    const blobFiles = files.filter((e) => BLOB_NAME.test(e.name));
    await mapLimit(blobFiles, opts.concurrency ?? DEFAULT_CONCURRENCY, async (e) => {
      const digest = `sha256:${BLOB_NAME.exec(e.name)![1]}`;
      // The registry checks each upload against its digest: a damaged blob in the tar is refused here.
      const how = await client.pushBlob(repo, { digest, size: e.size }, (start) => reader.openBlob(digest, start));
      if (how === 'uploaded') uploaded++;
      task.advance(e.size);
    });

    // Manifests, children before the indexes that list them.
    const manifests = [...walk.blobs.values()].filter((b) => b.role === 'manifest' || b.role === 'index');
    const indexes = manifests.filter((b) => b.role === 'index').reverse();
    for (const b of [...manifests.filter((m) => m.role === 'manifest'), ...indexes]) {
      const bytes = await reader.readBlob(b.digest);
      await client.putManifest(repo, b.digest, bytes, sniffMediaType(bytes, b.mediaType));
    }

    const tarDigest = await tarHash;
    const tarSize = reader.index.fileSize;
    const annotations = { [BUNDLE_ANNOTATION.tarDigest]: tarDigest, [BUNDLE_ANNOTATION.tarSize]: String(tarSize) };
    if (!config) throw new FerryError('VALIDATION', `${reader.path}: ferry/bundle.json is missing`);
    const ferryManifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.ociManifest, artifactType: BUNDLE_ARTIFACT_TYPE, config, layers, annotations }));
    const ferryDigest = await client.putManifest(repo, digestOf(ferryManifest), ferryManifest, MT.ociManifest);
    const tops = index.manifests.filter((d) => roleOf(d.mediaType) !== 'blob');
    const top = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MT.ociIndex,
        artifactType: BUNDLE_ARTIFACT_TYPE,
        manifests: [{ mediaType: MT.ociManifest, digest: ferryDigest, size: ferryManifest.length, artifactType: BUNDLE_ARTIFACT_TYPE }, ...tops],
        annotations,
      }),
    );
    const digest = await client.putManifest(repo, reference, top, MT.ociIndex);
    task.finish('pushed');
    return { bundle: reader.path, reference: url, digest, tarDigest, blobs: blobFiles.length, uploaded, bytes: total };
  } finally {
    await reader.close();
    await net.close();
  }
}

/**
 * A differential bundle goes to the repository that holds its base (`ferry bundle push
 * base.ferry.tar` to the same repository, any tag): every blob it left out must be there with its
 * size, or nothing is pushed and each missing one is named with the artifacts that use it.
 */
async function checkBaseInRepository(
  client: RegistryClient,
  repo: RepoRef,
  url: string,
  bundle: string,
  diff: DifferentialManifest,
  missing: Array<{ artifacts: string[]; role: BlobRole; digest: string }>,
  concurrency = DEFAULT_CONCURRENCY,
): Promise<void> {
  const usedBy = new Map(missing.map((p) => [p.digest, p]));
  const absent: string[] = [];
  await mapLimit(diff.omitted, concurrency, async (o) => {
    if ((await client.blobSize(repo, o.digest)) === o.size) return;
    const p = usedBy.get(o.digest);
    absent.push(`${p ? describeBlob(p.artifacts, p.role, o.digest) : o.digest} (${o.size} bytes): not in ${repoLabel(repo)}`);
  });
  if (!absent.length) return;
  absent.sort();
  throw new FerryError('VERIFY', `${describeDifferential(bundle, diff)}; ${absent.length} of them are not in ${repoLabel(repo)}, so nothing was pushed to ${url}`, {
    details: absent,
    hint: `Push its base to the same repository first (\`ferry bundle push <base bundle> oci://${repoLabel(repo)}:<tag>\`), then this bundle; or push the full bundle.`,
  });
}

/**
 * `bundle pull` writes each entry's headers as the packer does; refuse a tar whose headers differ
 * (written by another tool), since it could not be given back byte for byte.
 */
async function checkRebuildable(reader: BundleReader, toc: BundleToc): Promise<void> {
  const { index, headers } = tocLayout(toc);
  const differs = index.fileSize !== reader.index.fileSize || reader.index.entries.some((e, i) => {
    const mine = index.entries[i];
    return mine.offset !== e.offset || mine.headerOffset !== e.headerOffset;
  });
  let bad = differs ? reader.index.entries[0]?.name ?? '(archive)' : undefined;
  for (let i = 0; !bad && i < headers.length; i++) {
    // Through the bundle opened (the bytes pushed; a split bundle's parts as one tar, a header
    // may straddle two), not whatever has its name now.
    const buf = Buffer.alloc(headers[i].length);
    for (let got = 0; got < buf.length; ) {
      const { bytesRead } = await reader.file.read(buf, got, buf.length - got, index.entries[i].headerOffset + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    if (!buf.equals(headers[i])) bad = index.entries[i].name;
  }
  if (bad) {
    throw new FerryError('VALIDATION', `${reader.path}: not written by \`ferry bundle create\` (the tar header of ${bad} differs), so a pull could not give back the same bytes; nothing was pushed`, {
      hint: 'Recreate the bundle with `ferry bundle create` and push that.',
    });
  }
}
