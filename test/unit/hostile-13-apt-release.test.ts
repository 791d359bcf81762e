import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { FerryError } from '../../src/errors.js';
import type { AptConfig, AptSuiteConfig } from '../../src/kinds/apt/fetch.js';
import { parseRelease } from '../../src/kinds/apt/control.js';
import { byHashTypes, readAptArtifact } from '../../src/kinds/apt/import.js';
import { filteredSuite } from '../../src/kinds/apt/publish.js';
import type { OciDescriptor } from '../../src/oci/media-types.js';
import type { BlobSource } from '../../src/store/source.js';

/**
 * Hostile pass 13: the Release ferry writes for a filtered APT mirror and signs with the site key
 * (at import into a directory target, and in `ferry serve`). Its Origin, Label, Codename, Date,
 * Version, Components and Architectures come from the suite's config in the bundle, copied there
 * from the vendor's Release; its Description names the repository's name and URL.
 *
 * What tripped: each value was written as it came. A line break in one (a crafted bundle's
 * config, or a deb822 continuation line in the vendor's Release: ` Valid-Until: …` under
 * `Origin:`) started a field of its own in the Release the site key signed — a `Valid-Until` in
 * the past (every client refuses the mirror), a second `SHA256:` list, any field apt reads.
 * - a Release (a whole mirror's, from a bundle: not re-verified at import) listing an index under
 *   a "SHA512" of 5 000 hex digits: import planned the index's by-hash copy under that name, a
 *   file name past NAME_MAX (255 bytes), so the write fails with ENAMETOOLONG once import is under
 *   way. A hash is now taken only at its algorithm's length.
 */

const digest = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const packages = { path: 'main/binary-amd64/Packages', bytes: Buffer.from('') };
const base: AptSuiteConfig = { suite: 'bookworm', origin: 'Debian', codename: 'bookworm', components: ['main'], architectures: ['amd64'], acquireByHash: true };

/** The error `p` ends with (undefined if it resolves: the code checks below then fail). */
const refusal = (p: Promise<unknown>): Promise<FerryError> => p.then(() => undefined as unknown as FerryError, (e: FerryError) => e);

describe('the Release a filtered mirror publishes, from a crafted suite config', () => {
  it('an honest config gives one line per field', async () => {
    const { release } = await filteredSuite(base, [packages], 'Filtered mirror of https://deb.example/debian (debian), published by ferry');
    expect(release.split('\n').filter((l) => /^Origin:|^Valid-Until:/.test(l))).toEqual(['Origin: Debian']);
  });

  it('a line break in Origin, Date, a component or the description is refused (it added a Valid-Until the site key signed)', async () => {
    const cases: Array<[Partial<AptSuiteConfig>, string, RegExp]> = [
      [{ origin: 'Debian\nValid-Until: Thu, 01 Jan 1970 00:00:00 UTC' }, 'd', /^origin "Debian\\nValid-Until/],
      [{ date: 'Sat, 05 Dec 2026 00:00:00 UTC\r\nSHA256:' }, 'd', /^date /],
      [{ label: 'x\u0085Valid-Until: 1970' }, 'd', /^label /],
      [{ components: ['main\nValid-Until: Thu, 01 Jan 1970 00:00:00 UTC'] }, 'd', /^components has /],
      [{ architectures: ['amd64 arm64'] }, 'd', /^architectures has /],
      [{ suite: 'bookworm\nValid-Until: 1970' }, 'd', /^suite /],
      [{}, 'Filtered mirror of https://x/ (a\nValid-Until: Thu, 01 Jan 1970 00:00:00 UTC), published by ferry', /^the description /],
    ];
    for (const [change, description, detail] of cases) {
      const err = await refusal(filteredSuite({ ...base, ...change }, [packages], description));
      expect(err.code).toBe('VERIFY');
      expect(err.message).toMatch(/the suite's config cannot be published in a Release$/);
      expect(err.details?.[0]).toMatch(detail);
    }
  });

  it('a crafted bundle config is refused when the artifact is read (import plans it, serve skips it), every problem named', async () => {
    const cfg: AptConfig = {
      name: 'debian',
      url: 'https://deb.example/debian',
      mode: 'filtered',
      suites: [{ ...base, origin: 'Debian\nValid-Until: Thu, 01 Jan 1970 00:00:00 UTC', components: ['main\nSHA256:'] }],
    };
    const cfgBytes = Buffer.from(JSON.stringify(cfg));
    const cfgDesc: OciDescriptor = { mediaType: 'application/vnd.ferry.apt.config.v1+json', digest: digest(cfgBytes), size: cfgBytes.length };
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: cfgDesc, layers: [] }));
    const blobs = new Map([
      [cfgDesc.digest, cfgBytes],
      [digest(manifest), manifest],
    ]);
    const source: BlobSource = {
      blobSize: async (d) => blobs.get(d)?.length,
      openBlob: async (d) => Readable.from([blobs.get(d)!]),
      readBlob: async (d) => blobs.get(d)!,
      readIndex: async () => ({ schemaVersion: 2, manifests: [] }),
    };
    const top: OciDescriptor = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: digest(manifest), size: manifest.length, annotations: { 'io.ferry.source': cfg.url } };
    const err = await refusal(readAptArtifact(top, source));
    expect(err.code).toBe('VERIFY');
    expect(err.details).toEqual(['origin "Debian\\nValid-Until: Thu, 01 Jan 1970 00:00:00 UTC" is not one line of text', 'components has "main\\nSHA256:", which is not a word']);
  });

  it('a Release hash of the wrong length names no file: no by-hash copy is planned under it', () => {
    const text = ['Suite: bookworm', 'Acquire-By-Hash: yes', 'SHA256:', ` ${'a'.repeat(64)} 10 main/binary-amd64/Packages`, 'SHA512:', ` ${'b'.repeat(5000)} 10 main/binary-amd64/Packages`, ` ${'c'.repeat(127)} 10 main/binary-amd64/Packages.gz`, ''].join('\n');
    const rel = parseRelease(text);
    expect(rel.hashes.get('SHA512')?.size).toBe(0);
    expect(byHashTypes(rel.hashes, 'main/binary-amd64/Packages')).toEqual(['SHA256']);
  });
});
