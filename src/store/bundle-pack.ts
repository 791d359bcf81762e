import { createHash } from 'node:crypto';
import { mkdir, open, stat } from 'node:fs/promises';
import path from 'node:path';
import { FerryError } from '../errors.js';
import { MT, type OciIndex } from '../oci/media-types.js';
import { sha256Hex, type BlobStore } from './blob-store.js';
import { BUNDLE_FORMAT_VERSION, type BundleInfo } from './bundle-reader.js';
import { describeBlob, walkIndex, type ReachableBlob } from './layout.js';
import { SIGNATURE_FILE } from './bundle-sign.js';
import { TAR_END, tarHeader, tarPadding } from './tar-index.js';
import { VERSION } from '../version.js';
import { openBundleOutput } from './split-file.js';
import type { DifferentialInfo } from './differential.js';

/**
 * Bundle layout (one plain tar, root = an OCI image layout), in this order:
 *
 *   oci-layout
 *   ferry/ bundle.json, checksums.sha256, lock.json, manifest.yaml
 *   blobs/sha256/<hex>        every reachable blob once, sorted by digest
 *   index.json                last
 *
 * Metadata first, so a reader streaming the tar (verify) knows what to expect before the
 * gigabytes arrive; index.json last, so a tar cut short in transit has no index and can never
 * be mistaken for a complete layout by an OCI tool. The checksums can be written up front
 * because a blob's checksum is its name: each blob is re-hashed while it is copied in, and a
 * store blob that does not match its name aborts the pack.
 */

export interface PackInput {
  store: BlobStore;
  index: OciIndex;
  metadata: {
    manifestYaml: Buffer | string;
    lock: string;
    manifestName: string;
    /** Defaults to the running ferry's version. */
    ferryVersion?: string;
    /** Only when asked: a timestamp makes otherwise equal bundles differ. */
    createdAt?: string;
    /** More files under ferry/ (e.g. the SBOM), listed in the checksums like the rest. */
    extraFiles?: Array<[name: string, bytes: Buffer]>;
    /** bundle.json's fields for a differential bundle (differential.ts). */
    differential?: DifferentialInfo;
    /** Signs the checksum list's bytes; the result is written as ferry/checksums.sha256.sig. */
    sign?: (checksums: Buffer) => Buffer;
  };
  output: string;
  onProgress?: (bytes: number) => void;
  /**
   * Skip re-hashing blobs on the way in (sizes are still checked). Only for a store whose
   * blobs were verified moments ago by this same run; roughly halves pack CPU. The far side's
   * `bundle verify` re-hashes everything either way.
   */
  trustStore?: boolean | ((digest: string) => boolean);
  /** Blobs left out (a differential bundle): digest → size. Not written, not in the checksums. */
  omit?: Map<string, number>;
  /** Write the tar as parts of at most this many bytes (`<output>.001` …) plus `<output>.parts`. */
  splitSize?: number;
}

export interface PackResult {
  path: string;
  size: number;
  blobs: number;
  blobBytes: number;
  /** The parts, in order, when split (the tar itself is not written then). */
  parts?: Array<{ file: string; size: number; sha256: string }>;
}

export const FERRY_VERSION = VERSION;

/** GNU `sha256sum` text for name → hex, sorted by name (byte order). */
export function formatChecksums(sums: Map<string, string> | Record<string, string>): string {
  const entries = sums instanceof Map ? [...sums.entries()] : Object.entries(sums);
  entries.sort(([a], [b]) => (Buffer.compare(Buffer.from(a), Buffer.from(b))));
  return entries.map(([name, hex]) => `${hex}  ${name}\n`).join('');
}

export interface ChecksumProblem {
  line: number;
  message: string;
}

/** Parse GNU `sha256sum` output (text or binary mode markers); every bad line is reported. */
export function parseChecksums(text: string): { sums: Map<string, string>; problems: ChecksumProblem[] } {
  const sums = new Map<string, string>();
  const problems: ChecksumProblem[] = [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  lines.forEach((line, i) => {
    const m = /^\\?([a-fA-F0-9]{64}) [ *](.+)$/.exec(line);
    if (!m) {
      problems.push({ line: i + 1, message: `not a sha256sum line: ${JSON.stringify(line.slice(0, 80))}` });
      return;
    }
    let name = m[2];
    if (line.startsWith('\\')) name = name.replace(/\\(\\|n)/g, (_s, c: string) => (c === 'n' ? '\n' : '\\'));
    if (name.startsWith('./')) name = name.slice(2);
    if (sums.has(name)) problems.push({ line: i + 1, message: `${name} listed twice` });
    sums.set(name, m[1].toLowerCase());
  });
  return { sums, problems };
}

const hexOf = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** Adapts the fetch store to the walker. */
function storeSource(store: BlobStore) {
  return {
    async blobSize(digest: string) {
      try {
        const s = await stat(store.blobPath(digest));
        return s.isFile() ? s.size : undefined;
      } catch {
        return undefined;
      }
    },
    readBlob: (digest: string) => store.readBytes(digest),
  };
}

/**
 * Write a bundle: every blob streamed from the store and re-hashed on the way (never held in
 * memory), written to `<output>.partial` and renamed when complete. Equal inputs give
 * byte-identical tars (sorted entries, mtime 0, uid/gid 0, fixed modes).
 */
export async function packBundle(input: PackInput): Promise<PackResult> {
  const { store, metadata } = input;
  const index: OciIndex = {
    schemaVersion: 2,
    mediaType: input.index.mediaType ?? MT.ociIndex,
    manifests: input.index.manifests,
    ...(input.index.annotations ? { annotations: input.index.annotations } : {}),
  };

  const walk = await walkIndex(index, storeSource(store));
  if (walk.problems.length) {
    const details = walk.problems.map((p) => `${describeBlob(p.artifacts, p.role, p.digest)}: ${p.message === 'missing' ? 'not in the store' : p.message}`);
    throw new FerryError('VERIFY', `cannot pack ${input.output}: ${walk.problems.length} blob${walk.problems.length > 1 ? 's' : ''} missing or damaged in the store ${store.root}`, {
      details,
      hint: 'Run `ferry bundle create` again to fetch what is missing.',
    });
  }
  const blobs: ReachableBlob[] = [...walk.blobs.values()].filter((b) => !input.omit?.has(b.digest)).sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));

  const info: BundleInfo = {
    formatVersion: BUNDLE_FORMAT_VERSION,
    ferryVersion: metadata.ferryVersion ?? FERRY_VERSION,
    manifestName: metadata.manifestName,
    ...(metadata.createdAt ? { createdAt: metadata.createdAt } : {}),
    ...(metadata.differential ?? {}),
  };
  const small = new Map<string, Buffer>([
    ['oci-layout', Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' }))],
    ['ferry/bundle.json', Buffer.from(JSON.stringify(info, null, 2) + '\n')],
    ['ferry/lock.json', Buffer.from(metadata.lock)],
    ['ferry/manifest.yaml', Buffer.isBuffer(metadata.manifestYaml) ? metadata.manifestYaml : Buffer.from(metadata.manifestYaml)],
    ['index.json', Buffer.from(JSON.stringify(index))],
    ...(metadata.extraFiles ?? []),
  ]);
  const sums = new Map<string, string>();
  for (const [name, bytes] of small) sums.set(name, hexOf(bytes));
  for (const b of blobs) sums.set(`blobs/sha256/${sha256Hex(b.digest)}`, sha256Hex(b.digest));
  small.set('ferry/checksums.sha256', Buffer.from(formatChecksums(sums)));
  if (metadata.sign) small.set(SIGNATURE_FILE, metadata.sign(small.get('ferry/checksums.sha256')!));

  const output = path.resolve(input.output);
  await mkdir(path.dirname(output), { recursive: true });
  const entrySize = (name: string, size: number) => tarHeader(name, size, 'file').length + size + tarPadding(size).length;
  const plannedSize =
    [...small].reduce((n, [name, bytes]) => n + entrySize(name, bytes.length), 0) +
    blobs.reduce((n, b) => n + entrySize(`blobs/sha256/${sha256Hex(b.digest)}`, b.size), 0) +
    tarHeader('ferry', 0, 'directory').length * 3 +
    TAR_END.length;

  // Straight positional writes through two reused buffers: the next chunk is read and hashed
  // while the previous one is written, and memory stays flat whatever the blob sizes. The
  // output is one file, or parts (split-file.ts) cut as the bytes pass.
  const out = await openBundleOutput(output, input.splitSize, plannedSize);
  let outPos = 0;
  const writeAll = async (bytes: Buffer) => {
    let off = 0;
    while (off < bytes.length) {
      const { bytesWritten } = await out.write(bytes, off, bytes.length - off, outPos);
      off += bytesWritten;
      outPos += bytesWritten;
    }
  };
  const writeFileEntry = async (name: string) => {
    const bytes = small.get(name)!;
    await writeAll(Buffer.concat([tarHeader(name, bytes.length, 'file'), bytes, tarPadding(bytes.length)]));
  };
  const buffers = [Buffer.allocUnsafe(1 << 20), Buffer.allocUnsafe(1 << 20)];
  const copyBlob = async (b: ReachableBlob) => {
    await writeAll(tarHeader(`blobs/sha256/${sha256Hex(b.digest)}`, b.size, 'file'));
    const trusted = typeof input.trustStore === 'function' ? input.trustStore(b.digest) : input.trustStore;
    const hash = trusted ? undefined : createHash('sha256');
    const src = await open(store.blobPath(b.digest), 'r');
    let n = 0;
    let pending: Promise<void> = Promise.resolve();
    try {
      for (let i = 0; n < b.size; i ^= 1) {
        const buf = buffers[i];
        const { bytesRead } = await src.read(buf, 0, Math.min(buf.length, b.size - n), n);
        if (bytesRead === 0) break;
        const chunk = buf.subarray(0, bytesRead);
        hash?.update(chunk);
        n += bytesRead;
        await pending;
        pending = writeAll(chunk);
        input.onProgress?.(bytesRead);
      }
      await pending;
    } finally {
      await src.close();
    }
    const actual = hash ? 'sha256:' + hash.digest('hex') : b.digest;
    if (n !== b.size || actual !== b.digest) {
      throw new FerryError('VERIFY', `${describeBlob(b.artifacts, b.role, b.digest)}: damaged in the store ${store.root} (${n !== b.size ? `size changed to ${n}` : `content hashes to ${actual}`})`, {
        hint: 'Delete that blob from the store and run `ferry bundle create` again to fetch it anew.',
      });
    }
    await writeAll(tarPadding(b.size));
  };

  let written: Awaited<ReturnType<typeof out.commit>>;
  try {
    await writeFileEntry('oci-layout');
    await writeAll(tarHeader('ferry', 0, 'directory'));
    for (const name of [...small.keys()].filter((n) => n.startsWith('ferry/')).sort()) await writeFileEntry(name);
    await writeAll(Buffer.concat([tarHeader('blobs', 0, 'directory'), tarHeader('blobs/sha256', 0, 'directory')]));
    for (const b of blobs) await copyBlob(b);
    await writeFileEntry('index.json');
    await writeAll(TAR_END);
    written = await out.commit();
  } catch (err) {
    await out.abort();
    throw err;
  }
  return {
    path: output,
    size: written.size,
    blobs: blobs.length,
    blobBytes: blobs.reduce((s, b) => s + b.size, 0),
    ...(written.parts ? { parts: written.parts } : {}),
  };
}
