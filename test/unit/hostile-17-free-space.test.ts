import { describe, expect, it } from 'vitest';
import { freeBytes, requireSpaceFor } from '../../src/store/free-space.js';

/**
 * Hostile pass 17, the free-space check before a bundle is written.
 *
 * What tripped: a file system that reports no size at all (0 blocks in all: proc and sys, and FUSE
 * or network file systems that do not measure space) was read as 0 bytes free, so every bundle
 * create and split onto it was refused ("needs N bytes more than the 0 free"), with no way round.
 * Now space that cannot be measured is not refused (a real shortage still ends in ENOSPC).
 */
describe('free space on a file system that reports none', () => {
  it('0 blocks in all (here /proc) is not "0 bytes free"', async () => {
    expect(await freeBytes('/proc')).toBe(Number.POSITIVE_INFINITY);
    await expect(requireSpaceFor('/proc/ferry-h17.partial', 10 * 1024 ** 3, 'the bundle', 'hint')).resolves.toBeUndefined();
  });

  it('a file system that does report its size is still measured, and a want beyond it refused', async () => {
    const free = await freeBytes('/tmp');
    expect(Number.isFinite(free)).toBe(true);
    await expect(requireSpaceFor('/tmp/ferry-h17-none.partial', free + 1024 ** 4, 'the bundle', 'hint')).rejects.toThrow(/refused before writing/);
  });
});
