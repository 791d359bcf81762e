import { describe, expect, it } from 'vitest';
import { FerryError } from '../../../src/errors.js';
import { fetchApt } from '../../../src/kinds/apt/fetch.js';
import type { AptLock } from '../../../src/kinds/apt/lock.js';
import type { KindContext } from '../../../src/kinds/types.js';
import { MAX_TAR_ENTRIES } from '../../../src/store/tar-index.js';
import { silentProgress } from '../../../src/ui/progress.js';

describe('an APT repository bigger than a bundle may hold', () => {
  it('is refused before the first download, naming the count and what to do', async () => {
    const packages = Array.from({ length: MAX_TAR_ENTRIES + 1 }, (_, i) => ({
      name: `p${i}`,
      version: '1',
      architecture: 'amd64',
      filename: `pool/main/p/p${i}_1_amd64.deb`,
      sha256: 'a'.repeat(64),
      size: 1,
    }));
    const entry = {
      name: 'huge',
      url: 'http://127.0.0.1:9/debian',
      mode: 'whole',
      components: ['main'],
      architectures: ['amd64'],
      suites: [{ suite: 'bookworm', signedBy: 'x', release: [{ path: 'dists/bookworm/InRelease', sha256: 'b'.repeat(64), size: 1 }], indexes: [], packages }],
    } as unknown as AptLock;
    // Any use of the network or the store would fail differently: the count is checked first.
    const ctx = { progress: silentProgress, concurrency: 4 } as unknown as KindContext;
    const err = await fetchApt(entry, ctx).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FerryError);
    expect((err as FerryError).code).toBe('VALIDATION');
    expect((err as FerryError).message).toContain(`${MAX_TAR_ENTRIES + 1} packages, more than the ${MAX_TAR_ENTRIES} files a bundle may hold`);
    expect((err as FerryError).hint).toMatch(/Split it into several apt: entries/);
  });
});
