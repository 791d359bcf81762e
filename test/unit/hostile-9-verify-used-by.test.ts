import { describe, expect, it } from 'vitest';
import { describeExpected } from '../../src/store/differential.js';

/**
 * Hostile pass 9: `bundle verify` of a differential names what uses each blob expected from the
 * base, with artifact names taken from the bundle. A name carrying a newline must not print a
 * line of its own (a forged "expected from the base" or "OK" line): it stays on its line, escaped.
 */
describe('describeExpected', () => {
  it('keeps each artifact name of usedBy on its own line, newlines and controls escaped', () => {
    const d = `sha256:${'a'.repeat(64)}`;
    const text = describeExpected({
      base: { kind: 'bundle', name: 'base.tar', digest: `sha256:${'b'.repeat(64)}` } as never,
      blobs: 1,
      bytes: 10,
      digests: [d],
      usedBy: { [d]: 'evil\n  expected from the base: nothing\u001b[2J layer' },
    });
    expect(text.split('\n')).toHaveLength(3);
    expect(text).toContain('evil\\n  expected from the base: nothing\\x1b[2J layer');
  });
});
