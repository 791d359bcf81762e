import semver from 'semver';
import { mapImage, type RegistryMapping } from '../../mapping/index.js';
import { parseImageReference, repositoryName } from '../../oci/reference.js';
import { trimTrailing } from '../../ui/escape.js';

/**
 * A Flux `OCIRepository` (`spec.url: oci://<registry>/<repository>`, `spec.ref.tag` or `semver`)
 * whose repository the lock carries under `images:`: the artifacts Flux pulls that are no chart
 * (kustomize manifests pushed with `flux push artifact`, policy bundles, any ORAS artifact), which
 * ferry carries byte for byte like an image. Flux's source-controller fetches the URL as written
 * (no registry mirror redirects it), so the URL must name the mirror repository.
 */
export interface CarriedOciSource {
  /** The upstream repository, `host/path`. */
  repository: string;
  /** The mirror repository, `host/path` (no scheme, no tag). */
  mirror: string;
  /** The tags the lock carries from it, sorted. */
  tags: string[];
  /** The carried tag the source's tag or semver range asks for; undefined when none does. */
  tag?: string;
}

/** `version`: the source's `ref.tag` or `ref.semver` (Flux pulls `latest` when neither is set). */
export function carriedOciSource(images: ReadonlyArray<{ ref: string }>, url: string, version: string | undefined, mapping: RegistryMapping): CarriedOciSource | undefined {
  let repository: string;
  try {
    const ref = parseImageReference(trimTrailing(url.replace(/^oci:\/\//i, ''), '/'));
    if (ref.tag || ref.digest) return undefined;
    repository = repositoryName(ref);
  } catch {
    return undefined;
  }
  const tags = new Set<string>();
  for (const img of images) {
    try {
      const r = parseImageReference(img.ref);
      if (repositoryName(r) === repository) tags.add(r.tag ?? (r.digest ? '' : 'latest'));
    } catch {
      /* not an image reference: nothing this source could pull */
    }
  }
  if (!tags.size) return undefined;
  const sorted = [...tags].filter(Boolean).sort();
  const want = version ?? 'latest';
  let tag: string | undefined = sorted.includes(want) ? want : undefined;
  if (!tag && version !== undefined && !semver.valid(version)) {
    try {
      tag = semver.maxSatisfying(sorted, version) ?? undefined;
    } catch {
      tag = undefined;
    }
  }
  const mirror = mapImage(repository, mapping).mirror;
  return { repository, mirror, tags: sorted, tag };
}
