import { FerryError } from '../../errors.js';
import type { ResolvedTarget } from '../../manifest/resolved-target.js';
import { mapImage } from '../../mapping/index.js';
import { isIndexType, type OciDescriptor, type OciIndex, type OciManifest } from '../../oci/media-types.js';
import type { RepoRef } from '../../oci/client.js';
import { isDescriptor, manifestParts, ProblemList, readJsonBlob, type ImportProblem } from '../import-checks.js';
import { layoutNeeds, layoutRefNameProblem, stageArtifactForLayout, writeArtifactToLayout } from '../layout-write.js';
import { pushOciArtifact, pushOciArtifactBlobs, pushSessionOf } from '../registry-push.js';
import { artifactLabel } from '../../store/layout.js';
import { ANNOTATION, type BlobSource } from '../../store/source.js';
import type { ImportContext, ImportNeed, ImportResult } from '../types.js';
import { isExtraTop, pushExtraBlobs, pushImageExtras } from './extras.js';
import { EXTRA_ANNOTATION } from '../../oci/referrers.js';
import { parseImageReference } from '../../oci/reference.js';
import { ImageLockSchema } from './lock.js';

interface ImageGraph {
  refName: string;
  top: OciDescriptor;
  topBytes: Buffer;
  /** Child manifests of an index, with their bytes (empty for a single manifest). */
  children: Array<{ desc: OciDescriptor; bytes: Buffer }>;
  /** Config and layer blobs, each once. */
  blobs: OciDescriptor[];
}

/** Read an image's manifests from the bundle (small) and list every blob it reaches. */
export async function readImageGraph(top: OciDescriptor, source: BlobSource): Promise<ImageGraph> {
  const refName = top.annotations?.[ANNOTATION.refName] ?? top.digest;
  const { bytes: topBytes, json: topJson } = await readJsonBlob<OciIndex & OciManifest>(source, top, `${refName} ${isIndexType(top.mediaType) ? 'index' : 'manifest'}`);
  const children: ImageGraph['children'] = [];
  const manifests: OciManifest[] = [];
  if (isIndexType(top.mediaType)) {
    if (!Array.isArray(topJson.manifests) || !topJson.manifests.every(isDescriptor)) throw new FerryError('VERIFY', `${refName} index ${top.digest}: manifests are not valid descriptors`);
    for (const desc of topJson.manifests) {
      const child = await readJsonBlob<OciManifest>(source, desc, `${refName} manifest`);
      children.push({ desc, bytes: child.bytes });
      manifests.push(child.json);
    }
  } else {
    manifests.push(topJson);
  }
  const blobs = new Map<string, OciDescriptor>();
  for (const m of manifests) {
    const { config, layers } = manifestParts(m, `${refName} manifest`);
    for (const d of [config, ...layers]) blobs.set(d.digest, { mediaType: d.mediaType, digest: d.digest, size: d.size });
  }
  return { refName, top, topBytes, children, blobs: [...blobs.values()] };
}

/**
 * Before anything is written: the reference parses and maps onto the target registry
 * (repository name, tag, path rules), and every manifest the image reaches is readable, within
 * its cap, matches its digest and names well-formed blobs.
 */
export async function validateImageImport(top: OciDescriptor, source: BlobSource, target: ResolvedTarget): Promise<ImportProblem[]> {
  const refName = top.annotations?.[ANNOTATION.refName];
  // A crafted name may be megabytes long: the problems name it by its first 200 characters.
  const fullLabel = artifactLabel(top);
  const label = fullLabel.length > 200 ? `${fullLabel.slice(0, 200)}…` : fullLabel;
  const problems = new ProblemList();
  const extraOf = top.annotations?.[EXTRA_ANNOTATION.of];
  if (extraOf !== undefined) {
    // A signature, attestation or referrer: it lands in its image's repository, under its tag.
    const tag = top.annotations?.[EXTRA_ANNOTATION.tag];
    const subject = top.annotations?.[EXTRA_ANNOTATION.subject] ?? '';
    if (target.registry) await problems.check(label, () => mapImage(extraOf, target.registry!.mapping));
    if (tag !== undefined && !/^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/.test(tag)) problems.add(label, `extra of ${extraOf}: tag ${JSON.stringify(tag)} is not a valid tag`);
    if (!/^sha256:[a-f0-9]{64}$/.test(subject)) problems.add(label, `extra of ${extraOf}: subject ${JSON.stringify(subject)} is not a sha256 digest`);
  } else if (target.registry) {
    if (!refName) problems.add(label, `image has no ${ANNOTATION.refName} annotation; it cannot be placed on the registry`);
    else await problems.check(label, () => mapImage(refName, target.registry!.mapping));
  }
  const badName = target.directory && extraOf === undefined ? layoutRefNameProblem(refName ?? top.digest) : undefined;
  if (badName) problems.add(label, `refusing it as a name in the OCI layout: ${badName}`);
  await problems.check(label, () => readImageGraph(top, source));
  return problems.items;
}

/**
 * The lock's images by name: each pinned digest (with the upstream digest a platform-filtered one
 * carries), each extra as `digest subject tag`, and what is wrong with the first entry of that name
 * whose reference or digests break the lock's schema (import and serve read the lock unchecked).
 */
type LockedImages = Map<string, { pinned: Map<string, string | undefined>; extras: Set<string>; invalid?: string }>;

/** The fields of a lock entry that name and pin what index.json carries: what import and serve hold an entry to. */
const LockedPinSchema = ImageLockSchema.pick({ ref: true, digest: true, storedDigest: true });

function pinProblem(e: object, at: number): string | undefined {
  const r = LockedPinSchema.safeParse(e);
  if (r.success) return undefined;
  const issue = r.error.issues[0];
  return `images[${at}].${issue.path.join('.')}: ${issue.message}`;
}

const extraKey = (digest: unknown, subject: unknown, tag: unknown) => JSON.stringify([digest, subject ?? null, tag ?? null]);

/**
 * The lock's image list indexed once per list (not per entry checked: a bundle may hold 90 000
 * entries and its lock as many images), its fields read only when they have the lock's types.
 */
const lockedIndexes = new WeakMap<readonly unknown[], LockedImages>();
function lockedImages(entries: readonly unknown[]): LockedImages {
  let index = lockedIndexes.get(entries);
  if (index) return index;
  index = new Map();
  for (const [at, e] of entries.entries()) {
    if (typeof e !== 'object' || e === null) continue;
    const { ref, digest, storedDigest, extras } = e as Record<string, unknown>;
    if (typeof ref !== 'string' || typeof digest !== 'string') continue;
    let image = index.get(ref);
    if (!image) index.set(ref, (image = { pinned: new Map(), extras: new Set() }));
    image.invalid ??= pinProblem(e, at);
    image.pinned.set(typeof storedDigest === 'string' ? storedDigest : digest, typeof storedDigest === 'string' ? digest : undefined);
    for (const x of Array.isArray(extras) ? extras : []) {
      if (typeof x === 'object' && x !== null) {
        const r = x as Record<string, unknown>;
        image.extras.add(extraKey(r.digest, r.subject, r.tag));
      }
    }
  }
  lockedIndexes.set(entries, index);
  return index;
}

const invalidEntry = (why: string) => `the bundle's lock (ferry/lock.json) names it in an entry no lock ferry writes holds (${why.length > 300 ? `${why.slice(0, 300)}…` : why}): the bundle was crafted or damaged`;

/**
 * Why an image (or a signature, referrer carried with one) in index.json is not what the lock
 * pins: its ref.name not a locked image, or its digest not the one the lock pins for it (an
 * extra: not one of that image's extras, about the same subject, under the same tag).
 */
export function unlockedImageTop(top: OciDescriptor, entries: readonly unknown[]): string | undefined {
  const locked = lockedImages(entries);
  const clipped = (s: string) => (s.length > 200 ? `${s.slice(0, 200)}…` : s);
  const extraOf = top.annotations?.[EXTRA_ANNOTATION.of];
  if (extraOf !== undefined) {
    const image = locked.get(extraOf);
    if (!image) return `extra ${top.digest} of ${clipped(extraOf)}: the bundle's lock (ferry/lock.json) pins no image of that name`;
    if (image.invalid) return `extra ${top.digest} of ${clipped(extraOf)}: ${invalidEntry(image.invalid)}`;
    const subject = top.annotations?.[EXTRA_ANNOTATION.subject];
    const tag = top.annotations?.[EXTRA_ANNOTATION.tag];
    return image.extras.has(extraKey(top.digest, subject, tag)) ? undefined : `extra ${top.digest} of ${clipped(extraOf)}${tag !== undefined ? ` (tag ${clipped(tag)})` : ''}: not among that image's extras in the bundle's lock (ferry/lock.json)`;
  }
  const refName = top.annotations?.[ANNOTATION.refName];
  if (refName === undefined) return undefined; // validateImageImport names an image without a name
  const same = locked.get(refName);
  if (!same) return `image ${clipped(refName)} (${top.digest}) is not in the bundle's lock (ferry/lock.json lists no image of that name): it would be imported without appearing in what is made from the lock (map, rewrite, sbom, report, the signature policy)`;
  if (same.invalid) return `image ${clipped(refName)}: ${invalidEntry(same.invalid)}`;
  if (!same.pinned.has(top.digest)) return `image ${clipped(refName)}: index.json points it at ${top.digest}, the bundle's lock pins ${[...same.pinned.keys()].join(', ')}`;
  // The upstream digest annotation says the stored index is a platform-filtered copy: import and
  // serve then place it by its own digest and say it stands for the upstream one. Only the lock says so.
  const upstream = top.annotations?.[ANNOTATION.upstreamDigest];
  const pinnedUpstream = same.pinned.get(top.digest);
  if (upstream !== pinnedUpstream) return `image ${clipped(refName)} (${top.digest}): index.json says ${upstream === undefined ? 'it is not a platform-filtered copy' : `it is a platform-filtered copy of ${clipped(upstream)}`}, the bundle's lock ${pinnedUpstream === undefined ? 'pins it as the upstream manifest itself' : `pins it as a filtered copy of ${pinnedUpstream}`}`;
  return undefined;
}

/** Where an image goes on the target registry. */
function registryPlace(g: ImageGraph, ctx: ImportContext) {
  const reg = ctx.target.registry!;
  const filtered = g.top.annotations?.[ANNOTATION.upstreamDigest] ? g.top.digest : undefined;
  const mapped = mapImage(g.refName, reg.mapping, filtered);
  const repo: RepoRef = { registry: reg.host, repository: mapped.repository };
  return { mapped, repo };
}

/**
 * Tags that several image entries of one bundle carry with different manifests: `repo:1.0` kept
 * for one platform and `repo:1.0@sha256:…` (a chart's pin of the whole index), or a pin older than
 * what the tag names now. Each would push the tag, so it would end on whichever finished last and
 * move at every import. The entry written without a digest owns the tag (what `repo:1.0` pulls);
 * an entry pinned by digest is pushed by its digest alone, which is how it is pulled. Several pinned
 * digests and no entry by tag alone: none owns it (null). Only conflicting tags are listed.
 */
const tagOwnerCache = new WeakMap<readonly OciDescriptor[], Map<string, string | null>>();
function tagOwners(tops: readonly OciDescriptor[]): Map<string, string | null> {
  const cached = tagOwnerCache.get(tops);
  if (cached) return cached;
  const seen = new Map<string, { plain: Set<string>; pinned: Set<string> }>();
  for (const top of tops) {
    const key = tagKey(top);
    if (!key) continue;
    let s = seen.get(key.tag);
    if (!s) seen.set(key.tag, (s = { plain: new Set(), pinned: new Set() }));
    (key.pinned ? s.pinned : s.plain).add(top.digest);
  }
  const owners = new Map<string, string | null>();
  for (const [tag, { plain, pinned }] of seen) {
    if (new Set([...plain, ...pinned]).size < 2) continue;
    owners.set(tag, plain.size === 1 ? [...plain][0] : null);
  }
  tagOwnerCache.set(tops, owners);
  return owners;
}

/**
 * Which entry of the bundle's `tops` a registry tag that `top` would push belongs to: undefined
 * when no other entry of the bundle carries that tag with another manifest (the tag is `top`'s),
 * else the owner's digest, or null when none owns it. `import` and `serve` both decide by it.
 */
export function registryTagOwner(tops: readonly OciDescriptor[], top: OciDescriptor): string | null | undefined {
  const key = tagKey(top);
  return key ? tagOwners(tops).get(key.tag) : undefined;
}

/** An image entry's upstream `registry/repository:tag`, and whether its reference pins a digest too. */
function tagKey(top: OciDescriptor): { tag: string; pinned: boolean } | undefined {
  const refName = top.annotations?.[ANNOTATION.refName];
  if (refName === undefined || isExtraTop(top)) return undefined;
  try {
    const ref = parseImageReference(refName);
    return ref.tag === undefined ? undefined : { tag: `${ref.registry}/${ref.repository}:${ref.tag}`, pinned: ref.digest !== undefined };
  } catch {
    return undefined; // validateImageImport names it
  }
}

/** Push to the target registry: blobs, then child manifests, then the index, then the tag. */
async function pushToRegistry(g: ImageGraph, ctx: ImportContext): Promise<ImportResult> {
  const session = pushSessionOf(ctx);
  const { mapped, repo } = registryPlace(g, ctx);
  const key = ctx.tops ? tagKey(g.top) : undefined;
  const owner = ctx.tops ? registryTagOwner(ctx.tops, g.top) : undefined;
  // A tag another entry of this bundle owns (or none does) is left to it: this one goes by digest.
  const tag = owner !== undefined && owner !== g.top.digest ? undefined : mapped.tag;
  if (owner === null) ctx.warnings?.push(`${mapped.mirror}: pushed by digest, tag ${mapped.tag} left as it was: the bundle pins several manifests under ${key!.tag} and none by the tag alone. List the image by its tag in the manifest (with the platforms you need) to say which one the tag names.`);
  const { bytesSent, skipped, previous } = await pushOciArtifact(session, repo, { label: g.refName, blobs: g.blobs, children: g.children, top: g.top, topBytes: g.topBytes, tag });
  if (previous) {
    ctx.warnings?.push(
      `${mapped.mirror}: the tag moved from ${previous} to ${g.top.digest}. If this bundle is older than one imported before, that is a rollback: import the newest bundle again to move it forward.`,
    );
  }
  return { artifact: g.refName, location: mapped.mirror, bytesSent, skipped, ...(previous ? { previous } : {}) };
}

/** Write into the target's OCI image layout directory; index.json is updated last. */
async function writeToDirectory(g: ImageGraph, ctx: ImportContext): Promise<ImportResult> {
  const { dir, bytesSent, skipped } = await writeArtifactToLayout(g.refName, g.top, [...g.blobs, ...g.children.map((c) => c.desc)], ctx);
  return { artifact: g.refName, location: `${dir}#${g.refName}`, bytesSent, skipped };
}

/** What importImage would write into the target's OCI layout directory (extras go to registries only). */
export async function imageImportNeeds(top: OciDescriptor, source: BlobSource, target: ResolvedTarget): Promise<ImportNeed[]> {
  if (!target.directory || isExtraTop(top)) return [];
  const g = await readImageGraph(top, source);
  return layoutNeeds(g.top, [...g.blobs, ...g.children.map((c) => c.desc)], target);
}

export async function importImage(top: OciDescriptor, ctx: ImportContext): Promise<ImportResult[]> {
  if (isExtraTop(top)) return []; // pushed with (after) its image
  const g = await readImageGraph(top, ctx.source);
  const results: ImportResult[] = [];
  if (ctx.target.registry) results.push(await pushToRegistry(g, ctx), ...(await pushImageExtras(g.refName, g.top.annotations?.[ANNOTATION.upstreamDigest] ? g.top.digest : undefined, ctx)));
  if (ctx.target.directory) results.push(await writeToDirectory(g, ctx));
  return results;
}

/**
 * Import's first pass: the image's (or the signature's, referrer's) blobs into its registry
 * repository, no manifest; and the image's blobs and manifests staged in an OCI layout target,
 * not named in its index.json.
 */
export async function importImageBlobs(top: OciDescriptor, ctx: ImportContext): Promise<void> {
  const toRegistry = Boolean(ctx.target.registry && ctx.registry);
  const toLayout = Boolean(ctx.staged && ctx.target.directory);
  if (isExtraTop(top)) return toRegistry ? pushExtraBlobs(top, ctx) : undefined; // extras go to registries only
  if (!toRegistry && !toLayout) return;
  const g = await readImageGraph(top, ctx.source);
  if (toRegistry) {
    const { mapped, repo } = registryPlace(g, ctx);
    await pushOciArtifactBlobs(pushSessionOf(ctx), repo, { label: g.refName, blobs: g.blobs, top: g.top, tag: mapped.tag });
  }
  if (toLayout) await stageArtifactForLayout(g.refName, g.top, [...g.blobs, ...g.children.map((c) => c.desc)], ctx);
}
