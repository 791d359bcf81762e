/**
 * The one rule for "this key holds an image", shared by chart discovery, `rewrite values` and
 * `audit`. Charts write images under many keys: `image`, `img`, `initImage`, `sidecarImage`,
 * `init_image`, `busyboxImage`, and lists under `images`, `extraImages`, `initContainerImages`.
 * A key that ends in "image" (any case) holds one image; one that ends in "images" holds a list
 * of them. What such a key holds still has to look like a reference: the rule says where to
 * look, never that a value is an image.
 */

const SINGLE = /(^img$)|image$/i;
const LIST = /(^imgs$)|images$/i;

/** The key holds one image: a reference string or an image map ({registry, repository, tag, digest}). */
export function isImageKey(key: string): boolean {
  return SINGLE.test(key);
}

/** The key holds a list of images (`images: [a, b]`, `extraImages:`). */
export function isImageListKey(key: string): boolean {
  return LIST.test(key);
}

/** Either form: the key names images. */
export function namesImages(key: string): boolean {
  return isImageKey(key) || isImageListKey(key);
}

/** The fields of a Helm-style split image map. */
export interface ImageMapFields {
  registry?: string;
  repository?: string;
  tag?: string;
  digest?: string;
}

/**
 * A split image map as one reference string, or undefined when the map is not one: it needs a
 * repository and at least one of registry, tag or digest (a bare `repository: txt` says too
 * little), and no URL.
 */
export function imageMapReference(m: ImageMapFields): string | undefined {
  const repo = m.repository?.trim();
  if (!repo || repo.includes('://') || repo.includes('{{')) return undefined;
  if (m.registry === undefined && m.tag === undefined && m.digest === undefined) return undefined;
  const registry = m.registry?.trim();
  const tag = m.tag?.trim();
  const digest = m.digest?.trim();
  return `${registry ? `${registry}/` : ''}${repo}${tag ? `:${tag}` : ''}${digest ? `@${digest}` : ''}`;
}
