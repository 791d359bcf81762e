/**
 * Inputs for tests that run ferry offline against a lock (audit, rewrite, mirror-config): a
 * manifest that lists images, a nested-layout site target, and a lock naming those images as
 * `ferry lock` writes it (one placeholder digest: these commands read references and registries).
 */
export const PLACEHOLDER_DIGEST = `sha256:${'a'.repeat(64)}`;

/** A manifest named `name` listing `refs` under `images:`. */
export function imagesManifest(name: string, refs: readonly string[]): string {
  return `apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: ${name} }\nimages:\n${refs.map((r) => `  - ref: ${r}`).join('\n')}\n`;
}

/** registry.site.internal, prefix `ferry`, nested layout. */
export const NESTED_SITE_TARGET = `apiVersion: ferry/v1alpha1
kind: MirrorTarget
metadata: { name: site }
registry:
  url: https://registry.site.internal
  prefix: ferry
  layout: nested
`;

/** A lock for manifest `name` pinning `refs`. */
export function imagesLock(name: string, refs: readonly string[]): string {
  const img = (ref: string) => ({ source: ref, ref, digest: PLACEHOLDER_DIGEST, mediaType: 'application/vnd.oci.image.index.v1+json', size: 1, manifests: [], blobs: [] });
  return JSON.stringify({ apiVersion: 'ferry/v1alpha1', kind: 'Lock', manifest: { name, digest: PLACEHOLDER_DIGEST }, images: refs.map(img) });
}
