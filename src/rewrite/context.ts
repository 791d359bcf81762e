import type { ImageLock, Lock } from '../kinds/schema.js';
import type { MirrorTarget } from '../manifest/target.js';
import { checkCollisions, mapAptRepo, mapFileUrl, mapImage, registryMappingFor, registryMirrorFor, type RegistryMapping } from '../mapping/index.js';
import { parseImageReference, repositoryName, type ImageReference } from '../oci/reference.js';

export type ImageLookup =
  | { status: 'mapped'; upstream: ImageReference; mirror: string; mirrorRef: ImageReference; host: string; pathPrefix: string; digestChanged: boolean }
  | { status: 'mirror' }
  | { status: 'unmapped'; reason: string };

export interface AptRepoLookup {
  url: string | 'mirror';
  resigned: boolean;
}

/**
 * What every rewrite needs: the target (where things live) and the lock (what is there), and
 * lookups that answer "is this upstream thing covered, and where is it on the mirror" — always
 * through src/mapping, never computed here. The command layer (src/commands/rewrite.ts) reads
 * the target and lock files and builds this with `createRewriteContext`.
 */
export interface RewriteContext {
  targetFile: string;
  target: MirrorTarget;
  lock: Lock;
  mapping: RegistryMapping;
  lookupImage(ref: string | ImageReference): ImageLookup;
  /** Mirror URL of a locked file URL, 'mirror' when already a mirror URL, undefined when not locked. */
  lookupFileUrl(url: string): string | 'mirror' | undefined;
  /** Origins (scheme://host) of every locked file: URLs there are expected to be mirrored. */
  fileOrigins: Set<string>;
  /** Mirror URL of a locked APT repository URL ('mirror' when it already is one), and whether import re-signs it. */
  lookupAptRepo(url: string): AptRepoLookup | undefined;
  /** Upstream registries the lock pins images from, sorted. */
  registries: string[];
}

function trimSlash(u: string): string {
  return u.replace(/\/+$/, '');
}

export function createRewriteContext(target: MirrorTarget, lock: Lock, targetFile = '<target>'): RewriteContext {
  const mapping = registryMappingFor(target);
  // Import refuses a lock whose repositories collide on this target; rewriting must not point at such a place either.
  if (target.registry) checkCollisions((lock.images ?? []).map((i) => i.ref), mapping);
  const byRepo = new Map<string, ImageLock[]>();
  for (const img of lock.images ?? []) {
    let ref: ImageReference;
    try {
      ref = parseImageReference(img.ref);
    } catch {
      continue;
    }
    const key = repositoryName(ref);
    byRepo.set(key, [...(byRepo.get(key) ?? []), img]);
  }
  // OCI charts are stored like images; a values file may name them too (rare, harmless).
  const registries = [...new Set([...byRepo.keys()].map((k) => k.slice(0, k.indexOf('/'))))].sort();

  const lookupImage = (input: string | ImageReference): ImageLookup => {
    const ref = typeof input === 'string' ? parseImageReference(input) : input;
    if (mapping.host && ref.registry === mapping.host) return { status: 'mirror' };
    if (!target.registry) return { status: 'unmapped', reason: `target ${targetFile} has no registry` };
    const entries = byRepo.get(repositoryName(ref));
    if (!entries?.length) return { status: 'unmapped', reason: 'repository not in the lock' };
    let stored: string | undefined;
    if (ref.digest) {
      const hit = entries.find((e) => e.digest === ref.digest || e.storedDigest === ref.digest);
      if (!hit) return { status: 'unmapped', reason: `digest ${ref.digest} not in the lock` };
      stored = hit.storedDigest ?? hit.digest;
    } else if (ref.tag) {
      const hit = entries.find((e) => parseImageReference(e.ref).tag === ref.tag);
      if (!hit) return { status: 'unmapped', reason: `tag ${ref.tag} not in the lock` };
    }
    const mapped = mapImage(ref, mapping, stored);
    const { host, pathPrefix } = registryMirrorFor(ref.registry, mapping);
    return {
      status: 'mapped',
      upstream: ref,
      mirror: mapped.mirror,
      mirrorRef: { registry: host!, repository: mapped.repository, tag: mapped.tag, digest: mapped.digest },
      host: host!,
      pathPrefix,
      digestChanged: Boolean(ref.digest && mapped.digest !== ref.digest),
    };
  };

  const files = new Map<string, string>();
  const fileOrigins = new Set<string>();
  for (const f of lock.files ?? []) {
    const url = f.url;
    if (!url) continue;
    try {
      fileOrigins.add(new URL(url).origin);
    } catch {
      continue;
    }
    if (target.files) files.set(url, mapFileUrl(url, target.files).url);
  }
  const lookupFileUrl = (url: string) => {
    if (target.files && url.startsWith(trimSlash(target.files.baseUrl) + '/')) return 'mirror' as const;
    return files.get(url);
  };

  // A filtered APT mirror is re-signed with the site key at import; a whole one keeps the vendor's signature.
  const aptRepos = new Map<string, AptRepoLookup>();
  const aptMirrors = new Map<string, boolean>();
  for (const a of lock.apt ?? []) {
    const url = a.url;
    if (!url || !target.apt) continue;
    const mirror = mapAptRepo(url, target.apt).url;
    const resigned = a.mode === 'filtered';
    aptRepos.set(trimSlash(url), { url: mirror, resigned });
    aptMirrors.set(trimSlash(mirror), resigned);
  }
  const lookupAptRepo = (url: string): AptRepoLookup | undefined => {
    const onMirror = aptMirrors.get(trimSlash(url));
    if (onMirror !== undefined) return { url: 'mirror', resigned: onMirror };
    if (target.apt && trimSlash(url).startsWith(trimSlash(target.apt.baseUrl))) return { url: 'mirror', resigned: false };
    return aptRepos.get(trimSlash(url));
  };

  return { targetFile, target, lock, mapping, lookupImage, lookupFileUrl, fileOrigins, lookupAptRepo, registries };
}
