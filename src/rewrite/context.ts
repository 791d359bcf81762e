import { ALL_KINDS, type AnyKind } from '../kinds/index.js';
import { lockEntries, type Lock } from '../kinds/schema.js';
import type { MirrorLookups } from '../kinds/types.js';
import type { MirrorTarget } from '../manifest/target.js';
import { registryMappingFor, type RegistryMapping } from '../mapping/index.js';

export type { AptRepoLookup, ImageLookup } from '../kinds/types.js';

/**
 * What every rewrite needs: the target (where things live) and the lock (what is there), and
 * lookups that answer "is this upstream thing covered, and where is it on the mirror" — each
 * kind answers for its own lock entries (its presentation's `mirrorLookups`), always through
 * src/mapping, never computed here. The command layer (src/commands/rewrite.ts) reads the target
 * and lock files and builds this with `createRewriteContext`.
 */
export interface RewriteContext extends MirrorLookups {
  targetFile: string;
  target: MirrorTarget;
  lock: Lock;
  mapping: RegistryMapping;
}

/** What the mirror holds when no kind says otherwise: nothing. */
function nothingCovered(): MirrorLookups {
  return {
    lookupImage: () => ({ status: 'unmapped', reason: 'no kind carries images' }),
    lookupFileUrl: () => undefined,
    fileOrigins: new Set(),
    lookupAptRepo: () => undefined,
    registries: [],
  };
}

export function createRewriteContext(target: MirrorTarget, lock: Lock, targetFile = '<target>', kinds: readonly AnyKind[] = ALL_KINDS): RewriteContext {
  const lookups = nothingCovered();
  for (const k of kinds) Object.assign(lookups, k.presentation?.mirrorLookups?.(lockEntries(lock, k.field), target, targetFile));
  return { targetFile, target, lock, mapping: registryMappingFor(target), ...lookups };
}
