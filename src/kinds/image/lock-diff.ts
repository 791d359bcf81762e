import { isIndexType } from '../../oci/media-types.js';
import { referenceName } from '../../oci/reference.js';
import type { KindLockDiff, LockPin } from '../types.js';

/** The fields of an image lock entry the lock diff reads (a previous lock may come from another ferry version). */
export interface ImageLockView {
  ref: string;
  digest: string;
  mediaType?: unknown;
  platforms?: unknown;
  normalized?: string;
}

/** The tag of `ref` ('' for a reference by digest alone: its pin is the digest). */
const tagOf = (ref: string, repo: string) => ref.split('@')[0].slice(repo.length + 1);

/** Platforms a previous lock's entry lists, at most (each a short `os/arch[/variant]`). */
const PLATFORMS_READ = 64;

/**
 * What an index is carried for: ` for linux/amd64, linux/arm64`, or ` for every platform`; nothing for
 * a single manifest. A changed platform filter keeps the upstream digest, so the pin names it.
 */
function platformsPin(i: ImageLockView): string {
  if (Array.isArray(i.platforms)) return ` for ${i.platforms.slice(0, PLATFORMS_READ).filter((p) => typeof p === 'string').join(', ')}`;
  return typeof i.mediaType === 'string' && isIndexType(i.mediaType) ? ' for every platform' : '';
}

/** An image by its repository; its pin is `tag@digest` and, for an index, the platforms carried. */
export const imageLockDiff: KindLockDiff = {
  pins: (entries) =>
    (entries as readonly ImageLockView[]).map((i): LockPin => {
      const repo = referenceName(i.ref);
      const tag = tagOf(i.ref, repo);
      return { name: repo, key: i.ref, pin: `${tag ? `${tag}@${i.digest}` : i.digest}${platformsPin(i)}` };
    }),
};
