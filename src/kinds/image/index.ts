import { z } from 'zod';
import { checkCollisions, mapImage, registryMappingFor, registryMirrorFor, type MirrorPlace } from '../../mapping/index.js';
import { DOCKER_HUB, DOCKER_HUB_API, formatImageReference, normalizeImageReference, parseImageReference, repositoryName, withDefaultTag, type ImageReference } from '../../oci/reference.js';
import { type ImageLookup, type KindModule, type UpstreamRefBase } from '../types.js';
import { ImageListSchema, ImageSpecSchema, PlatformsSchema, type ImageSpec } from './spec.js';
import { platformsKept, unionPlatforms } from './platforms.js';
import { ImageLockSchema, type ImageLock } from './lock.js';
import { VerifyRuleSchema } from './verify.js';
import { imageKey, resolveImages } from './resolve.js';
import { fetchImage, imageFetchPlan } from './fetch.js';
import { imageImportNeeds, importImage, importImageBlobs, unlockedImageTop, validateImageImport } from './import.js';
import { layersBelow, registryHeld } from '../differential.js';
import { imageLockDiff } from './lock-diff.js';

export { imageKey };

/** An image as its lock entry names it; `storedDigest` when a platform filter changed the index. */
export interface ImageRef extends UpstreamRefBase<'image'> {
  storedDigest?: string;
}

/** The dedup key of a spec (a reference that does not parse keys as itself; resolve reports it). */
export function imageSpecKey(spec: ImageSpec): string {
  try {
    return imageKey(spec);
  } catch {
    return spec.ref;
  }
}

// Pulling from Docker Hub takes its API host, its token service and its blob CDN.
const DOCKER_HUB_PULL_HOSTS = [DOCKER_HUB_API, 'auth.docker.io', 'production.cloudflare.docker.com'];

/** Container images from OCI registries, pinned by digest, with an optional platform filter. */
export const imageKind = {
  name: 'image',
  field: 'images',
  specSchema: ImageSpecSchema,
  lockSchema: ImageLockSchema,
  manifestShape: {
    images: ImageListSchema,
    platforms: PlatformsSchema.optional().describe(
      "The platforms (os/arch[/variant]) every image is carried for unless its entry says otherwise: the images: entries and the charts (the images they deploy) that give no platforms: of their own. Default: every platform upstream has.",
    ),
    verify: z.array(VerifyRuleSchema).optional().describe('Images that must carry a cosign signature by one of these keys (checked offline at bundle create and import).'),
  },
  // The one list a lock always has.
  lockShape: { images: z.array(ImageLockSchema) },
  expandVars: true,
  resolveItems: (specs) => new Set(specs.map(imageSpecKey)).size,
  specKey: imageSpecKey,
  // An image two charts deploy is carried for the platforms of both (every platform when one asks for all).
  mergeSpecs: (a, b) => {
    const platforms = unionPlatforms(a.platforms, b.platforms);
    const { platforms: _drop, ...rest } = a;
    return platforms ? { ...rest, platforms } : rest;
  },
  upstreamHosts(spec) {
    const ref = normalizeImageReference(spec.ref);
    const host = parseImageReference(ref).registry.toLowerCase();
    return [host, ...(host === DOCKER_HUB ? DOCKER_HUB_PULL_HOSTS : [])].map((h) => ({ host: h, item: ref }));
  },
  targetFacet: { anyOf: ['registry', 'directory'], add: 'registry: { url } or directory:', noun: 'images' },
  resolve: resolveImages,
  fetch: fetchImage,
  fetchPlan: imageFetchPlan,
  importTo: importImage,
  importBlobs: importImageBlobs,
  validateImport: validateImageImport,
  importNeeds: imageImportNeeds,
  unlockedTop: unlockedImageTop,
  // Every platform's layers; the manifests and config stay in the bundle.
  differentialPayload: layersBelow,
  heldOnTarget: async (top, digests, _source, target) => registryHeld(top, digests, target),
  references: (entry) => [{ kind: 'image', upstream: entry.ref, ...(entry.storedDigest ? { storedDigest: entry.storedDigest } : {}) }],
  locations(entry, m) {
    return this.references(entry).map((ref) => ({ ref, places: m.registry ? [{ facet: 'registry' as const, image: mapImage(ref.upstream, m.registry, ref.storedDigest) }] : [] }));
  },
  lockDiff: imageLockDiff,
  presentation: {
    countNoun: 'images',
    countNounOne: 'image',
    bundleTable: {
      title: 'Images',
      nameColumn: 'Upstream',
      versionColumn: 'Platforms',
      row: (img) => ({
        name: img.ref,
        version: platformsColumn(img),
        digest: img.storedDigest ?? img.digest,
        size: img.blobs.reduce((n, b) => n + b.size, 0),
      }),
    },
    auditCarried({ specs, locked, registry }) {
      // Compared as they are pulled: a reference with neither tag nor digest is `:latest`, in the
      // manifest (which lock resolves so) and in what was scanned (which the kubelet pulls so).
      const pulled = (ref: string) => formatImageReference(withDefaultTag(parseImageReference(ref)));
      // The manifest's images and, with a lock, every image it pinned: those a chart deploys
      // (`images: discover`) are carried and rewritten like the listed ones.
      const images = new Set([...specs.map((s) => s.ref), ...locked.map((l) => l.ref)].map(pulled));
      // With a lock, a digest reference to a locked image is carried too (what `ferry rewrite` writes).
      const lockedDigests = new Map<string, { ref: string; storedDigest?: string }>();
      for (const l of locked) {
        const p = parseImageReference(l.ref);
        lockedDigests.set(`${p.registry}/${p.repository}@${l.digest}`, { ref: l.ref, storedDigest: l.storedDigest });
        if (l.storedDigest) lockedDigests.set(`${p.registry}/${p.repository}@${l.storedDigest}`, { ref: l.ref });
      }
      const carriedRepos = new Set(
        [...images].map((i) => {
          const p = parseImageReference(i);
          return `${p.registry}/${p.repository}`;
        }),
      );
      return (r) => {
        if (r.kind !== 'image') return undefined;
        try {
          const norm = pulled(r.value);
          if (images.has(norm)) return { mirror: mapImage(norm, registry).mirror };
          const p = parseImageReference(norm);
          const hit = p.digest ? lockedDigests.get(`${p.registry}/${p.repository}@${p.digest}`) : undefined;
          if (hit) return { mirror: mapImage(norm, registry, hit.storedDigest).mirror, note: `locked digest of ${hit.ref}` };
          const repo = `${p.registry}/${p.repository}`;
          if (carriedRepos.has(repo)) return { partial: `repository ${repo} is carried, but not this tag or digest` };
        } catch {
          /* not a valid reference: not an image this kind carries */
        }
        return undefined;
      };
    },
    mirrorLookups(locked, target, targetFile) {
      const mapping = registryMappingFor(target);
      // Import refuses a lock whose repositories collide on this target; rewriting must not point at such a place either.
      if (target.registry) checkCollisions(locked.map((i) => i.ref), mapping);
      const byRepo = new Map<string, ImageLock[]>();
      for (const img of locked) {
        let ref: ImageReference;
        try {
          ref = parseImageReference(img.ref);
        } catch {
          continue;
        }
        const key = repositoryName(ref);
        byRepo.set(key, [...(byRepo.get(key) ?? []), img]);
      }
      const registries = [...new Set([...byRepo.keys()].map((k) => k.slice(0, k.indexOf('/'))))].sort();
      const lookupImage = (input: string | ImageReference): ImageLookup => {
        const ref = typeof input === 'string' ? parseImageReference(input) : input;
        if (mapping.host && ref.registry === mapping.host) return { status: 'mirror' };
        if (!target.registry) return { status: 'unmapped', reason: `target ${targetFile} has no registry` };
        const entries = byRepo.get(repositoryName(ref));
        if (!entries?.length) return { status: 'unmapped', reason: repositoryMissReason(ref, byRepo) };
        let stored: string | undefined;
        if (ref.digest) {
          const hit = entries.find((e) => e.digest === ref.digest || e.storedDigest === ref.digest);
          if (!hit) return { status: 'unmapped', reason: `digest ${ref.digest} not in the lock` };
          stored = hit.storedDigest ?? hit.digest;
        } else if (ref.tag) {
          const hit = entries.find((e) => parseImageReference(e.ref).tag === ref.tag);
          if (!hit) return { status: 'unmapped', reason: tagMissReason(ref, ref.tag, byRepo) };
        }
        const mapped = mapImage(ref, mapping, stored);
        const { host, pathPrefix } = registryMirrorFor(ref.registry, mapping);
        return {
          status: 'mapped',
          upstream: ref,
          mirror: mapped.mirror,
          mirrorRef: { registry: host!, repository: mapped.repository, tag: mapped.tag, digest: mapped.digest },
          host: host!,
          pathPrefix,
          digestChanged: Boolean(ref.digest && mapped.digest !== ref.digest),
        };
      };
      return { lookupImage, registries };
    },
  },
} satisfies KindModule<ImageSpec, ImageLock, ImageRef, Extract<MirrorPlace, { facet: 'registry' }>>;

/** The report's platforms of an image: those kept (the filter, else the index's), attestation manifests counted apart. */
function platformsColumn(img: ImageLock): string {
  const { platforms, attestations } = platformsKept(img.manifests);
  const shown = img.platforms?.join(', ') ?? platforms.join(', ');
  return attestations ? `${shown} + ${attestations} attestation manifest${attestations === 1 ? '' : 's'}` : shown;
}

/**
 * Why a reference's repository is not in the lock, naming the repository and the locked ones with
 * the same last path component when there are any (`redis` is docker.io/library/redis, and the
 * lock has docker.io/bitnami/redis): a short name's normalization is what misleads.
 */
function repositoryMissReason(ref: ImageReference, byRepo: ReadonlyMap<string, unknown>): string {
  const name = repositoryName(ref);
  const similar = sameLastComponent(name, byRepo.keys());
  if (!similar.length) return 'repository not in the lock';
  const shown = similar.slice(0, 3).join(', ') + (similar.length > 3 ? `, and ${similar.length - 3} more` : '');
  return `repository ${name} not in the lock; the lock has ${shown}`;
}

/** Locked repositories other than `name` whose last path component is the same (`docker.io/bitnami/redis` for `redis`). */
function sameLastComponent(name: string, repos: Iterable<string>): string[] {
  const last = (r: string) => r.slice(r.lastIndexOf('/') + 1);
  return [...repos].filter((k) => k !== name && last(k) === last(name)).sort();
}

/** A tag missing from a repository, naming the same-named repository that does hold it (`redis:7.2.5` when the lock has bitnami/redis:7.2.5). */
function tagMissReason(ref: ImageReference, tag: string, byRepo: ReadonlyMap<string, ImageLock[]>): string {
  const name = repositoryName(ref);
  const holders = sameLastComponent(name, byRepo.keys()).filter((k) => byRepo.get(k)!.some((e) => parseImageReference(e.ref).tag === tag));
  if (!holders.length) return `tag ${tag} not in the lock`;
  return `tag ${tag} not in the lock for ${name}; the lock has ${holders.map((h) => `${h}:${tag}`).join(', ')}`;
}
