import { describe, expect, it } from 'vitest';
import { aptPackage, selectedNames } from '../../support/apt-packages.js';
import { computeClosure, parseRelations, type SourceInfo } from '../../../src/kinds/apt/deps.js';

const pkg = aptPackage;
const names = selectedNames;

describe('dependency relations', () => {
  it('parses alternatives, versions, architecture qualifiers and restrictions', () => {
    expect(parseRelations('libc6 (>= 2.34), foo:any | bar (<< 2) [amd64], baz <!nocheck>, qux (> 1)')).toEqual([
      [{ name: 'libc6', op: '>=', version: '2.34' }],
      [{ name: 'foo', arch: 'any' }, { name: 'bar', op: '<<', version: '2' }],
      [{ name: 'baz' }],
      [{ name: 'qux', op: '>=', version: '1' }],
    ]);
  });
});

describe('dependency closure', () => {
  const one: SourceInfo[] = [{ whole: false, family: 'bookworm', label: 'a' }];

  it('follows Depends and Pre-Depends, picks the newest version, reports what nothing satisfies', () => {
    const pkgs = [
      pkg(0, 'jq', '1.6', { depends: 'libjq1 (= 1.6), libc6 (>= 2.34)' }),
      pkg(0, 'libjq1', '1.6', { depends: 'libonig5 (>= 6.1)', preDepends: 'dpkg (>= 1.15)' }),
      pkg(0, 'libonig5', '6.9.8'),
      pkg(0, 'libonig5', '6.9.9'),
      pkg(0, 'dpkg', '1.21'),
      pkg(0, 'unrelated', '1'),
    ];
    const r = computeClosure(pkgs, one, [{ source: 0, names: ['jq'], architectures: ['amd64'] }]);
    expect(names(r.selected.get(0))).toEqual(['dpkg=1.21', 'jq=1.6', 'libjq1=1.6', 'libonig5=6.9.9']);
    expect(r.unsatisfied.get(0)).toEqual(['jq 1.6 (amd64) depends on libc6 (>= 2.34)']);
  });

  it('takes the first satisfiable alternative, and a versioned dependency only from a versioned Provides', () => {
    const pkgs = [
      pkg(0, 'app', '1', { depends: 'missing | mawk, awk-impl (>= 2)' }),
      pkg(0, 'mawk', '1.3', { provides: 'awk' }),
      pkg(0, 'gawk', '5', { provides: 'awk-impl (= 1)' }),
      pkg(0, 'busybox', '1', { provides: 'awk-impl (= 3)' }),
    ];
    const r = computeClosure(pkgs, one, [{ source: 0, names: ['app'], architectures: ['amd64'] }]);
    expect(names(r.selected.get(0))).toEqual(['app=1', 'busybox=1', 'mawk=1.3']);
  });

  it('uses architecture all and Multi-Arch: foreign, and :any only with Multi-Arch: allowed', () => {
    const pkgs = [
      pkg(0, 'tool', '1', { depends: 'data, helper, perl:any, python3:any' }),
      pkg(0, 'data', '1', { arch: 'all' }),
      pkg(0, 'helper', '1', { arch: 'arm64', multiArch: 'foreign' }),
      pkg(0, 'perl', '5', { arch: 'arm64', multiArch: 'allowed' }),
      pkg(0, 'python3', '3', { arch: 'arm64' }),
    ];
    const r = computeClosure(pkgs, one, [{ source: 0, names: ['tool'], architectures: ['amd64'] }]);
    expect(names(r.selected.get(0))).toEqual(['data=1', 'helper=1', 'perl=5', 'tool=1']);
    expect(r.unsatisfied.get(0)).toEqual(['tool 1 (amd64) depends on python3:any']);
  });

  it('satisfies from other listed repositories: adds to filtered ones, not to whole mirrors, prefers the same suite family', () => {
    const sources: SourceInfo[] = [
      { whole: false, family: 'jammy', label: 'vendor jammy' },
      { whole: true, family: 'jammy', label: 'ubuntu jammy' },
      { whole: false, family: 'noble', label: 'extra noble' },
      { whole: false, family: 'jammy', label: 'extra jammy' },
    ];
    const pkgs = [
      pkg(0, 'server', '8.0', { depends: 'libc6, libextra' }),
      pkg(1, 'libc6', '2.35'),
      pkg(2, 'libextra', '9'),
      pkg(3, 'libextra', '2'),
    ];
    const r = computeClosure(pkgs, sources, [{ source: 0, names: ['server'], architectures: ['amd64'] }]);
    expect(names(r.selected.get(0))).toEqual(['server=8.0']);
    expect(r.selected.get(1)).toBeUndefined();
    expect(names(r.selected.get(3))).toEqual(['libextra=2']);
    expect(r.selected.get(2)).toBeUndefined();
    expect(r.unsatisfied.size).toBe(0);
  });

  it('takes an exact version when asked with name=version', () => {
    const pkgs = [pkg(0, 'srv', '8.0.36'), pkg(0, 'srv', '8.0.40')];
    expect(names(computeClosure(pkgs, one, [{ source: 0, names: ['srv=8.0.36'], architectures: ['amd64'] }]).selected.get(0))).toEqual(['srv=8.0.36']);
    expect(names(computeClosure(pkgs, one, [{ source: 0, names: ['srv'], architectures: ['amd64'] }]).selected.get(0))).toEqual(['srv=8.0.40']);
    expect(computeClosure(pkgs, one, [{ source: 0, names: ['srv=9'], architectures: ['amd64'] }]).missing.get(0)).toEqual(['srv=9']);
  });

  it('reports requested packages that the repository does not have', () => {
    const r = computeClosure([pkg(0, 'a', '1')], one, [{ source: 0, names: ['a', 'nope'], architectures: ['amd64'] }]);
    expect(r.missing.get(0)).toEqual(['nope']);
  });

  it('terminates on dependency cycles', () => {
    const pkgs = [pkg(0, 'a', '1', { depends: 'b' }), pkg(0, 'b', '1', { depends: 'a' })];
    const r = computeClosure(pkgs, one, [{ source: 0, names: ['a'], architectures: ['amd64'] }]);
    expect(names(r.selected.get(0))).toEqual(['a=1', 'b=1']);
  });
});
