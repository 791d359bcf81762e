import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { FerryError } from '../errors.js';
import { LockSchema } from '../manifest/lock.js';
import type { OciIndex } from '../oci/media-types.js';
import { parseChecksums } from './bundle-pack.js';
import { BUNDLE_FORMAT_VERSION, BundleReader } from './bundle-reader.js';
import { isOciUrl, openBundleSource, type BundleSource } from './open-bundle.js';
import { describeBlob, walkIndex, type WalkResult } from './layout.js';
import { ANNOTATION } from './source.js';
import type { TarEntry } from './tar-index.js';

export interface VerifyProblem {
  /** The artifact(s) that use the file, by reference (images) or title/source (other kinds). */
  artifact?: string;
  /** Path inside the bundle. */
  file: string;
  /** A full sentence naming artifact, blob and what is wrong. */
  message: string;
}

export interface VerifyReport {
  ok: boolean;
  bundle: string;
  /** Files re-hashed. */
  files: number;
  /** Bytes re-hashed. */
  bytes: number;
  images: number;
  /** Top-level artifacts of any kind in index.json. */
  artifacts: number;
  problems: VerifyProblem[];
}

const CHECKSUMS = 'ferry/checksums.sha256';
const BLOB_NAME = /^blobs\/sha256\/([a-f0-9]{64})$/;

/**
 * Re-hash every file of the bundle in ONE sequential pass over the tar (offsets come from a
 * header-only index, so the pass is a single streaming read), then check: each blob's name is
 * its sha256; every file matches ferry/checksums.sha256 and nothing is missing or extra;
 * index.json parses and everything it reaches (indexes → manifests → config + layers, any
 * artifact kind) is present with the right size; lock.json and bundle.json parse. Nothing in
 * the bundle is trusted; every problem is collected, none stops the others from being found.
 */
export async function verifyBundle(tarPath: string, opts: { onProgress?: (bytes: number) => void } = {}): Promise<VerifyReport> {
  const bundle = isOciUrl(tarPath) ? tarPath : path.resolve(tarPath);
  const report: VerifyReport = { ok: false, bundle, files: 0, bytes: 0, images: 0, artifacts: 0, problems: [] };
  const problems = report.problems;

  let reader: BundleSource;
  try {
    reader = await openBundleSource(bundle);
  } catch (err) {
    if (err instanceof FerryError && err.code === 'USAGE') throw err;
    problems.push({ file: '(archive)', message: (err as Error).message });
    return report;
  }

  try {
    const files = reader.index.entries.filter((e) => e.type === 'file');

    // One sequential pass: hash every file's bytes.
    const hashes = reader instanceof BundleReader ? await hashEntries(bundle, files, opts.onProgress) : await reader.hashEntries(files, opts.onProgress);
    report.files = files.length;
    report.bytes = files.reduce((s, e) => s + e.size, 0);

    // Blobs whose content does not match their name; their manifests are not parsed.
    const corrupt = new Map<string, string>();
    for (const e of files) {
      const m = BLOB_NAME.exec(e.name);
      if (m && hashes.get(e.name) !== m[1]) corrupt.set(`sha256:${m[1]}`, e.name);
    }

    let index: OciIndex | undefined;
    try {
      index = await reader.readIndex();
    } catch (err) {
      problems.push({ file: 'index.json', message: (err as Error).message });
    }
    let walk: WalkResult | undefined;
    if (index) {
      walk = await walkIndex(index, reader, { canParse: (d) => !corrupt.has(d) });
      report.artifacts = index.manifests.length;
      report.images = index.manifests.filter((d) => {
        const kind = d.annotations?.[ANNOTATION.kind];
        return kind === 'image' || (kind === undefined && d.annotations?.[ANNOTATION.refName] !== undefined);
      }).length;
    }
    const blobUse = (digest: string) => walk?.blobs.get(digest);

    // Blob names versus content.
    for (const [digest, file] of corrupt) {
      const use = blobUse(digest);
      const actual = `sha256:${hashes.get(file)}`;
      problems.push({
        artifact: use?.artifacts.join(', '),
        file,
        message: `${use ? describeBlob(use.artifacts, use.role, digest) : `unreferenced blob ${digest}`}: digest mismatch (content hashes to ${actual})`,
      });
    }
    for (const e of files) {
      if (e.name.startsWith('blobs/') && !BLOB_NAME.test(e.name)) {
        problems.push({ file: e.name, message: `${e.name}: unexpected file under blobs/ (ferry stores sha256 blobs only, named by their digest)` });
      }
    }

    // Checksums file: every other file listed, every listed file present, every hash equal.
    const checksumEntry = reader.entry(CHECKSUMS);
    if (!checksumEntry) {
      problems.push({ file: CHECKSUMS, message: `${CHECKSUMS} is missing; the bundle cannot be checked file by file` });
    } else {
      const { sums, problems: bad } = parseChecksums((await reader.readFile(CHECKSUMS)).toString('utf8'));
      for (const p of bad) problems.push({ file: CHECKSUMS, message: `${CHECKSUMS} line ${p.line}: ${p.message}` });
      for (const e of files) {
        if (e.name === CHECKSUMS) continue;
        const expected = sums.get(e.name);
        const m = BLOB_NAME.exec(e.name);
        const use = m ? blobUse(`sha256:${m[1]}`) : undefined;
        if (expected === undefined) {
          problems.push({ artifact: use?.artifacts.join(', '), file: e.name, message: `${e.name}: not listed in ${CHECKSUMS} (a file was added)` });
        } else if (expected !== hashes.get(e.name) && !(m && corrupt.has(`sha256:${m[1]}`))) {
          problems.push({
            artifact: use?.artifacts.join(', '),
            file: e.name,
            message: `${use ? describeBlob(use.artifacts, use.role, `sha256:${m![1]}`) : e.name}: checksum mismatch (${CHECKSUMS} says ${expected}, content hashes to ${hashes.get(e.name)})`,
          });
        }
      }
      for (const name of [...sums.keys()].sort()) {
        if (!reader.entry(name)) problems.push({ file: name, message: `${name}: listed in ${CHECKSUMS} but missing from the bundle` });
      }
    }

    // Reachability: every descriptor present with the right size.
    for (const p of walk?.problems ?? []) {
      const hex = /^sha256:([a-f0-9]{64})$/.exec(p.digest)?.[1];
      problems.push({
        artifact: p.artifacts.join(', '),
        file: hex ? `blobs/sha256/${hex}` : 'index.json',
        message: `${describeBlob(p.artifacts, p.role, p.digest)}: ${p.message === 'missing' ? 'missing from the bundle' : p.message}`,
      });
    }

    // Metadata.
    await checkJson(reader, 'ferry/bundle.json', problems, (v) => {
      const info = v as { formatVersion?: unknown };
      if (typeof info?.formatVersion !== 'number') return ['formatVersion: missing'];
      if (info.formatVersion > BUNDLE_FORMAT_VERSION) return [`formatVersion: ${info.formatVersion} is newer than this ferry reads (${BUNDLE_FORMAT_VERSION})`];
      return [];
    });
    await checkJson(reader, 'ferry/lock.json', problems, (v) => {
      const r = LockSchema.safeParse(v);
      return r.success ? [] : r.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`);
    });
    if (!reader.entry('ferry/manifest.yaml')) problems.push({ file: 'ferry/manifest.yaml', message: 'ferry/manifest.yaml is missing' });
    if (!reader.entry('oci-layout')) problems.push({ file: 'oci-layout', message: 'oci-layout is missing; OCI tools will not read the bundle' });
  } finally {
    await reader.close();
  }

  // Stable order: by file, then message.
  problems.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : a.message < b.message ? -1 : a.message > b.message ? 1 : 0));
  report.ok = problems.length === 0;
  return report;
}

async function checkJson(reader: BundleSource, name: string, problems: VerifyProblem[], check: (v: unknown) => string[]): Promise<void> {
  if (!reader.entry(name)) {
    problems.push({ file: name, message: `${name} is missing` });
    return;
  }
  let value: unknown;
  try {
    value = JSON.parse((await reader.readFile(name)).toString('utf8'));
  } catch (err) {
    problems.push({ file: name, message: `${name}: not valid JSON (${(err as Error).message})` });
    return;
  }
  for (const issue of check(value)) problems.push({ file: name, message: `${name}: ${issue}` });
}

/**
 * Hash every entry's data in one sequential read of the tar (headers skipped, entries in
 * offset order), through one reused buffer: memory stays flat whatever the bundle's size.
 */
async function hashEntries(tarPath: string, entries: TarEntry[], onProgress?: (bytes: number) => void): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const sorted = [...entries].sort((a, b) => a.offset - b.offset);
  const fh = await open(tarPath, 'r');
  const buf = Buffer.allocUnsafe(1 << 20);
  try {
    for (const e of sorted) {
      const hash = createHash('sha256');
      let pos = e.offset;
      const end = e.offset + e.size;
      while (pos < end) {
        const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, end - pos), pos);
        if (bytesRead === 0) throw new FerryError('VERIFY', `${tarPath}: ended before ${e.name} was complete (truncated?)`);
        hash.update(buf.subarray(0, bytesRead));
        pos += bytesRead;
        onProgress?.(bytesRead);
      }
      out.set(e.name, hash.digest('hex'));
    }
  } finally {
    await fh.close();
  }
  return out;
}
