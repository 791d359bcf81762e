/**
 * Hostile pass 19, `ferry lock`'s change list (src/commands/lock-diff.ts) against a crafted
 * previous lock (up to PREVIOUS_LOCK_MAX, 4 MB, is compared).
 *
 * Fixed:
 * - 20 000 charts dropped: each removed chart searched every chart of the lock twice (its
 *   dependencyOf, whether it was a dependency): 4·10^8 string builds, ~40 s here (minutes for a
 *   full 4 MB lock). Now one map per lock.
 * - Thousands of charts deploying one repository's thousands of images: each change copied and
 *   sorted every chart's name (8 000 × 8 000: 17 s and 64 M array slots; the printed list and the
 *   --json were each hundreds of MB). Now a repository's charts and a removed image's reason are
 *   worked out once, and a change lists at most CHARTS_LISTED chart names, then `and N more`.
 * Held (no change): names, versions and references with terminal escapes are escaped where the
 * list is printed (src/cli/lock.ts escapeLine, printResult); a previous lock that does not match
 * the lock schema lists no changes; one over 4 MB is not compared (`changes not listed`).
 */
import { describe, expect, it } from 'vitest';
import { CHARTS_LISTED, lockChanges } from '../../src/commands/lock-diff.js';
import type { Lock } from '../../src/kinds/schema.js';

const digest = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;

describe('hostile 19: the change list against a crafted previous lock', () => {
  it('20 000 charts dropped, several of them dependencies: linear, reasons kept', () => {
    // No timing assertion: the old code takes ~40 s here (over the timeout under load), this well under a second.
    const n = 20000;
    const before = {
      charts: Array.from({ length: n }, (_, i) => ({ repo: 'https://c.example', name: `c${i}`, version: '1.0.0', ...(i % 1000 === 0 ? { dependencyOf: [`p${i} 1.0.0`] } : {}) })),
    } as unknown as Lock;
    const changes = lockChanges(before, { charts: [] } as unknown as Lock);
    expect(changes).toHaveLength(n);
    const c0 = changes.find((c) => c.name === 'https://c.example c0')!;
    expect(c0).toMatchObject({ change: 'removed', dependencyOf: ['p0 1.0.0'], reason: 'no longer a dependency of a carried chart' });
    expect(changes.find((c) => c.name === 'https://c.example c1')).toMatchObject({ change: 'removed', reason: 'no longer in the manifest' });
    expect(changes.find((c) => c.name === 'https://c.example c1')!.dependencyOf).toBeUndefined();
  }, 30_000);

  it('8 000 charts deploying 8 000 images of one repository: bounded lists, one reason', () => {
    const k = 8000;
    const before = {
      charts: Array.from({ length: k }, (_, i) => ({ repo: 'https://c.example', name: `c${i}`, version: '1', images: ['r.example/a:1'] })),
      images: Array.from({ length: k }, (_, i) => ({ ref: `r.example/a:${i}`, digest: digest(i), normalized: 'r.example/a:1' })),
    } as unknown as Lock;
    const after = { charts: [{ repo: 'https://c.example', name: 'c5', version: '2' }], images: [] } as unknown as Lock;
    const changes = lockChanges(before, after).filter((c) => c.kind === 'image');
    expect(changes).toHaveLength(k);
    for (const c of changes) {
      expect(c.change).toBe('removed');
      expect(c.charts).toHaveLength(CHARTS_LISTED + 1);
      expect(c.charts![CHARTS_LISTED]).toBe(`and ${k - CHARTS_LISTED} more`);
      expect(c.reason!.length).toBeLessThan(2000);
    }
    // The chart still carried at another version is named; the gone ones are cut like the list.
    expect(changes[0].reason).toMatch(/^no longer deployed by c5 2; chart c0, c1, .* and 7979 more no longer in the manifest$/);
  }, 30_000);

  it('a few charts: listed whole, as before', () => {
    const before = {
      charts: [
        { repo: 'https://c.example', name: 'b', version: '1', images: ['r.example/a:1'] },
        { repo: 'https://c.example', name: 'a', version: '1', images: ['r.example/a:1'] },
      ],
      images: [{ ref: 'r.example/a:1', digest: digest(1) }],
    } as unknown as Lock;
    const [c] = lockChanges(before, { charts: [{ repo: 'https://c.example', name: 'a', version: '2' }], images: [] } as unknown as Lock).filter((x) => x.kind === 'image');
    expect(c).toMatchObject({ change: 'removed', charts: ['a 1', 'b 1'], reason: 'no longer deployed by a 2; chart b no longer in the manifest' });
  });
});
