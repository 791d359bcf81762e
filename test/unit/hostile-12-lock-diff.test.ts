import { describe, expect, it } from 'vitest';
import { lockChanges } from '../../src/commands/lock-diff.js';
import type { Lock } from '../../src/kinds/schema.js';

const digest = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;
const lockOf = (images: Array<{ ref: string; digest: string }>) => ({ images }) as unknown as Lock;

describe('hostile 12: the lock change list against a crafted previous lock', () => {
  it('compares 100 000 images of one repository against 100 000 others without quadratic matching', () => {
    // No timing assertion: matched pairwise (the old code) this takes minutes and hits the test's
    // generous timeout; matched by key it takes well under a second.
    const n = 100000;
    const before = lockOf(Array.from({ length: n }, (_, i) => ({ ref: `r.example/app:old${i}`, digest: digest(i) })));
    const after = lockOf(Array.from({ length: n }, (_, i) => ({ ref: `r.example/app:new${i}`, digest: digest(n + i) })));
    const changes = lockChanges(before, after);
    expect(changes).toHaveLength(n);
    expect(changes.every((c) => c.change === 'updated' && c.name === 'r.example/app')).toBe(true);
  }, 60_000);
});
