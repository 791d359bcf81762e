import { formatImageReference, parseImageReference } from '../../oci/reference.js';
import { mapLimit } from '../../net/concurrency.js';
import type { ImageLock } from '../../manifest/lock.js';
import type { Kind } from '../types.js';
import type { ImageSpec } from './spec.js';
import { resolveImage, withDefaultTag } from './resolve.js';
import { fetchImage } from './fetch.js';
import { importImage, validateImageImport } from './import.js';

/** Normalized key for deduplicating image specs (explicit and discovered). */
export function imageKey(spec: ImageSpec): string {
  return `${formatImageReference(withDefaultTag(parseImageReference(spec.ref)))}|${(spec.platforms ?? []).slice().sort().join(',')}`;
}

export const imageKind: Kind<ImageSpec, ImageLock> = {
  name: 'image',
  async resolve(specs, ctx) {
    const unique = new Map<string, ImageSpec>();
    for (const s of specs) if (!unique.has(imageKey(s))) unique.set(imageKey(s), s);
    const entries = await mapLimit([...unique.values()], ctx.concurrency, (s) => resolveImage(s, ctx.registry));
    return entries.sort((a, b) => a.ref.localeCompare(b.ref) || (a.platforms ?? []).join().localeCompare((b.platforms ?? []).join()));
  },
  fetch: fetchImage,
  importTo: importImage,
  validateImport: validateImageImport,
  references: (entry) => [{ kind: 'image', upstream: entry.ref, ...(entry.storedDigest ? { storedDigest: entry.storedDigest } : {}) }],
};
