import { describe, expect, it } from 'vitest';
import { applyMergeKeys, MAX_MERGED_KEYS } from '../../../src/audit/yaml-merge.js';

/**
 * hostile58: merge keys copy a shared map into each map that merges it; 99 `<<: *big` of a
 * 200 000-key anchor (2.5 MB of GitLab CI) copied 20 million keys (40 s, 2.7 GB). The copies are
 * bounded in one value and refused past it, as an alias bomb is.
 */
describe('hostile58: YAML merge keys copy a bounded number of keys', () => {
  const big = Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`k${i}`, 'v']));

  it('refuses a value whose merges copy more than MAX_MERGED_KEYS keys, naming the bound', () => {
    const value = Object.fromEntries(Array.from({ length: 99 }, (_, j) => [`job${j}`, { script: ['echo'], '<<': big }]));
    expect(99 * 2000).toBeGreaterThan(MAX_MERGED_KEYS);
    expect(() => applyMergeKeys(value)).toThrow(/more than 100,000 keys/);
  });

  it('merges below the bound as before', () => {
    const value = Object.fromEntries(Array.from({ length: 40 }, (_, j) => [`job${j}`, { script: ['echo'], '<<': big }])) as Record<string, Record<string, unknown>>;
    applyMergeKeys(value);
    expect(value.job39.k1999).toBe('v');
    expect(value.job0.script).toEqual(['echo']);
    expect('<<' in value.job0).toBe(false);
  });
});
