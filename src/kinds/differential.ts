import { mapImage } from '../mapping/index.js';
import type { ResolvedTarget } from '../manifest/resolved-target.js';
import type { OciDescriptor } from '../oci/media-types.js';
import { artifactLabel } from '../store/layout.js';
import { ANNOTATION } from '../store/source.js';

/**
 * What each kind says about a differential bundle (`bundle create --since`, src/commands/
 * differential.ts): which blobs of its entries may be left out, and where an import target must
 * already hold them. The commands code checks those places; only the kinds know their artifacts.
 */

/** A manifest or index as differential planning reads it: parsed, capped; `{}` for a descriptor that names no blob. */
export interface ManifestParts {
  manifests?: OciDescriptor[];
  layers?: OciDescriptor[];
}

export type ReadManifest = (d: OciDescriptor) => Promise<ManifestParts>;

/** Where the target must already hold a blob a differential bundle left out, and what to call it in a message. */
export type HeldPlace = { digest: string; label: string } & (
  | { repository: string } // on the target registry (or mounted from another mirror repository of the base)
  | { layout: string } // in the directory target's OCI image layout
  | { file: string } // a file of a directory facet (charts, files, apt), with exactly that content
);

/** The layers of `d`, through every index below it (each manifest once). */
export async function layersBelow(d: OciDescriptor, read: ReadManifest): Promise<OciDescriptor[]> {
  const out: OciDescriptor[] = [];
  const stack = [d];
  const seen = new Set<string>();
  while (stack.length) {
    const m = stack.pop()!;
    if (seen.has(m.digest)) continue;
    seen.add(m.digest);
    const json = await read(m);
    for (const child of Array.isArray(json.manifests) ? json.manifests : []) if (typeof child?.digest === 'string') stack.push(child);
    if (Array.isArray(json.layers)) out.push(...json.layers);
  }
  return out;
}

/**
 * The registry places of an entry the target's registry or directory holds as an OCI artifact
 * (images, OCI charts): its mapped repository (when the reference maps), and the layout.
 */
export function registryHeld(top: OciDescriptor, digests: ReadonlySet<string>, target: ResolvedTarget): HeldPlace[] {
  const label = artifactLabel(top);
  let repository: string | undefined;
  try {
    if (target.registry) repository = mapImage(top.annotations?.[ANNOTATION.refName] ?? '', target.registry.mapping).repository;
  } catch {
    repository = undefined;
  }
  return [...digests].flatMap((digest) => [...(repository ? [{ digest, label, repository }] : []), ...(target.directory ? [{ digest, label, layout: target.directory }] : [])]);
}
