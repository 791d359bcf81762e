import path from 'node:path';
import { isMap, isSeq } from 'yaml';
import { scalarText } from '../manifest/input-file.js';
import { referenceName } from '../oci/reference.js';

/**
 * kustomize's `images:` overrides, as `kustomize build` (and `kubectl kustomize`, Argo CD) apply
 * them: a container image whose name (the reference without tag and digest, compared as written)
 * equals an entry's `name` is pulled as `newName` (else that name) with `digest`, else `newTag`,
 * else the tag or digest it had. Audit and `rewrite manifests` both read what a resource runs
 * through these rules, so a base's `nginx:1.24` that an overlay pins to `1.25` counts as 1.25.
 */
export interface ImageOverride {
  /** Position in the kustomization's `images:` list. */
  index: number;
  name: string;
  newName?: string;
  newTag?: string;
  digest?: string;
}

/** The container lists kustomize's image transformer visits (at any depth): not `ephemeralContainers`. */
export const KUSTOMIZE_CONTAINER_LISTS: ReadonlySet<string> = new Set(['containers', 'initContainers']);

/** kustomize reads `kustomization.yaml`, `kustomization.yml` or `Kustomization`; apiVersion and kind are optional there. */
export function isKustomizationFile(file: string): boolean {
  return /^(?:kustomization\.ya?ml|Kustomization)$/.test(path.basename(file));
}

/** Whether a document is a kustomization: `kind: Kustomization`, or a map in a kustomization file without a kind (or a `Component`). `kind` null: not a map. */
export function isKustomization(file: string, kind: string | null | undefined): boolean {
  return kind === 'Kustomization' || (isKustomizationFile(file) && (kind === undefined || kind === 'Component'));
}

/** The `images:` entries of a kustomization (its document's contents node) that name an image to match. */
export function imageOverrides(contents: unknown): ImageOverride[] {
  const images = isMap(contents) ? contents.get('images', true) : undefined;
  if (!isSeq(images)) return [];
  const out: ImageOverride[] = [];
  images.items.forEach((item, index) => {
    if (!isMap(item)) return;
    // As written (`newTag: 1.10` is "1.10", not 1.1); empty is none.
    const field = (k: string) => scalarText(item.get(k, true)) || undefined;
    const name = field('name');
    if (!name) return;
    out.push({ index, name, newName: field('newName'), newTag: field('newTag'), digest: field('digest') });
  });
  return out;
}

/** The image kustomize writes for `image` under override `o`. */
export function overriddenImage(image: string, o: ImageOverride): string {
  const name = referenceName(image);
  const to = o.newName ?? name;
  if (o.digest) return `${to}@${o.digest}`;
  if (o.newTag) return `${to}:${o.newTag}`;
  return to + image.slice(name.length);
}

/**
 * The kustomizations of a scanned tree, by directory. A kustomization covers the files under its
 * directory (its resources, usually listed beside it); the nearest one that overrides an image wins.
 * A base outside the scanned directories is not followed.
 */
export class KustomizeScopes {
  private readonly byDir = new Map<string, { file: string; overrides: ImageOverride[] }>();

  add(file: string, overrides: ImageOverride[]): void {
    if (overrides.length) this.byDir.set(path.dirname(path.resolve(file)), { file, overrides });
  }

  get size(): number {
    return this.byDir.size;
  }

  /** The override that applies to `image` in `file`, with the kustomization that declares it. */
  find(file: string, image: string): { file: string; override: ImageOverride } | undefined {
    if (!this.byDir.size) return undefined;
    const name = referenceName(image);
    let dir = path.dirname(path.resolve(file));
    for (;;) {
      const k = this.byDir.get(dir);
      const o = k?.overrides.find((x) => x.name === name);
      if (k && o) return { file: k.file, override: o };
      const up = path.dirname(dir);
      if (up === dir) return undefined;
      dir = up;
    }
  }
}
