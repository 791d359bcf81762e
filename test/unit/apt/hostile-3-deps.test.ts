import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { parseRelations } from '../../../src/kinds/apt/deps.js';
import { compareVersions } from '../../../src/kinds/apt/version.js';

/** Relations and versions from a hostile Packages index (a paragraph may hold 16 Mi characters). */
describe('Depends and versions crafted to stall the parser', () => {
  it('a run of spaces before a stray byte parses at once (the pattern used to backtrack cubically: 3000 spaces took ~30 s, 20 000 would take hours)', () => {
    // Run under vm's watchdog: a parser that hangs is interrupted and fails the test instead of stalling the suite.
    const value = `libc6 (>= 2.36),  a${' '.repeat(20_000)}(, b${' '.repeat(20_000)}[x`;
    const groups = vm.runInNewContext('parse(value)', { parse: parseRelations, value }, { timeout: 20_000 }) as ReturnType<typeof parseRelations>;
    expect(groups.map((g) => g.map((a) => a.name))).toEqual([['libc6'], ['a'], ['b']]);
  });

  it('the forms the pattern reads still read the same', () => {
    expect(parseRelations('foo:any (>= 1.0) [amd64] <!nocheck> <stage1>, bar (<< 2) | baz [!i386], qux (> 3)')).toEqual([
      [{ name: 'foo', arch: 'any', op: '>=', version: '1.0' }],
      [{ name: 'bar', op: '<<', version: '2' }, { name: 'baz' }],
      [{ name: 'qux', op: '>=', version: '3' }],
    ]);
  });

  it('thousands of alternatives and very long versions stay linear', () => {
    const alts = Array.from({ length: 50_000 }, (_, i) => `p${i} (>= ${i})`).join(' | ');
    expect(parseRelations(alts)[0]).toHaveLength(50_000);
    const long = `1:${'1.'.repeat(200_000)}0~`;
    expect(compareVersions(long, `1:${'1.'.repeat(200_000)}0`)).toBeLessThan(0);
    expect(compareVersions(`${'~'.repeat(200_000)}`, '')).toBeLessThan(0);
  });
});
