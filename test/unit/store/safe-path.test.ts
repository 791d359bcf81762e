import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FerryError } from '../../../src/errors.js';
import { checkRelativePath, isSafeRelativePath, isSafeSegment, safeJoin } from '../../../src/store/safe-path.js';

const ROOT = '/srv/mirror';

describe('safeJoin', () => {
  it('joins plain relative parts inside the root', () => {
    expect(safeJoin(ROOT, 'charts/tiny-1.0.0.tgz', 'chart')).toBe('/srv/mirror/charts/tiny-1.0.0.tgz');
    expect(safeJoin(ROOT, ['pool/main/j', 'jq_1.6_amd64.deb'], 'apt')).toBe('/srv/mirror/pool/main/j/jq_1.6_amd64.deb');
    expect(safeJoin('relative/root', 'a', 'x')).toBe(path.resolve('relative/root', 'a'));
    // Dots inside a name are not a traversal.
    expect(safeJoin(ROOT, 'a..b/..c/c..', 'x')).toBe('/srv/mirror/a..b/..c/c..');
  });

  it.each([
    ['..', 'parent'],
    ['../etc/passwd', 'leading ..'],
    ['a/../../etc', 'inner ..'],
    ['a/..', 'trailing ..'],
    ['./a', 'leading .'],
    ['a/./b', 'inner .'],
    ['/etc/passwd', 'absolute'],
    ['a//b', 'empty segment'],
    ['a/', 'trailing slash'],
    ['', 'empty'],
    ['a\\..\\..\\b', 'backslash'],
    ['a\nb', 'newline'],
    ['a\u0000b', 'NUL'],
    ['a\u001b]0;x\u0007', 'escape sequence'],
    ['a\u007fb', 'DEL'],
  ])('refuses %j (%s), naming the artifact and the path', (bad) => {
    expect(() => safeJoin(ROOT, bad, 'chart evil 1.0.0')).toThrow(FerryError);
    try {
      safeJoin(ROOT, bad, 'chart evil 1.0.0');
    } catch (err) {
      expect((err as FerryError).code).toBe('VERIFY');
      expect((err as FerryError).message).toBe(`chart evil 1.0.0: refusing path ${JSON.stringify(bad)}: it would lead outside the target directory`);
    }
  });

  it('checks every part, not only the joined result', () => {
    expect(() => safeJoin(ROOT, ['a', '../b'], 'x')).toThrow(/refusing path "\.\.\/b"/);
    expect(() => safeJoin(ROOT, ['a/b', '/c'], 'x')).toThrow(FerryError);
  });

  it('refuses a result equal to the root itself (there is nothing to write at the root)', () => {
    expect(() => safeJoin(ROOT, [], 'x')).toThrow(FerryError);
  });

  it('refuses non-strings from parsed JSON', () => {
    expect(() => safeJoin(ROOT, 42 as unknown as string, 'x')).toThrow(FerryError);
    expect(() => safeJoin(ROOT, [null as unknown as string], 'x')).toThrow(FerryError);
  });
});

describe('isSafeRelativePath / checkRelativePath / isSafeSegment', () => {
  it('accepts what bundles carry', () => {
    for (const p of ['dists/bookworm/main/binary-amd64/Packages', 'pool/main/j/jq/jq_1.6-2.1+deb12u3_amd64.deb', 'index.yaml', 'a b/c']) {
      expect(isSafeRelativePath(p)).toBe(true);
      expect(checkRelativePath(p, 'x')).toBe(p);
    }
  });

  it('segments are single names', () => {
    expect(isSafeSegment('tiny-1.0.0.tgz')).toBe(true);
    expect(isSafeSegment('a/b')).toBe(false);
    expect(isSafeSegment('..')).toBe(false);
    expect(isSafeSegment('.')).toBe(false);
    expect(isSafeSegment('')).toBe(false);
  });
});
