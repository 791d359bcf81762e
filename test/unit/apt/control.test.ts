import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { parseDeb822, parseRelease, streamDeb822 } from '../../../src/kinds/apt/control.js';
import { buildRelease, compressedVariants, sha256 } from '../../../src/kinds/apt/publish.js';
import { packagesIndexFor, safePoolPath, selectIndexPaths } from '../../../src/kinds/apt/repo.js';

const RELEASE = `Origin: Debian
Label: Debian
Suite: stable
Codename: bookworm
Date: Sat, 09 Nov 2024 10:00:00 UTC
Valid-Until: Sat, 16 Nov 2024 10:00:00 UTC
Acquire-By-Hash: yes
Architectures: all amd64 arm64
Components: main contrib
MD5Sum:
 0123456789abcdef0123456789abcdef 100 main/binary-amd64/Packages
SHA256:
 ${'1'.repeat(64)} 1000 main/binary-amd64/Packages
 ${'2'.repeat(64)}  300 main/binary-amd64/Packages.gz
 ${'3'.repeat(64)}  250 main/binary-amd64/Packages.xz
 ${'4'.repeat(64)}  100 main/binary-arm64/Packages.gz
 ${'5'.repeat(64)}  100 main/binary-all/Packages.gz
 ${'6'.repeat(64)}  100 main/i18n/Translation-en.bz2
 ${'7'.repeat(64)}  100 main/Contents-amd64.gz
 ${'8'.repeat(64)}  100 main/source/Sources.gz
 ${'9'.repeat(64)}  100 contrib/binary-amd64/Packages.gz
 ${'a'.repeat(64)}  100 main/dep11/Components-amd64.yml.gz
 ${'b'.repeat(64)}  100 main/dep11/Components-arm64.yml.gz
 ${'c'.repeat(64)}  100 main/dep11/icons-64x64@2.tar.gz
 ${'d'.repeat(64)}  100 main/cnf/Commands-amd64.xz
 ${'e'.repeat(64)}  100 main/debian-installer/binary-amd64/Packages.gz
`;

describe('deb822 and Release', () => {
  it('parses paragraphs with continuation lines, keeping the raw text', () => {
    const s = parseDeb822('Package: a\nDescription: short\n long line\n .\n\nPackage: b\nVersion: 1\n', true);
    expect(s).toHaveLength(2);
    expect(s[0].fields.get('description')).toBe('short\nlong line\n.');
    expect(s[0].raw).toBe('Package: a\nDescription: short\n long line\n .');
    expect(s[1].fields.get('version')).toBe('1');
  });

  it('streams paragraphs from an index', async () => {
    const got: string[] = [];
    for await (const st of streamDeb822(Readable.from(['Package: a\n\n', 'Package: b\nVersion: 2\n']))) got.push(st.fields.get('package')!);
    expect(got).toEqual(['a', 'b']);
  });

  it('streams across chunk boundaries, CRLF and whitespace-only separator lines, keeping only asked fields', async () => {
    const chunks = ['Package: a\r\nDescription: x\r\n long\r\n\r', '\nPackage: b\nVer', 'sion: 2\n \nPackage: c\n\n\n\nPackage: d'];
    const got: Array<[string, string | undefined, boolean]> = [];
    for await (const st of streamDeb822(Readable.from(chunks), true, new Set(['package', 'version']))) {
      got.push([st.fields.get('package')!, st.fields.get('version'), st.fields.has('description')]);
    }
    expect(got).toEqual([
      ['a', undefined, false],
      ['b', '2', false],
      ['c', undefined, false],
      ['d', undefined, false],
    ]);
  });

  it('reads the hash lists, by-hash, and selects the indexes a mirror carries', () => {
    const r = parseRelease(RELEASE);
    expect(r.acquireByHash).toBe(true);
    expect(r.sha256.get('main/binary-amd64/Packages.gz')).toEqual({ hash: '2'.repeat(64), size: 300 });
    expect(r.hashes.get('MD5Sum')?.size).toBe(1);
    expect(selectIndexPaths(r, ['main'], ['amd64'])).toEqual([
      'main/binary-all/Packages.gz',
      'main/binary-amd64/Packages',
      'main/binary-amd64/Packages.gz',
      'main/binary-amd64/Packages.xz',
      'main/cnf/Commands-amd64.xz',
      'main/dep11/Components-amd64.yml.gz',
      'main/dep11/icons-64x64@2.tar.gz',
      'main/i18n/Translation-en.bz2',
    ]);
    expect(packagesIndexFor(r, 'main', 'amd64')).toBe('main/binary-amd64/Packages.gz');
    expect(packagesIndexFor(r, 'main', 'riscv64')).toBeUndefined();
  });

  it('refuses package paths that leave the repository', () => {
    expect(safePoolPath('pool/main/j/jq/jq_1.6_amd64.deb', 'x')).toBe('pool/main/j/jq/jq_1.6_amd64.deb');
    for (const bad of ['../etc/passwd', '/etc/passwd', 'pool/../../x', 'pool//x']) expect(() => safePoolPath(bad, 'x')).toThrow(/refusing package path/);
  });

  it('generates a deterministic Release for a filtered suite, hashing each index and its gzip', () => {
    const packages = Buffer.from('Package: jq\nVersion: 1.6\n');
    const idx = compressedVariants('main/binary-amd64/Packages', packages);
    expect(gunzipSync(idx[1].bytes)).toEqual(packages);
    expect(compressedVariants('main/binary-amd64/Packages', packages)[1].bytes).toEqual(idx[1].bytes);
    const cfg = { suite: 'stable', codename: 'bookworm', origin: 'Debian', label: 'Debian', date: 'Sat, 09 Nov 2024 10:00:00 UTC', components: ['main'], architectures: ['amd64'], acquireByHash: true };
    const text = buildRelease(cfg, idx, 'filtered');
    expect(text).toBe(buildRelease(cfg, idx, 'filtered'));
    const parsed = parseRelease(text);
    expect(parsed.fields.get('codename')).toBe('bookworm');
    expect(parsed.fields.get('date')).toBe(cfg.date);
    expect(parsed.fields.has('valid-until')).toBe(false);
    expect(parsed.acquireByHash).toBe(true);
    expect(parsed.sha256.get('main/binary-amd64/Packages')).toEqual({ hash: sha256(packages), size: packages.length });
    expect(parsed.sha256.get('main/binary-amd64/Packages.gz')?.hash).toBe(sha256(idx[1].bytes));
  });
});

describe('by-hash', () => {
  it('publishes the strongest hash the Release lists, and SHA256 for older clients', async () => {
    const { byHashTypes, byHashPath } = await import('../../../src/kinds/apt/import.js');
    const r = parseRelease(RELEASE);
    expect(byHashTypes(r.hashes, 'main/binary-amd64/Packages')).toEqual(['SHA256']);
    const withSha512 = parseRelease(`${RELEASE}SHA512:\n ${'f'.repeat(128)} 1000 main/binary-amd64/Packages\n`);
    expect(byHashTypes(withSha512.hashes, 'main/binary-amd64/Packages')).toEqual(['SHA512', 'SHA256']);
    expect(byHashPath('main/binary-amd64/Packages.gz', 'SHA256', 'ab')).toBe('main/binary-amd64/by-hash/SHA256/ab');
  });

  it('ignores Release lines that are not a hex hash, a size and a path inside the suite', () => {
    const r = parseRelease(`SHA256:\n ../../x 10 main/a\n ${'1'.repeat(64)} 10 ../../etc/passwd\n ${'1'.repeat(64)} 10 /abs\n ${'2'.repeat(64)} 10 main/ok\n`);
    expect([...r.sha256.keys()]).toEqual(['main/ok']);
  });
});
