import type { ImageLock } from '../../manifest/lock.js';
import type { Kind } from '../types.js';
import type { ImageSpec } from './spec.js';
import { imageKey, resolveImages } from './resolve.js';
import { fetchImage, imageFetchPlan } from './fetch.js';
import { importImage, validateImageImport } from './import.js';

export { imageKey };

export const imageKind: Kind<ImageSpec, ImageLock> = {
  name: 'image',
  resolve: resolveImages,
  fetch: fetchImage,
  fetchPlan: imageFetchPlan,
  importTo: importImage,
  validateImport: validateImageImport,
  references: (entry) => [{ kind: 'image', upstream: entry.ref, ...(entry.storedDigest ? { storedDigest: entry.storedDigest } : {}) }],
};
