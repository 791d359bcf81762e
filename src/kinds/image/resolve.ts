import { FerryError } from '../../errors.js';
import type { ImageLock } from './lock.js';
import { isIndexType, platformString, type OciManifest } from '../../oci/media-types.js';
import { formatImageReference, parseImageReference, withDefaultTag, type ImageReference } from '../../oci/reference.js';
import type { RegistryClient, RepoRef } from '../../oci/client.js';
import { digestOf } from '../../store/blob-store.js';
import { mapLimit } from '../../net/concurrency.js';
import { resolveEach } from '../failures.js';
import type { KindContext } from '../types.js';
import { attestationOf, filterIndex, platformCount, unionPlatforms } from './platforms.js';
import type { ImageSpec } from './spec.js';
import { withExtras } from './extras.js';
import { warn } from '../warnings.js';


function manifestBlobs(label: string, bytes: Buffer): Array<{ mediaType: string; digest: string; size: number }> {
  const m = JSON.parse(bytes.toString('utf8')) as OciManifest;
  if (!m.config || !Array.isArray(m.layers)) throw new FerryError('VALIDATION', `${label}: manifest has no config or layers`);
  return [m.config, ...m.layers].map((d) => ({ mediaType: d.mediaType, digest: d.digest, size: d.size }));
}

/**
 * Normalized key for deduplicating image specs (explicit and discovered): the reference alone.
 * One reference is one tag (or digest) on the mirror, so two entries for it must be one image:
 * the first listed wins (the manifest's own entries come before those a chart discovers, so an
 * explicit `platforms` filter applies to the image the chart deploys too); two entries of the
 * manifest itself that disagree are refused by validation (`duplicateImageProblems`).
 */
export function imageKey(spec: ImageSpec): string {
  return formatImageReference(withDefaultTag(parseImageReference(spec.ref)));
}

/** The name an image goes by in progress and errors: the reference with its default tag. */
export function imageName(spec: ImageSpec): string {
  try {
    return formatImageReference(withDefaultTag(parseImageReference(spec.ref)));
  } catch {
    return spec.ref;
  }
}

/**
 * Pin every image (deduplicated), each on its own: one that fails does not stop the others. An
 * image several entries bring (its `images:` entry, the charts that deploy it) is carried for the
 * union of the platforms they ask for, every platform when one of them asks for all: never fewer
 * than one of them needs. One exception: the platforms an image's own `images:` entry lists are
 * the user's word on that image, and a chart that gives no list (nor the manifest a top-level one)
 * does not widen them (said, naming the list kept). The first entry's other settings (extras,
 * verify) stay. The manifest's own entries come first in `specs` (the pipeline's order).
 */
export async function resolveImages(specs: ImageSpec[], ctx: KindContext): Promise<ImageLock[]> {
  const unique = new Map<string, ImageSpec>();
  const listed = new Set((ctx.listedImages ?? []).map((ref) => imageKey({ ref })));
  // Keys whose first spec is the manifest's own images: entry with a platform list.
  const ownList = new Set<string>();
  for (const raw of specs) {
    const s = ctx.defaultPlatforms && !raw.platforms ? { ...raw, platforms: ctx.defaultPlatforms } : raw;
    const key = imageKey(s);
    const seen = unique.get(key);
    if (!seen) {
      unique.set(key, s);
      if (listed.has(key) && s.platforms) ownList.add(key);
    } else if (!s.platforms && ownList.has(key)) {
      warn(ctx, `${key}: carried for ${seen.platforms!.join(', ')} only, as its images: entry lists, although a chart that deploys it gives no platforms: (every platform); list the others there (or give the chart platforms:) if nodes of other platforms run it`);
    } else {
      const platforms = unionPlatforms(seen.platforms, s.platforms);
      if (seen.platforms && !platforms) warn(ctx, `${key}: carried for every platform, not only ${seen.platforms.join(', ')}: an entry that brings it (a chart with no platforms:) asks for every platform; give that chart platforms: (or the manifest a top-level platforms:) to carry fewer`);
      const { platforms: _drop, ...rest } = seen;
      unique.set(key, platforms ? { ...rest, platforms } : rest);
    }
  }
  const entries = await resolveEach(
    [...unique.values()],
    ctx,
    imageName,
    (s) => resolveImage(s, ctx.registry).then((e) => withExtras(e, s, ctx)),
    (e) => `resolved ${e.digest.slice(0, 19)}…${e.manifests.length ? ` (${platformCount(e.manifests)})` : ''}`,
  );
  return entries.sort((a, b) => a.ref.localeCompare(b.ref) || (a.platforms ?? []).join().localeCompare((b.platforms ?? []).join()));
}

/** Platform manifests of one index fetched at once (images themselves run under ctx.concurrency). */
const PLATFORM_FETCHES = 4;

/** The most manifests an index may list: real ones list tens (platforms and their attestations). */
const MAX_INDEX_CHILDREN = 1000;

/** Pin one image: tag → digest, platform manifests, every blob digest and size. */
export async function resolveImage(spec: ImageSpec, client: RegistryClient): Promise<ImageLock> {
  const ref = withDefaultTag(parseImageReference(spec.ref));
  const label = formatImageReference(ref);
  const repo: RepoRef = { registry: ref.registry, repository: ref.repository };
  const top = await client.getManifest(repo, ref.digest ?? ref.tag!);
  const blobs = new Map<string, { mediaType: string; digest: string; size: number }>();
  const manifests: ImageLock['manifests'] = [];
  let storedDigest: string | undefined;

  if (isIndexType(top.mediaType)) {
    const { bytes, kept, changed } = filterIndex(label, top.bytes, spec.platforms);
    if (changed) storedDigest = digestOf(bytes);
    if (kept.length > MAX_INDEX_CHILDREN) {
      throw new FerryError('VERIFY', `${label}: the index lists ${kept.length} manifests, more than the ${MAX_INDEX_CHILDREN} ferry reads`, {
        hint: 'No image has this many platforms; the registry answered something crafted or broken. Name one platform manifest by digest, or set `platforms`.',
      });
    }
    // The platform manifests several at a time, each reduced to its blobs as it arrives (so
    // memory holds a few manifests, not all), then taken in the index's order, so the lock does
    // not depend on which answered first.
    const fetched = await mapLimit(kept, PLATFORM_FETCHES, async (child) => {
      const got = await client.getManifest(repo, child.digest);
      if (isIndexType(got.mediaType)) {
        throw new FerryError('VALIDATION', `${label}: nested index ${child.digest} is not supported`, { hint: 'Name the inner index by digest instead.' });
      }
      if (got.bytes.length !== child.size) {
        throw new FerryError('VERIFY', `${label}: the index says manifest ${child.digest} is ${child.size} bytes, the registry served ${got.bytes.length}`, {
          hint: 'The index does not describe its manifests truthfully; tell the registry\'s operator. Nothing was locked.',
        });
      }
      return manifestBlobs(`${label} ${child.digest}`, got.bytes);
    });
    for (const [i, child] of kept.entries()) {
      const attestation = attestationOf(child);
      manifests.push({ mediaType: child.mediaType, digest: child.digest, size: child.size, platform: platformString(child.platform), ...(attestation ? { attestation } : {}) });
      for (const b of fetched[i]) blobs.set(b.digest, b);
    }
  } else {
    for (const b of manifestBlobs(label, top.bytes)) blobs.set(b.digest, b);
    if (spec.platforms) {
      // A single-platform image cannot be filtered; check its config says what the user asked for.
      const cfgDesc = (JSON.parse(top.bytes.toString('utf8')) as OciManifest).config;
      const cfg = await readConfigPlatform(client, repo, cfgDesc.digest);
      if (cfg && !spec.platforms.some((p) => p.split('/').slice(0, 2).join('/') === cfg)) {
        throw new FerryError('NOT_FOUND', `${label}: single-platform image is ${cfg}, not ${spec.platforms.join(', ')}`, {
          hint: 'Drop `platforms` for this image or name an image built for that platform.',
        });
      }
    }
  }
  return {
    source: spec.ref,
    ref: label,
    digest: top.digest,
    mediaType: top.mediaType,
    size: top.bytes.length,
    ...(spec.platforms ? { platforms: [...spec.platforms].sort() } : {}),
    ...(storedDigest ? { storedDigest } : {}),
    manifests: manifests.sort((a, b) => a.platform.localeCompare(b.platform) || a.digest.localeCompare(b.digest)),
    blobs: [...blobs.values()].sort((a, b) => a.digest.localeCompare(b.digest)),
  };
}

async function readConfigPlatform(client: RegistryClient, repo: RepoRef, digest: string): Promise<string | undefined> {
  const bytes = await client.getBlobBytes(repo, digest, 4 * 1024 * 1024);
  const cfg = JSON.parse(bytes.toString('utf8')) as { os?: string; architecture?: string };
  return cfg.os && cfg.architecture ? `${cfg.os}/${cfg.architecture}` : undefined;
}
