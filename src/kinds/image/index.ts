import { z } from 'zod';
import { mapImage, type MirrorPlace } from '../../mapping/index.js';
import { DOCKER_HUB, DOCKER_HUB_API, normalizeImageReference, parseImageReference } from '../../oci/reference.js';
import { listField, type KindModule, type UpstreamRefBase } from '../types.js';
import { ImageSpecSchema, type ImageSpec } from './spec.js';
import { ImageLockSchema, type ImageLock } from './lock.js';
import { VerifyRuleSchema } from './verify.js';
import { imageKey, resolveImages } from './resolve.js';
import { fetchImage, imageFetchPlan } from './fetch.js';
import { importImage, importImageBlobs, validateImageImport } from './import.js';

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
    ...listField('images', ImageSpecSchema),
    verify: z.array(VerifyRuleSchema).optional().describe('Images that must carry a cosign signature by one of these keys (checked offline at bundle create and import).'),
  },
  // The one list a lock always has.
  lockShape: { images: z.array(ImageLockSchema) },
  expandVars: true,
  resolveItems: (specs) => new Set(specs.map(imageSpecKey)).size,
  specKey: imageSpecKey,
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
  references: (entry) => [{ kind: 'image', upstream: entry.ref, ...(entry.storedDigest ? { storedDigest: entry.storedDigest } : {}) }],
  locations(entry, m) {
    return this.references(entry).map((ref) => ({ ref, places: m.registry ? [{ facet: 'registry' as const, image: mapImage(ref.upstream, m.registry, ref.storedDigest) }] : [] }));
  },
} satisfies KindModule<ImageSpec, ImageLock, ImageRef, Extract<MirrorPlace, { facet: 'registry' }>>;
