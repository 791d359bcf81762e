import type { MirrorTarget } from '../manifest/target.js';
import type { ServeRouteProvider } from './serve-route.js';
import { aptKind } from './apt/index.js';
import { chartKind } from './chart/index.js';
import { endpointKind } from './endpoint/index.js';
import { fileKind } from './file/index.js';
import { imageKind } from './image/index.js';
import type { AnyKind, KindLocation } from './types.js';

export type { AnyKind } from './types.js';

/**
 * The registry of kinds. The manifest and lock schemas (src/kinds/schema.ts), `lock`, `bundle
 * create`, the import facet check, `map`, serve routes and the inventory iterate this list;
 * adding a kind is one folder and one line here. Order is the order of the manifest and lock
 * fields and of listed failures.
 */
export const KINDS = [imageKind, chartKind, fileKind, aptKind, endpointKind] as const;

/** The same list, for code that handles any kind alike. */
export const ALL_KINDS: readonly AnyKind[] = KINDS;

/** A kind's name: `image`, `chart`, … */
export type KindName = (typeof KINDS)[number]['name'];

/** An upstream reference of any kind: a union of each kind's own variant (discriminated by `kind`). */
export type UpstreamRef = ReturnType<(typeof KINDS)[number]['references']>[number];

/** Where any kind's upstream thing lives on a mirror. */
export type MirrorLocationOf = KindLocation<UpstreamRef>;

export function kindByName(name: string): AnyKind | undefined {
  return ALL_KINDS.find((k) => k.name === name);
}

/** Whether a kind's bundle entries are OCI artifacts a registry holds as they are (images, OCI charts): its facet includes the registry. */
export function goesToRegistry(name: string): boolean {
  return kindByName(name)?.targetFacet?.anyOf.includes('registry') ?? false;
}

/** Which bundle entry owns a registry tag several entries carry (kinds/image/import.ts): one rule for `import` and `serve`. */
export { registryTagOwner } from './image/import.js';

/** Route providers `serve` adds for the kinds that have HTTP trees (files, APT). */
export const SERVE_ROUTE_PROVIDERS: ServeRouteProvider[] = ALL_KINDS.flatMap((k) => (k.serveRoutes ? [k.serveRoutes] : []));

/**
 * The kinds among `kindNames` the target has no place for (its `targetFacet`), sorted, each once.
 * Kinds without a facet, and names this ferry does not know, have a place.
 */
export function kindsWithoutPlace(kindNames: Iterable<string>, target: MirrorTarget): string[] {
  return [...new Set(kindNames)].sort().filter((name) => {
    const facet = kindByName(name)?.targetFacet;
    return Boolean(facet) && !facet!.anyOf.some((f) => Boolean(target[f]));
  });
}
