import type { KindLockDiff } from '../types.js';

/** A file by its name; its pin is the sha256 (the URL for a lock without one). */
export const fileLockDiff: KindLockDiff = {
  pins: (entries) => (entries as ReadonlyArray<{ name: string; sha256?: string; url: string }>).map((f) => ({ name: f.name, key: f.name, pin: f.sha256 ?? f.url })),
};
