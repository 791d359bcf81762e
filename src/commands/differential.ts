import { kindNameOf } from '../kinds/lock-tops.js';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { FerryError } from '../errors.js';
import { escapeLine } from '../ui/escape.js';
import type { ResolvedTarget } from '../manifest/resolved-target.js';
import { LockSchema, type Lock } from '../kinds/schema.js';
import { mapImage } from '../mapping/index.js';
import type { RegistryClient, RepoRef } from '../oci/client.js';
import type { OciDescriptor, OciIndex } from '../oci/media-types.js';
import { EXTRA_ANNOTATION } from '../oci/referrers.js';
import { hasSameContent } from '../store/verified-write.js';
import { goesToRegistry, kindByName } from '../kinds/index.js';
import type { HeldPlace, ManifestParts } from '../kinds/differential.js';
import { BundleReader } from '../store/bundle-reader.js';
import type { BundleSource } from '../store/open-bundle.js';
import { LayoutDir, MAX_MANIFEST_BYTES } from '../store/layout.js';
import { ANNOTATION } from '../store/source.js';
import {
  DIFFERENTIAL_CAP,
  DIFFERENTIAL_FILE,
  DIGEST,
  readDifferential,
  sha256Of,
  type DifferentialBase,
  type DifferentialInfo,
  type DifferentialManifest,
} from '../store/differential.js';

/**
 * The differential bundle's planning (bundle create --since) and the import check that the
 * target holds what the bundle left out: both need the kinds and the mapping, so they live
 * here; reading a differential bundle stays in src/store/differential.ts.
 */
/** A payload blob and the artifacts that carry it (up to a few, for messages). */
export interface PayloadBlob {
  size: number;
  tops: OciDescriptor[];
}

const isExtra = (top: OciDescriptor) => top.annotations?.[EXTRA_ANNOTATION.of] !== undefined;
const TOPS_PER_BLOB = 5;

/**
 * The blobs a differential bundle may leave out, per artifact: each kind's payload
 * (`KindModule.differentialPayload`: image layers, chart archives and their .prov, APT packages,
 * file artifacts' files). Reads manifests only.
 */
export async function payloadBlobs(index: OciIndex, readBlob: (digest: string, max?: number) => Promise<Buffer>): Promise<Map<string, PayloadBlob>> {
  const out = new Map<string, PayloadBlob>();
  const add = (d: OciDescriptor, top: OciDescriptor) => {
    if (typeof d?.digest !== 'string' || !DIGEST.test(d.digest) || typeof d.size !== 'number') return;
    let e = out.get(d.digest);
    if (!e) out.set(d.digest, (e = { size: d.size, tops: [] }));
    if (e.tops.length < TOPS_PER_BLOB && !e.tops.includes(top)) e.tops.push(top);
  };
  const parsed = new Map<string, ManifestParts>();
  const read = async (d: OciDescriptor): Promise<ManifestParts> => {
    if (typeof d?.digest !== 'string' || !DIGEST.test(d.digest)) return {};
    if (!parsed.has(d.digest)) parsed.set(d.digest, JSON.parse((await readBlob(d.digest, MAX_MANIFEST_BYTES)).toString('utf8')));
    return parsed.get(d.digest)!;
  };
  for (const top of index.manifests) {
    if (isExtra(top) || typeof top.digest !== 'string' || !DIGEST.test(top.digest)) continue;
    const kind = kindByName(kindNameOf(top));
    for (const blob of (await kind?.differentialPayload?.(top, read)) ?? []) add(blob, top);
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
  const { base, has, refs } = await readBase(opts.since, opts.fetchLock, opts.readStoreBlob);
  const payload = await payloadBlobs(opts.index, opts.readStoreBlob);
  const omit = new Map<string, number>();
  for (const [digest, p] of payload) if (has(digest)) omit.set(digest, p.size);
  const omitted = [...omit].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([digest, size]) => ({ digest, size }));
  const manifest: DifferentialManifest = { base, omitted, baseRefs: refs };
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
): Promise<{ base: DifferentialBase; has: (digest: string) => boolean; refs: string[] }> {
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
    return { base: { kind: 'lock', name: path.basename(abs), digest: sha256Of(bytes) }, has: (d) => payload.has(d), refs: repoRefs(tops) };
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
    return { base: { kind: 'bundle', name: path.basename(abs), digest }, has: (d) => held.has(d), refs: repoRefs((await reader.readIndex()).manifests) };
  } finally {
    await reader.close();
  }
}

/** The references of the entries among `tops` that land in a registry (images, OCI charts), sorted, each once. */
function repoRefs(tops: OciDescriptor[]): string[] {
  const refs = tops.filter((t) => !isExtra(t) && goesToRegistry(kindNameOf(t))).map((t) => t.annotations?.[ANNOTATION.refName]);
  return [...new Set(refs.filter((r): r is string => typeof r === 'string'))].sort();
}

// ---------------------------------------------------------------------------------------------
// Reading

/** ferry/differential.json of a bundle, checked; undefined for a full bundle. */
/** What reading the differential list needs of a bundle (a tar, or a bundle in a registry). */
export async function checkBaseOnTarget(bundle: string, reader: BundleSource, target: ResolvedTarget, registry: RegistryClient | undefined): Promise<Map<string, string[]>> {
  const mounts = new Map<string, string[]>();
  const diff = await readDifferential(reader);
  if (!diff || !diff.omitted.length) return mounts;
  const omitted = new Map(diff.omitted.map((o) => [o.digest, o.size]));
  const index = await reader.readIndex();
  const payload = await payloadBlobs(index, (d, max) => reader.readBlob(d, max));
  const missing: string[] = [];
  const checks: Array<() => Promise<void>> = [];
  const mirror = target.registry;
  const repoOf = (refName: string): string | undefined => {
    try {
      return mapImage(refName, mirror!.mapping).repository;
    } catch {
      return undefined;
    }
  };
  // Where else on the registry a base blob may be: the base's images' and charts' repositories
  // (older bundles do not list them: then this bundle's own), each once.
  const others = mirror ? [...new Set((diff.baseRefs ?? repoRefs(index.manifests)).map(repoOf).filter((r): r is string => r !== undefined))].sort() : [];
  const inRegistry = async (label: string, repository: string, digest: string, size: number) => {
    const host = mirror!.host;
    const own: RepoRef = { registry: host, repository };
    if ((await registry!.blobSize(own, digest)) === size) return;
    for (const other of others) {
      if (other === repository || (await registry!.blobSize({ registry: host, repository: other }, digest)) !== size) continue;
      mounts.set(digest, [...new Set([...(mounts.get(digest) ?? []), other])]);
      return;
    }
    missing.push(`${label}: blob ${digest} (${size} bytes) is not in ${host}/${repository} nor in the ${others.length} other mirror repositories of the base`);
  };
  const check = (place: HeldPlace, size: number) => async () => {
    if ('repository' in place) return inRegistry(place.label, place.repository, place.digest, size);
    if ('layout' in place) {
      const layout = new LayoutDir(place.layout);
      if ((await layout.blobSize(place.digest).catch(() => undefined)) !== size) missing.push(`${place.label}: blob ${place.digest} (${size} bytes) is not in the directory target ${layout.root}`);
      return;
    }
    if (!(await hasSameContent(place.file, place.digest, size))) missing.push(`${place.label}: ${place.file} is not there with sha256 ${place.digest.slice(7)} (${size} bytes)`);
  };
  // Per entry, the payload blobs it carries that the bundle left out; each kind says where they must be.
  const leftOut = new Map<OciDescriptor, Set<string>>();
  for (const [digest, p] of payload) {
    if (!omitted.has(digest) || (await reader.blobSize(digest)) !== undefined) continue;
    for (const top of p.tops) leftOut.set(top, (leftOut.get(top) ?? new Set()).add(digest));
  }
  for (const [top, digests] of leftOut) {
    const places = (await kindByName(kindNameOf(top))?.heldOnTarget?.(top, digests, reader, target)) ?? [];
    for (const place of places) if (!('repository' in place) || registry) checks.push(check(place, omitted.get(place.digest)!));
  }
  for (let i = 0; i < checks.length; i += 8) await Promise.all(checks.slice(i, i + 8).map((c) => c()));
  if (missing.length) {
    missing.sort();
    throw new FerryError('VERIFY', `${bundle}: differential bundle against ${diff.base.kind} ${escapeLine(diff.base.name)} (${diff.base.digest.slice(0, 19)}…): the target lacks ${missing.length} blob${missing.length > 1 ? 's' : ''} the bundle left out; nothing was imported`, {
      details: missing.length > 200 ? [...missing.slice(0, 200), `… and ${missing.length - 200} more`] : missing,
      hint: `Import the base (${escapeLine(diff.base.name)}) into this target first, or carry a full bundle (bundle create without --since).`,
    });
  }
  return mounts;
}

// ---------------------------------------------------------------------------------------------
// Serving

/**
 * `serve` of a differential bundle needs its base: refused without `--base`, or with a base
 * whose digest is not the one the bundle names. Returns a source answering from either.
 */
