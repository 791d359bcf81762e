import { expect, it } from 'vitest';
import { goRegex } from '../../../src/kinds/chart/render/regex.js';
import { mergeImageValues } from '../../../src/kinds/chart/lock.js';

it('(?i) folds letters written as hex escapes too, as Go does', () => {
  // Go: regexp.MustCompile(`(?i)\x41`).MatchString("a") == true; `(?i)^[\x41-\x5a]+$` matches "abc".
  expect(goRegex('(?i)\\x41', false, 'a').test('a')).toBe(true);
  expect(goRegex('(?i)^[\\x41-\\x5a]+$', false, 'abc').test('abc')).toBe(true);
});

it('ordinary chart patterns keep their results on the linear engine', () => {
  const dns = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
  expect(goRegex(dns, false, 'my-app-1').exec('my-app-1')?.[1]).toBe('y-app-1');
  expect(goRegex(dns, false, 'My-app-').test('My-app-')).toBe(false);
  expect(goRegex('(?i)^v?[0-9]+\\.[0-9]+', false, 'V1.2.3').exec('V1.2.3')?.[0]).toBe('V1.2');
  expect(goRegex('(?i)[^a-c]+', false, 'ABCdef').exec('ABCdef')?.[0]).toBe('def');
  expect('a-b_c'.replace(goRegex('[^a-z]', true, 'a-b_c'), '')).toBe('abc');
});

it('imageValues merged from two locks of one chart keeps its keys in order (the lock is byte-stable)', () => {
  const merged = mergeImageValues({ 'docker.io/library/redis:7': [{ path: 'redis.image' }] }, { 'docker.io/bitnami/nginx:1': [{ path: 'image' }] });
  expect(Object.keys(merged)).toEqual(['docker.io/bitnami/nginx:1', 'docker.io/library/redis:7']);
  // The same two locks in the other order give the same record, key order included.
  const other = mergeImageValues({ 'docker.io/bitnami/nginx:1': [{ path: 'image' }] }, { 'docker.io/library/redis:7': [{ path: 'redis.image' }] });
  expect(JSON.stringify(other)).toBe(JSON.stringify(merged));
});

it('Go octal escapes (\\101) are characters, not backreferences; a lookahead inside a class is a member, not lookaround', () => {
  expect(goRegex('^\\101\\102$').test('AB')).toBe(true);
  expect(goRegex('[(?=]+').test('(?=')).toBe(true);
  // A lone \1 is still a backreference, refused as Go refuses it (Go says: invalid escape sequence).
  expect(() => goRegex('(a)\\1')).toThrow('invalid escape sequence: `\\1`');
});
