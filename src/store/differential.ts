import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { FerryError } from '../errors.js';
import type { LoadedTarget } from '../manifest/load.js';
import { LockSchema, type Lock } from '../manifest/lock.js';
import { mapFileUrl, mapImage, registryMappingFor } from '../mapping/index.js';
import type { RegistryClient } from '../oci/client.js';
import type { OciDescriptor, OciIndex } from '../oci/media-types.js';
import { EXTRA_ANNOTATION } from '../oci/referrers.js';
import { hasSameContent } from './verified-write.js';
import { ROLE } from '../kinds/file/artifact.js';
import { BundleReader } from './bundle-reader.js';
import { openBundleSource } from './open-bundle.js';
import { artifactLabel, LayoutDir, MAX_MANIFEST_BYTES } from './layout.js';
import { safeJoin } from './safe-path.js';
import { ANNOTATION, type BlobSource } from './source.js';

/**
 * Differential bundles (`bundle create --since <old lock or bundle>`). index.json still lists
 * every artifact, and every index, manifest and config travels (they are small, and they let
 * verify, import and serve read the bundle's whole structure from the bundle alone); what is
 * left out are the PAYLOAD blobs the base already carried: image layers, and the files of file
 * artifacts. Those are the ones a target can be checked for before anything is sent: a HEAD in
 * the image's mirror repository, a stat in a directory target, the file's place in the files
 * tree (same size and sha256). Chart archives and APT packages always travel.
 *
 * `ferry/differential.json` (listed in checksums.sha256 like every other file) names the base
 * and lists every omitted blob (digest and size); `ferry/bundle.json` says `differential: true`
 * with the base and the counts (optional fields: bundle.json's formatVersion stays 1, and a
 * ferry that does not know them still reads the bundle, reporting the omitted blobs missing).
 *
 * The base is identified by a digest: for a bundle, the sha256 of its `ferry/checksums.sha256`
 * (which covers every file of it); for a lock, the sha256 of the lock file's bytes (what a
 * bundle built from it carries as `ferry/lock.json`).
 */

export const DIFFERENTIAL_FILE = 'ferry/differential.json';
/** Read cap: about 130 bytes an omitted blob, for the 40 000 entries a bundle may hold. */
export const DIFFERENTIAL_CAP = 16 * 1024 * 1024;

export interface DifferentialBase {
  kind: 'bundle' | 'lock';
  /** The base's file name as given (for messages; not used to find it). */
  name: string;
  /** bundle: sha256 of its ferry/checksums.sha256; lock: sha256 of the lock file. */
  digest: string;
}

export interface DifferentialManifest {
  base: DifferentialBase;
  /** Every omitted blob, sorted by digest. */
  omitted: Array<{ digest: string; size: number }>;
}

/** The optional fields bundle.json carries for a differential bundle. */
export interface DifferentialInfo {
  differential: true;
  base: DifferentialBase;
  omittedBlobs: number;
  omittedBytes: number;
}

const sha256Of = (b: Uint8Array) => 'sha256:' + createHash('sha256').update(b).digest('hex');
const DIGEST = /^sha256:[a-f0-9]{64}$/;

/** A payload blob and the artifacts that carry it (up to a few, for messages). */
export interface PayloadBlob {
  size: number;
  tops: OciDescriptor[];
}

const isExtra = (top: OciDescriptor) => top.annotations?.[EXTRA_ANNOTATION.of] !== undefined;
const kindOf = (top: OciDescriptor) => top.annotations?.[ANNOTATION.kind] ?? 'image';
const TOPS_PER_BLOB = 5;

/**
 * The blobs a differential bundle may leave out, per artifact: image layers (through indexes
 * to every platform's manifest) and file artifacts' files. Reads manifests only.
 */
export async function payloadBlobs(index: OciIndex, readBlob: (digest: string, max?: number) => Promise<Buffer>): Promise<Map<string, PayloadBlob>> {
  const out = new Map<string, PayloadBlob>();
  const add = (d: OciDescriptor, top: OciDescriptor) => {
    if (typeof d?.digest !== 'string' || !DIGEST.test(d.digest) || typeof d.size !== 'number') return;
    let e = out.get(d.digest);
    if (!e) out.set(d.digest, (e = { size: d.size, tops: [] }));
    if (e.tops.length < TOPS_PER_BLOB && !e.tops.includes(top)) e.tops.push(top);
  };
  const parsed = new Map<string, { manifests?: OciDescriptor[]; layers?: OciDescriptor[] }>();
  const read = async (d: OciDescriptor) => {
    if (!parsed.has(d.digest)) parsed.set(d.digest, JSON.parse((await readBlob(d.digest, MAX_MANIFEST_BYTES)).toString('utf8')));
    return parsed.get(d.digest)!;
  };
  for (const top of index.manifests) {
    if (isExtra(top) || typeof top.digest !== 'string' || !DIGEST.test(top.digest)) continue;
    const kind = kindOf(top);
    if (kind === 'image') {
      const stack = [top];
      const seen = new Set<string>();
      while (stack.length) {
        const d = stack.pop()!;
        if (seen.has(d.digest)) continue;
        seen.add(d.digest);
        const json = await read(d);
        for (const child of Array.isArray(json.manifests) ? json.manifests : []) if (typeof child?.digest === 'string' && DIGEST.test(child.digest)) stack.push(child);
        for (const layer of Array.isArray(json.layers) ? json.layers : []) add(layer, top);
      }
    } else if (kind === 'file') {
      const json = await read(top);
      for (const layer of Array.isArray(json.layers) ? json.layers : []) if (layer?.annotations?.[ROLE] === 'file') add(layer, top);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Creating

export interface DifferentialPlan {
  /** digest → size of every blob to leave out. */
  omit: Map<string, number>;
  info: DifferentialInfo;
  /** ferry/differential.json, to pack with the other ferry/ files. */
  file: [name: string, bytes: Buffer];
}

/**
 * What `--since` leaves out of the bundle being packed. `fetchLock` brings a base lock's
 * artifacts into the store (from the cache when they are there, as a frozen build does) and
 * returns their top descriptors, so the base's blobs are known exactly as that lock's bundle
 * carried them.
 */
export async function planDifferential(opts: {
  since: string;
  index: OciIndex;
  readStoreBlob: (digest: string, max?: number) => Promise<Buffer>;
  fetchLock: (lock: Lock) => Promise<OciDescriptor[]>;
}): Promise<DifferentialPlan> {
  const { base, has } = await readBase(opts.since, opts.fetchLock, opts.readStoreBlob);
  const payload = await payloadBlobs(opts.index, opts.readStoreBlob);
  const omit = new Map<string, number>();
  for (const [digest, p] of payload) if (has(digest)) omit.set(digest, p.size);
  const omitted = [...omit].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([digest, size]) => ({ digest, size }));
  const manifest: DifferentialManifest = { base, omitted };
  return {
    omit,
    info: { differential: true, base, omittedBlobs: omitted.length, omittedBytes: omitted.reduce((n, o) => n + o.size, 0) },
    file: [DIFFERENTIAL_FILE, Buffer.from(JSON.stringify(manifest, null, 2) + '\n')],
  };
}

async function readBase(
  since: string,
  fetchLock: (lock: Lock) => Promise<OciDescriptor[]>,
  readStoreBlob: (digest: string, max?: number) => Promise<Buffer>,
): Promise<{ base: DifferentialBase; has: (digest: string) => boolean }> {
  const abs = path.resolve(since);
  if (/\.json$/.test(abs)) {
    const bytes = await readFile(abs).catch((err: NodeJS.ErrnoException) => {
      throw new FerryError('USAGE', `--since ${since}: cannot read the base lock (${err.code ?? err.message})`);
    });
    let lock: Lock;
    try {
      lock = LockSchema.parse(JSON.parse(bytes.toString('utf8')));
    } catch (err) {
      throw new FerryError('VALIDATION', `--since ${since}: not a ferry lock file (${(err as Error).message.split('\n')[0]})`, { cause: err });
    }
    const tops = await fetchLock(lock);
    const payload = await payloadBlobs({ schemaVersion: 2, manifests: tops }, readStoreBlob);
    return { base: { kind: 'lock', name: path.basename(abs), digest: sha256Of(bytes) }, has: (d) => payload.has(d) };
  }
  // A bundle (one tar or a split bundle's first part): what it holds, and what it expected from its own base.
  const reader = await BundleReader.open(abs);
  try {
    await reader.info();
    const digest = sha256Of(await reader.readFile('ferry/checksums.sha256'));
    const held = new Set<string>();
    for (const e of reader.index.entries) {
      const m = /^blobs\/sha256\/([a-f0-9]{64})$/.exec(e.name);
      if (m && e.type === 'file') held.add(`sha256:${m[1]}`);
    }
    for (const o of (await readDifferential(reader))?.omitted ?? []) held.add(o.digest);
    return { base: { kind: 'bundle', name: path.basename(abs), digest }, has: (d) => held.has(d) };
  } finally {
    await reader.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Reading

/** ferry/differential.json of a bundle, checked; undefined for a full bundle. */
/** What reading the differential list needs of a bundle (a tar, or a bundle in a registry). */
export interface DifferentialSource {
  readonly path: string;
  entry(name: string): unknown;
  readFile(name: string, maxBytes?: number): Promise<Buffer>;
}

export async function readDifferential(reader: DifferentialSource): Promise<DifferentialManifest | undefined> {
  if (!reader.entry(DIFFERENTIAL_FILE)) return undefined;
  const raw = await reader.readFile(DIFFERENTIAL_FILE, DIFFERENTIAL_CAP);
  const bad = (why: string) => new FerryError('VERIFY', `${reader.path}: ${DIFFERENTIAL_FILE}: ${why}`, { hint: 'The bundle was crafted or damaged; re-create it on the connected side.' });
  let v: DifferentialManifest;
  try {
    v = JSON.parse(raw.toString('utf8')) as DifferentialManifest;
  } catch {
    throw bad('not valid JSON');
  }
  const b = v?.base;
  if (!b || (b.kind !== 'bundle' && b.kind !== 'lock') || typeof b.name !== 'string' || typeof b.digest !== 'string' || !DIGEST.test(b.digest)) throw bad('base must be { kind: bundle|lock, name, digest: sha256:… }');
  if (!Array.isArray(v.omitted)) throw bad('omitted is not a list');
  for (const o of v.omitted) {
    if (typeof o?.digest !== 'string' || !DIGEST.test(o.digest) || !Number.isSafeInteger(o.size) || o.size < 0) throw bad(`omitted entry ${JSON.stringify(o).slice(0, 100)} is not { digest: sha256:…, size }`);
  }
  return { base: { kind: b.kind, name: b.name, digest: b.digest }, omitted: v.omitted.map((o) => ({ digest: o.digest, size: o.size })) };
}

/** For verify: the omitted blobs (expected from the base, not missing), or undefined for a full bundle. */
export async function expectedFromBase(reader: DifferentialSource): Promise<{ base: DifferentialBase; blobs: Map<string, number>; bytes: number } | undefined> {
  const d = await readDifferential(reader);
  if (!d) return undefined;
  const blobs = new Map(d.omitted.map((o) => [o.digest, o.size]));
  return { base: d.base, blobs, bytes: d.omitted.reduce((n, o) => n + o.size, 0) };
}

// ---------------------------------------------------------------------------------------------
// Importing

/**
 * Before anything is sent: the target already holds every blob the bundle left out, where each
 * artifact needs it (HEAD in the image's mirror repository; stat in a directory target; the
 * file's place in the files tree, same content). Refuses listing every missing one by artifact.
 */
export async function checkBaseOnTarget(bundle: string, loaded: LoadedTarget, registry: RegistryClient | undefined): Promise<void> {
  // A tar, a split tar, or a bundle in a registry (oci://).
  const reader = await openBundleSource(bundle);
  try {
    const diff = await readDifferential(reader);
    if (!diff || !diff.omitted.length) return;
    const omitted = new Map(diff.omitted.map((o) => [o.digest, o.size]));
    const payload = await payloadBlobs(await reader.readIndex(), (d, max) => reader.readBlob(d, max));
    const t = loaded.target;
    const missing: string[] = [];
    const checks: Array<() => Promise<void>> = [];
    for (const [digest, p] of payload) {
      const size = omitted.get(digest);
      if (size === undefined || (await reader.blobSize(digest)) !== undefined) continue;
      for (const top of p.tops) {
        const label = artifactLabel(top);
        const kind = kindOf(top);
        if (kind === 'image' && t.registry && registry) {
          const refName = top.annotations?.[ANNOTATION.refName] ?? '';
          const mapped = mapImage(refName, registryMappingFor(t));
          const repo = { registry: new URL(t.registry.url).host, repository: mapped.repository };
          checks.push(async () => {
            if ((await registry.blobSize(repo, digest)) !== size) missing.push(`${label}: blob ${digest} (${size} bytes) is not in ${repo.registry}/${repo.repository}`);
          });
        }
        if (kind === 'image' && t.directory) {
          const layout = new LayoutDir(path.resolve(loaded.dir, t.directory));
          checks.push(async () => {
            if ((await layout.blobSize(digest).catch(() => undefined)) !== size) missing.push(`${label}: blob ${digest} (${size} bytes) is not in the directory target ${layout.root}`);
          });
        }
        if (kind === 'file' && t.files) {
          const dir = path.resolve(loaded.dir, t.files.dir);
          const manifest = JSON.parse((await reader.readBlob(top.digest)).toString('utf8')) as { layers?: OciDescriptor[] };
          for (const layer of manifest.layers ?? []) {
            const url = layer.annotations?.[ANNOTATION.source];
            if (layer.digest !== digest || typeof url !== 'string') continue;
            const dest = safeJoin(dir, mapFileUrl(url, t.files).path, url);
            checks.push(async () => {
              if (!(await hasSameContent(dest, digest, size))) missing.push(`${url}: ${dest} is not there with sha256 ${digest.slice(7)} (${size} bytes)`);
            });
          }
        }
      }
    }
    for (let i = 0; i < checks.length; i += 8) await Promise.all(checks.slice(i, i + 8).map((c) => c()));
    if (missing.length) {
      missing.sort();
      throw new FerryError('VERIFY', `${bundle}: differential bundle against ${diff.base.kind} ${diff.base.name} (${diff.base.digest.slice(0, 19)}…): the target lacks ${missing.length} blob${missing.length > 1 ? 's' : ''} the bundle left out; nothing was imported`, {
        details: missing.length > 200 ? [...missing.slice(0, 200), `… and ${missing.length - 200} more`] : missing,
        hint: `Import the base (${diff.base.name}) into this target first, or carry a full bundle (bundle create without --since).`,
      });
    }
  } finally {
    await reader.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Serving

/**
 * `serve` of a differential bundle needs its base: refused without `--base`, or with a base
 * whose digest is not the one the bundle names. Returns a source answering from either.
 */
export async function differentialServeSource(reader: BundleReader, basePath: string | undefined): Promise<{ source: BlobSource; close(): Promise<void> }> {
  const diff = await readDifferential(reader);
  if (!diff) {
    if (basePath) throw new FerryError('USAGE', `--base ${basePath}: ${reader.path} is a full bundle; it needs no base`);
    return { source: reader, close: async () => {} };
  }
  const what = `${reader.path} is a differential bundle: ${diff.omitted.length} blobs (${diff.omitted.reduce((n, o) => n + o.size, 0)} bytes) are in its base, ${diff.base.kind} ${diff.base.name} (${diff.base.digest})`;
  if (!basePath) throw new FerryError('USAGE', `${what}; serving it alone would answer 404 for them`, { hint: 'Pass the base bundle too: ferry serve <bundle> --base <base.ferry.tar>.' });
  const base = await BundleReader.open(basePath);
  try {
    await base.info();
    const digest = sha256Of(await base.readFile(diff.base.kind === 'bundle' ? 'ferry/checksums.sha256' : 'ferry/lock.json'));
    if (digest !== diff.base.digest) {
      throw new FerryError('USAGE', `--base ${basePath}: not the base this bundle was made against (${diff.base.kind === 'bundle' ? 'its checksums' : 'its lock'} hash to ${digest}; ${what})`);
    }
  } catch (err) {
    await base.close();
    throw err;
  }
  const pick = (digest: string) => (reader.blobEntry(digest) ? reader : base);
  const source: BlobSource = {
    blobSize: async (d) => (await reader.blobSize(d)) ?? (await base.blobSize(d)),
    openBlob: (d: string, start?: number, end?: number): Promise<Readable> => pick(d).openBlob(d, start, end),
    readBlob: (d: string, max?: number) => pick(d).readBlob(d, max),
    readIndex: () => reader.readIndex(),
  };
  return { source, close: () => base.close() };
}

/** For the CLI: one line on what a differential bundle saved. */
export function describeSaving(info: DifferentialInfo | undefined, size: number): string[] {
  if (!info) return [];
  const pct = size + info.omittedBytes > 0 ? Math.round((100 * info.omittedBytes) / (size + info.omittedBytes)) : 0;
  return [`  differential against ${info.base.kind} ${info.base.name} (${info.base.digest.slice(0, 19)}…): ${info.omittedBlobs} blobs, ${info.omittedBytes} bytes left out (${pct}% saved; the target must already hold them)`];
}

/** For `bundle verify`'s text: what a differential bundle expects from its base (empty for a full one). */
export function describeExpected(e: { base: DifferentialBase; blobs: number; bytes: number; digests: string[] } | undefined): string {
  if (!e) return '';
  const shown = e.digests.slice(0, 20).map((d) => `\n  expected from the base: ${d}`);
  const more = e.digests.length > shown.length ? [`\n  … and ${e.digests.length - shown.length} more (--json lists them all)`] : [];
  return `\ndifferential against ${e.base.kind} ${e.base.name} (${e.base.digest}): ${e.blobs} blobs, ${e.bytes} bytes expected on the target, not in this bundle` + shown.join('') + more.join('');
}
