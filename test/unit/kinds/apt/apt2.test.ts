import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseRelease } from '../../../../src/kinds/apt/control.js';
import { HttpClient } from '../../../../src/net/http.js';
import { BlobStore } from '../../../../src/store/blob-store.js';
import { startStaticServer } from '../../../support/static-http.js';
import { aptPackageMoves } from '../../../../src/commands/lock-diff.js';
import { computeClosure, type AptPackage, type SourceInfo } from '../../../../src/kinds/apt/deps.js';
import { parseDeb822 } from '../../../../src/kinds/apt/control.js';
import { fetchIndex, stanzaToPackage } from '../../../../src/kinds/apt/repo.js';

// Breaks and Conflicts in the closure: a client that installed an older version from the same
// suite family must be able to upgrade it when a carried package breaks it. Synthetic Packages
// stanzas, read as lock reads them (stanzaToPackage).

let n = 0;
/** `source` then Packages paragraphs (without Filename/SHA256/Size: filled in). */
function index(source: number, text: string): AptPackage[] {
  return parseDeb822(text).map((st) => {
    n++;
    const f = st.fields;
    f.set('filename', `pool/${source}/${f.get('package')}_${f.get('version')}_${f.get('architecture') ?? 'all'}.deb`);
    f.set('sha256', n.toString(16).padStart(64, '0'));
    f.set('size', String(n));
    return stanzaToPackage(st, source, `source ${source}`);
  });
}
const names = (s: Set<AptPackage> | undefined) => [...(s ?? [])].map((p) => `${p.name}=${p.version}`).sort();

const bookworm: SourceInfo[] = [
  { whole: false, family: 'bookworm', label: 'debian bookworm' },
  { whole: false, family: 'bookworm', label: 'debian bookworm-updates' },
  { whole: false, family: 'bookworm', label: 'debian-security bookworm-security' },
  { whole: false, family: 'trixie', label: 'debian trixie' },
];

describe('apt closure: Breaks and Conflicts', () => {
  it('carries the newest unbroken version of a package the closure Breaks, with its own closure', () => {
    const pkgs = [
      ...index(0, [
        'Package: app\nVersion: 2.0\nArchitecture: amd64\nDepends: libnew\nBreaks: libfoo (<< 2)\n',
        'Package: libnew\nVersion: 1.0\nArchitecture: amd64\n',
        'Package: libfoo\nVersion: 1.0\nArchitecture: amd64\n',
        'Package: libfoo\nVersion: 2.1\nArchitecture: amd64\nDepends: libfoo-data (= 2.1)\n',
        'Package: libfoo-data\nVersion: 2.1\nArchitecture: all\n',
        '',
      ].join('\n')),
    ];
    const r = computeClosure(pkgs, bookworm, [{ source: 0, names: ['app'], architectures: ['amd64'] }]);
    expect(names(r.selected.get(0))).toEqual(['app=2.0', 'libfoo-data=2.1', 'libfoo=2.1', 'libnew=1.0']);
    expect(r.upgrades.get(0)).toEqual(['libfoo 2.1 (app 2.0 breaks libfoo (<< 2))']);
    expect(r.unsatisfied.size).toBe(0);
  });

  it('takes the fix from another suite of the family (-security fixes what the release shipped); never from another family', () => {
    const pkgs = [
      ...index(2, 'Package: openssl\nVersion: 3.0.17-1~deb12u2\nArchitecture: amd64\nConflicts: libssl3 (<< 3.0.17)\n'),
      ...index(0, 'Package: libssl3\nVersion: 3.0.11-1~deb12u1\nArchitecture: amd64\n'),
      ...index(2, 'Package: libssl3\nVersion: 3.0.17-1~deb12u2\nArchitecture: amd64\n'),
      ...index(3, 'Package: libssl3\nVersion: 3.5.1-1\nArchitecture: amd64\n'),
    ];
    const r = computeClosure(pkgs, bookworm, [{ source: 2, names: ['openssl'], architectures: ['amd64'] }]);
    expect(names(r.selected.get(2))).toEqual(['libssl3=3.0.17-1~deb12u2', 'openssl=3.0.17-1~deb12u2']);
    expect(r.selected.get(0)).toBeUndefined();
    expect(r.selected.get(3)).toBeUndefined();
  });

  it('is bounded: a Breaks against versions the family never listed adds nothing; an unversioned one means removal', () => {
    const pkgs = index(0, [
      'Package: libc6\nVersion: 2.36-9\nArchitecture: amd64\nBreaks: openarena (<< 0.8.8+dfsg-4~), nscd (<< 2.36)\nConflicts: libc6-old\n',
      'Package: openarena\nVersion: 0.8.8+dfsg-5\nArchitecture: amd64\nDepends: openarena-data\n',
      'Package: openarena-data\nVersion: 0.8.8-5\nArchitecture: all\n',
      'Package: nscd\nVersion: 2.36-9\nArchitecture: amd64\n',
      'Package: libc6-old\nVersion: 1\nArchitecture: amd64\n',
      '',
    ].join('\n'));
    const r = computeClosure(pkgs, bookworm, [{ source: 0, names: ['libc6'], architectures: ['amd64'] }]);
    expect(names(r.selected.get(0))).toEqual(['libc6=2.36-9']);
    expect(r.upgrades.size).toBe(0);
  });

  it('no fix listed: nothing carried (apt removes the broken package or keeps the upgrade back); never a downgrade', () => {
    const pkgs = index(0, [
      'Package: app\nVersion: 2\nArchitecture: amd64\nBreaks: libfoo (>= 3), libbar (<< 5)\n',
      'Package: libfoo\nVersion: 3\nArchitecture: amd64\n',
      'Package: libfoo\nVersion: 2\nArchitecture: amd64\n',
      'Package: libbar\nVersion: 4\nArchitecture: amd64\n',
      '',
    ].join('\n'));
    const r = computeClosure(pkgs, bookworm, [{ source: 0, names: ['app'], architectures: ['amd64'] }]);
    expect(names(r.selected.get(0))).toEqual(['app=2']);
  });

  it('a package already in the closure stays at its version; Breaks of an added package are followed too', () => {
    const pkgs = index(0, [
      'Package: app\nVersion: 2\nArchitecture: amd64\nDepends: libfoo\nBreaks: libfoo (<< 2)\n',
      'Package: libfoo\nVersion: 1\nArchitecture: amd64\n',
      'Package: libfoo\nVersion: 2\nArchitecture: amd64\nBreaks: plugin (<< 2)\n',
      'Package: plugin\nVersion: 1\nArchitecture: all\n',
      'Package: plugin\nVersion: 2\nArchitecture: all\n',
      '',
    ].join('\n'));
    const r = computeClosure(pkgs, bookworm, [{ source: 0, names: ['app'], architectures: ['amd64'] }]);
    expect(names(r.selected.get(0))).toEqual(['app=2', 'libfoo=2', 'plugin=2']);
    expect(r.upgrades.get(0)).toEqual(['plugin 2 (libfoo 2 breaks plugin (<< 2))']);
  });
});

describe('an index that does not match its signed Release (a mirror mid-sync)', () => {
  it('names the file, both sizes and what to do, instead of a dropped connection', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-apt2-'));
    const server = await startStaticServer(dir);
    const http = new HttpClient({ retry: { retries: 1, minTimeoutMs: 10, maxTimeoutMs: 20, maxRetryAfterMs: 100 } });
    try {
      // deb.debian.org/debian-security served this on 2026-12-06: 130640 bytes where the Release lists 138680.
      const listed = Buffer.alloc(2000, 0x61);
      const served = listed.subarray(0, 1500);
      await mkdir(path.join(dir, 'dists/bookworm-security/main/binary-all'), { recursive: true });
      await writeFile(path.join(dir, 'dists/bookworm-security/main/binary-all/Packages.xz'), served);
      const hash = createHash('sha256').update(listed).digest('hex');
      const release = parseRelease(['Suite: stable-security', 'Codename: bookworm-security', 'SHA256:', ` ${hash} ${listed.length} main/binary-all/Packages.xz`, ''].join('\n'));
      const store = new BlobStore(path.join(dir, 'store'));
      await store.init();
      const err = await fetchIndex(server.url, 'bookworm-security', 'main/binary-all/Packages.xz', release, http, store, 'apt[sec] bookworm-security').catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'VERIFY' });
      const e = err as { message: string; hint: string };
      expect(e.message).toContain('apt[sec] bookworm-security dists/bookworm-security/main/binary-all/Packages.xz');
      expect(e.message).toContain(`the server's file is 1500 bytes, the signed Release lists 2000 (sha256 ${hash})`);
      expect(e.hint).toMatch(/mid-sync/);
      expect(e.hint).toMatch(/another mirror/);
    } finally {
      await http.close();
      await server.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('what a re-lock of a filtered suite names', () => {
  it('each package whose versions moved, added or dropped, by name; a long list cut with how many more', () => {
    const p = (name: string, version: string) => ({ name, version });
    expect(aptPackageMoves([p('app', '1.0'), p('libfoo', '1.0'), p('libold', '3'), p('same', '1')], [p('app', '2.0'), p('libfoo', '2.0'), p('libnew', '1.0'), p('same', '1')])).toBe(
      'app 1.0 → 2.0, libfoo 1.0 → 2.0, +libnew 1.0, -libold 3',
    );
    const many = Array.from({ length: 25 }, (_, i) => p(`p${String(i).padStart(2, '0')}`, '1'));
    expect(aptPackageMoves([], many)).toMatch(/^\+p00 1, .*\+p19 1 and 5 more$/);
  });
});
