import { referenceName } from '../../oci/reference.js';
import type { KindLockDiff, LockPin } from '../types.js';

/** The fields of an image lock entry the lock diff reads (a previous lock may come from another ferry version). */
export interface ImageLockView {
  ref: string;
  digest: string;
  normalized?: string;
}

/** The tag of `ref` ('' for a reference by digest alone: its pin is the digest). */
const tagOf = (ref: string, repo: string) => ref.split('@')[0].slice(repo.length + 1);

/** An image by its repository; its pin is `tag@digest`. */
export const imageLockDiff: KindLockDiff = {
  pins: (entries) =>
    (entries as readonly ImageLockView[]).map((i): LockPin => {
      const repo = referenceName(i.ref);
      const tag = tagOf(i.ref, repo);
      return { name: repo, key: i.ref, pin: tag ? `${tag}@${i.digest}` : i.digest };
    }),
};
