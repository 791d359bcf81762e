import { FerryError } from '../../errors.js';
import { mapImage } from '../../mapping/index.js';
import type { RegistryClient, RepoRef } from '../../oci/client.js';
import { isIndexType, isManifestType, MEDIA_TYPE, type OciDescriptor, type OciIndex, type OciManifest } from '../../oci/media-types.js';
import { parseImageReference } from '../../oci/reference.js';
import {
  addToReferrersTag,
  COSIGN_SUFFIXES,
  cosignTag,
  EXTRA_ANNOTATION,
  fetchReferrersApi,
  listReferrers,
  referrerDescriptor,
} from '../../oci/referrers.js';
import { mapLimit } from '../../net/concurrency.js';
import { ANNOTATION, type BlobSource } from '../../store/source.js';
import { pushArtifactParts, pushSessionOf, type RegistryPushSession } from '../registry-push.js';
import type { ImageExtra } from './extras-lock.js';
import type { ImportContext, ImportResult, KindContext } from '../types.js';

/**
 * What travels with an image besides its own manifests and layers: cosign signatures,
 * attestations and SBOMs under the tag scheme (`sha256-<hex>.sig|.att|.sbom`), and OCI 1.1
 * referrers (through the referrers API, or the `sha256-<hex>` fallback tag where the registry
 * has no API). For an index, the extras of each kept platform manifest too. Each extra keeps
 * its digest; import pushes it after its subject.
 */


interface LockedImage {
  ref: string;
  digest: string;
  storedDigest?: string;
  manifests: Array<{ digest: string }>;
  extras?: ImageExtra[];
}

/** An extra's manifest is small; more than this many per subject is not a signature set. */
const MAX_EXTRAS_PER_SUBJECT = 64;
/** Extras lookups of one image in flight at once (images resolve several at a time too). */
const EXTRAS_LOOKUPS = 4;

function repoOf(ref: string): RepoRef {
  const r = parseImageReference(ref);
  return { registry: r.registry, repository: r.repository };
}


/** `value` when it is a media type, else refused naming where it was read (it came from the registry). */
function mediaTypeIn(label: string, field: string, value: unknown): string {
  if (typeof value === 'string' && MEDIA_TYPE.test(value)) return value;
  const shown = typeof value === 'string' ? JSON.stringify(value.slice(0, 80)) + (value.length > 80 ? '…' : '') : `(${Array.isArray(value) ? 'a list' : value === null ? 'null' : `a ${typeof value}`})`;
  throw new FerryError('VERIFY', `${label}: ${field} ${shown} is not a media type (type/subtype); not recording it in the lock`, {
    hint: 'The registry holds (or answered) a malformed signature, attestation or referrer. Set `extras: false` on this image (or use --no-extras) to carry the image without them, and tell the publisher.',
  });
}

/**
 * What the lock records of an extra's manifest (digest-checked by getManifest): its config and
 * layers, and, for a referrer, its artifactType as the distribution spec defines it (the
 * manifest's `artifactType`, else its config's media type) — the manifest's own word, not the
 * referrers list's copy of it.
 */
function extraOf(label: string, bytes: Buffer, referrer: boolean): Pick<ImageExtra, 'blobs' | 'artifactType'> {
  const m = JSON.parse(bytes.toString('utf8')) as OciManifest & { artifactType?: unknown };
  if (!m.config || !Array.isArray(m.layers)) throw new FerryError('VALIDATION', `${label}: manifest has no config or layers`);
  const blobs = [m.config, ...m.layers].map((d, i) => ({ mediaType: mediaTypeIn(label, i === 0 ? 'config mediaType' : `layers[${i - 1}] mediaType`, d.mediaType), digest: d.digest, size: d.size }));
  if (!referrer) return { blobs };
  const stated = m.artifactType !== undefined && m.artifactType !== '';
  return { blobs, artifactType: mediaTypeIn(label, stated ? 'artifactType' : 'config mediaType (its artifactType)', stated ? m.artifactType : m.config.mediaType) };
}

/**
 * Find the extras of a resolved image. Subjects: the top digest (unless a platform filter
 * changed the index — the mirror never holds that digest) and every kept platform manifest.
 */
export async function discoverExtras(image: LockedImage, client: RegistryClient): Promise<ImageExtra[]> {
  const repo = repoOf(image.ref);
  const subjects = [...(image.storedDigest ? [] : [image.digest]), ...image.manifests.map((m) => m.digest)];
  const found = new Map<string, ImageExtra>();
  const add = async (subject: string, via: ImageExtra['via'], reference: string, extra: Partial<ImageExtra>) => {
    const got = await client.getManifest(repo, reference);
    if (!isManifestType(got.mediaType) || isIndexType(got.mediaType)) return;
    const e: ImageExtra = { subject, digest: got.digest, mediaType: got.mediaType, size: got.bytes.length, ...extra, via, ...extraOf(`${image.ref} extra ${reference}`, got.bytes, via !== 'tag') };
    found.set(`${subject} ${e.tag ?? ''} ${e.digest}`, e);
  };
  // Every lookup of every subject (the cosign tags, the referrers) at once, a few at a time: one
  // after the other they cost a round trip each, up to ~45 for a multi-platform image.
  const lookups: Array<() => Promise<void>> = [];
  for (const subject of subjects) {
    for (const suffix of COSIGN_SUFFIXES) {
      const tag = cosignTag(subject, suffix);
      lookups.push(async () => {
        if (await client.headManifest(repo, tag)) await add(subject, 'tag', tag, { tag });
      });
    }
    lookups.push(async () => {
      const { via, descriptors } = await listReferrers(client, repo, subject);
      const manifests = descriptors.filter((d) => isManifestType(d.mediaType) && !isIndexType(d.mediaType) && /^sha256:[a-f0-9]{64}$/.test(d.digest));
      if (manifests.length > MAX_EXTRAS_PER_SUBJECT) {
        throw new FerryError('VALIDATION', `${image.ref}: ${manifests.length} referrers of ${subject}, more than ${MAX_EXTRAS_PER_SUBJECT}`, {
          hint: 'Set `extras: false` on this image (or use --no-extras) to carry the image without them.',
        });
      }
      await mapLimit(manifests, EXTRAS_LOOKUPS, (d) => add(subject, via, d.digest, {}));
    });
  }
  await mapLimit(lookups, EXTRAS_LOOKUPS, (lookup) => lookup());
  return [...found.values()].sort((a, b) => a.subject.localeCompare(b.subject) || (a.tag ?? '').localeCompare(b.tag ?? '') || a.digest.localeCompare(b.digest));
}

/** Resolve hook: add `extras` to a lock entry unless the manifest or the command turned them off. */
export async function withExtras<T extends LockedImage>(entry: T, spec: { extras?: boolean }, ctx: KindContext): Promise<T> {
  if (spec.extras === false || ctx.noExtras) return entry;
  const extras = await discoverExtras(entry, ctx.registry);
  return extras.length ? { ...entry, extras } : entry;
}

/** Fetch hook: the extras' manifests and blobs into the store; their top-level descriptors for index.json. */
export async function fetchExtras(entry: LockedImage, ctx: KindContext): Promise<OciDescriptor[]> {
  const repo = repoOf(entry.ref);
  // A few extras at a time; the descriptors keep the lock's order.
  return mapLimit(entry.extras ?? [], EXTRAS_LOOKUPS, async (extra): Promise<OciDescriptor> => {
    const got = await ctx.registry.getManifest(repo, extra.digest);
    await ctx.store.putBytes(got.bytes, extra.digest);
    await mapLimit(extra.blobs, ctx.concurrency, async (blob) => {
      if (await ctx.store.has(blob)) return;
      await ctx.store.ingest(blob, (offset) => ctx.registry.openBlob(repo, blob.digest, offset), {
        label: `${entry.ref} extra ${extra.tag ?? extra.digest} blob`,
        onRetry: (m) => ctx.progress.log(m),
      });
    });
    return {
      mediaType: extra.mediaType,
      digest: extra.digest,
      size: extra.size,
      ...(extra.artifactType ? { artifactType: extra.artifactType } : {}),
      annotations: {
        [ANNOTATION.kind]: 'image',
        [ANNOTATION.source]: `${repo.registry}/${repo.repository}@${extra.digest}`,
        [EXTRA_ANNOTATION.of]: entry.ref,
        [EXTRA_ANNOTATION.subject]: extra.subject,
        ...(extra.tag ? { [EXTRA_ANNOTATION.tag]: extra.tag } : {}),
      },
    };
  });
}

export function isExtraTop(top: OciDescriptor): boolean {
  return Boolean(top.annotations?.[EXTRA_ANNOTATION.of]);
}

/** Without extras: for `--no-extras` with a lock that has them. */
export function withoutExtras<T extends { images: LockedImage[] }>(lock: T): T {
  return { ...lock, images: lock.images.map(({ extras: _drop, ...rest }) => rest) };
}

const indexCache = new WeakMap<BlobSource, Promise<OciIndex>>();

/**
 * Import hook, after the image itself is on the target registry: push each extra of the image
 * (blobs, then the manifest by digest, then its cosign tag), keeping digests; list referrers
 * through the target's referrers API when it has one (the registry indexes the `subject`), or
 * in the `sha256-<hex>` fallback index otherwise. Runs inside the repository's lock.
 */
export async function pushImageExtras(refName: string, filteredDigest: string | undefined, ctx: ImportContext): Promise<ImportResult[]> {
  const reg = ctx.target.registry;
  if (!ctx.registry || !reg) return [];
  let index = indexCache.get(ctx.source);
  if (!index) indexCache.set(ctx.source, (index = ctx.source.readIndex()));
  const extras = (await index).manifests.filter((d) => d.annotations?.[EXTRA_ANNOTATION.of] === refName);
  if (!extras.length) return [];
  const mapped = mapImage(refName, reg.mapping, filteredDigest);
  const repo: RepoRef = { registry: reg.host, repository: mapped.repository };
  const session = pushSessionOf(ctx);
  return session.withRepository(repo, () => pushExtrasLocked(refName, extras, repo, mapped.repository, session, ctx));
}

/**
 * Import's first pass for one extra (a top-level entry of its own): its blobs into its image's
 * repository, unless the registry has its manifest already (as pushExtrasLocked then skips it).
 */
export async function pushExtraBlobs(top: OciDescriptor, ctx: ImportContext): Promise<void> {
  const reg = ctx.target.registry;
  const refName = top.annotations?.[EXTRA_ANNOTATION.of];
  if (!ctx.registry || !reg || !refName) return;
  // The repository only: a platform filter changes the image's digest, never its repository.
  const repo: RepoRef = { registry: reg.host, repository: mapImage(refName, reg.mapping).repository };
  const session = pushSessionOf(ctx);
  if (await session.client.headManifest(repo, top.digest)) return;
  const tag = top.annotations?.[EXTRA_ANNOTATION.tag];
  const label = `${refName} ${tag ?? `referrer ${top.digest}`}`;
  await session.pushBlobs(repo, extraOf(label, await ctx.source.readBlob(top.digest), false).blobs, label);
}

async function pushExtrasLocked(refName: string, extras: OciDescriptor[], repo: RepoRef, mirrorRepository: string, session: RegistryPushSession, ctx: ImportContext): Promise<ImportResult[]> {
  const client = session.client;
  const results: ImportResult[] = [];
  let targetHasApi: boolean | undefined;
  for (const top of extras) {
    const subject = top.annotations![EXTRA_ANNOTATION.subject];
    const tag = top.annotations![EXTRA_ANNOTATION.tag];
    const label = `${refName} ${tag ?? `referrer ${top.digest}`}`;
    // A full reference on the target (what `cosign verify` / `skopeo inspect` are given), like an image's location.
    const location = tag ? `${repo.registry}/${mirrorRepository}:${tag}` : `${repo.registry}/${mirrorRepository}@${top.digest} (referrer of ${subject})`;
    const bytes = await ctx.source.readBlob(top.digest);
    const there = await client.headManifest(repo, top.digest);
    const tagThere = tag ? (await client.headManifest(repo, tag))?.digest === top.digest : true;
    let bytesSent = 0;
    // Blobs, then the manifest by digest; the tag (below) only where it is missing.
    if (!there) bytesSent = await pushArtifactParts(session, repo, { label, blobs: extraOf(label, bytes, false).blobs, children: [], top, topBytes: bytes });
    if (tag && !tagThere) await client.putManifest(repo, tag, bytes, top.mediaType);
    let listed = false;
    if (!tag) {
      targetHasApi ??= (await fetchReferrersApi(client, repo, subject)).api;
      if (!targetHasApi) listed = await addToReferrersTag(client, repo, subject, referrerDescriptor(bytes, top.digest, top.mediaType));
    }
    results.push({ artifact: label, location, bytesSent, skipped: Boolean(there) && tagThere && !listed });
  }
  return results;
}
