import { Readable } from 'node:stream';
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { aptPackage, selectedNames } from '../../../support/apt-packages.js';
import { computeClosure, type SourceInfo } from '../../../../src/kinds/apt/deps.js';
import { indexText, packagesIndexFor } from '../../../../src/kinds/apt/repo.js';
import { parseRelease } from '../../../../src/kinds/apt/control.js';

// Patterns found by installing ferry's filtered mirrors of real Debian package sets with apt
// (bookworm + bookworm-updates): synthetic stanzas of the same shape.

const pkg = aptPackage;
const names = selectedNames;

describe('apt oracle: version choice across the suites of one family', () => {
  const suites: SourceInfo[] = [
    { whole: false, family: 'bookworm', label: 'debian bookworm' },
    { whole: false, family: 'bookworm', label: 'debian bookworm-updates' },
    { whole: false, family: 'bookworm', label: 'debian-security bookworm-security' },
  ];

  it('a dependency takes the newest version of the family (apt installs that one), not the stale one of its own suite', () => {
    const pkgs = [
      pkg(0, 'curl', '7.88.1-10', { depends: 'libcurl4 (= 7.88.1-10), libssl3 (>= 3.0.0)' }),
      pkg(0, 'libcurl4', '7.88.1-10'),
      pkg(0, 'libssl3', '3.0.11-1~deb12u1'),
      pkg(2, 'libssl3', '3.0.17-1~deb12u2'),
      pkg(1, 'tzdata', '2025b-0+deb12u1'),
    ];
    const r = computeClosure(pkgs, suites, [{ source: 0, names: ['curl'], architectures: ['amd64'] }]);
    expect(names(r.selected.get(0))).toEqual(['curl=7.88.1-10', 'libcurl4=7.88.1-10']);
    expect(names(r.selected.get(2))).toEqual(['libssl3=3.0.17-1~deb12u2']);
    expect(r.unsatisfied.size).toBe(0);
  });

  it('an exact-version dependency still takes the version it names; the same version in two suites stays in the own one', () => {
    const pkgs = [
      pkg(0, 'app', '1', { depends: 'lib (= 1.0), data' }),
      pkg(0, 'lib', '1.0'),
      pkg(1, 'lib', '1.1'),
      pkg(0, 'data', '2', { arch: 'all' }),
      pkg(1, 'data', '2', { arch: 'all' }),
    ];
    const r = computeClosure(pkgs, suites, [{ source: 0, names: ['app'], architectures: ['amd64'] }]);
    expect(names(r.selected.get(0))).toEqual(['app=1', 'data=2', 'lib=1.0']);
    expect(r.selected.get(1)).toBeUndefined();
  });

  it('another family does not win by version', () => {
    const mixed: SourceInfo[] = [
      { whole: false, family: 'bookworm', label: 'bookworm' },
      { whole: false, family: 'trixie', label: 'trixie' },
    ];
    const pkgs = [pkg(0, 'app', '1', { depends: 'lib' }), pkg(0, 'lib', '1'), pkg(1, 'lib', '9')];
    const r = computeClosure(pkgs, mixed, [{ source: 0, names: ['app'], architectures: ['amd64'] }]);
    expect(names(r.selected.get(0))).toEqual(['app=1', 'lib=1']);
    expect(r.selected.get(1)).toBeUndefined();
  });
});

describe('apt oracle: Debian -updates and -security suites serve only Packages.xz', () => {
  const release = (files: string[]) =>
    parseRelease(['Suite: bookworm-updates', 'Architectures: amd64', 'Components: main', 'SHA256:', ...files.map((f, i) => ` ${String(i).padStart(64, 'a')} 10 ${f}`), ''].join('\n'));

  it('reads Packages.xz when there is no .gz (the plain Packages is listed but not served)', () => {
    expect(packagesIndexFor(release(['main/binary-amd64/Packages', 'main/binary-amd64/Packages.xz']), 'main', 'amd64')).toBe('main/binary-amd64/Packages.xz');
    expect(packagesIndexFor(release(['main/binary-amd64/Packages', 'main/binary-amd64/Packages.gz', 'main/binary-amd64/Packages.xz']), 'main', 'amd64')).toBe('main/binary-amd64/Packages.gz');
  });

  it('decompresses an .xz index, and refuses a damaged one', async () => {
    const text = 'Package: jq\nVersion: 1.6\n\n';
    const xz = execFileSync('xz', ['-c'], { input: text });
    const read = async (bytes: Buffer) => {
      const chunks: Buffer[] = [];
      for await (const c of indexText(Readable.from([bytes]), 'dists/bookworm-updates/main/binary-amd64/Packages.xz')) chunks.push(c as Buffer);
      return Buffer.concat(chunks).toString();
    };
    expect(await read(xz)).toBe(text);
    await expect(read(Buffer.from('not xz at all'))).rejects.toThrow(/Packages\.xz: not valid xz/);
    // Cut short: an error, never a shorter index.
    const long = execFileSync('xz', ['-c'], { input: 'Package: x\nVersion: 1\n\n'.repeat(20_000) });
    await expect(read(long.subarray(0, long.length - 40))).rejects.toThrow(/Packages\.xz: not valid xz/);
    // The decompressed-size bound holds for xz too (a compression bomb).
    const bomb = execFileSync('xz', ['-c'], { input: Buffer.alloc(3 * 1024 * 1024, 0x41) });
    const chunks: Buffer[] = [];
    const bounded = indexText(Readable.from([bomb]), 'dists/x/main/binary-amd64/Packages.xz', 1024 * 1024);
    await expect((async () => { for await (const c of bounded) chunks.push(c as Buffer); })()).rejects.toThrow(/more than 1048576 bytes once decompressed/);
  });
});
