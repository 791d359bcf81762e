import { describe, expect, it } from 'vitest';
import { compareVersions, satisfiesVersion } from '../../../src/kinds/apt/version.js';

describe('Debian version comparison', () => {
  it.each([
    ['1.0', '1.0', 0],
    ['1.0', '1.1', -1],
    ['1.10', '1.9', 1],
    ['1.0~rc1', '1.0', -1],
    ['1.0~rc1', '1.0~rc2', -1],
    ['1:0.9', '2.0', 1],
    ['1.6-2.1+deb12u3', '1.6-2.1', 1],
    ['1.6-2', '1.6-10', -1],
    ['2.0a', '2.0', 1],
    ['2.0+b1', '2.0', 1],
    ['8.0.36-28-1.jammy', '8.0.36-28-1.focal', 1],
    ['0', '0~', 1],
  ])('%s vs %s', (a, b, want) => {
    expect(Math.sign(compareVersions(a, b)) + 0).toBe(want);
    expect(Math.sign(compareVersions(b, a)) + 0).toBe(want === 0 ? 0 : -want);
  });

  it('evaluates relations', () => {
    expect(satisfiesVersion('2.36-9', '>=', '2.34')).toBe(true);
    expect(satisfiesVersion('2.36-9', '<<', '2.34')).toBe(false);
    expect(satisfiesVersion('1.0', '=', '1.0')).toBe(true);
    expect(satisfiesVersion('1.0', '>>', '1.0')).toBe(false);
    expect(satisfiesVersion('1.0', '<=', '1.0')).toBe(true);
  });
});
