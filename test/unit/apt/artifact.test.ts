import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { FerryError } from '../../../src/errors.js';
import { APT_MANIFEST_BUDGET, APT_PACKAGES_PER_MANIFEST, MAX_APT_PARTS, packagesPerManifest, splitAptManifests, type AptManifestInput } from '../../../src/kinds/apt/artifact.js';
import { APT_ARTIFACT_TYPE, APT_CONFIG_TYPE, DEB_MEDIA_TYPE } from '../../../src/kinds/apt/fetch.js';
import { readAptArtifact } from '../../../src/kinds/apt/import.js';
import { MAX_MANIFEST_BYTES } from '../../../src/store/layout.js';
import type { OciDescriptor } from '../../../src/oci/media-types.js';
import type { BlobSource } from '../../../src/store/source.js';

const sha = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');
const TITLE = 'org.opencontainers.image.title';

/** Package descriptors as a whole Debian suite has them: long pool paths, real-looking sizes. */
function packages(n: number): OciDescriptor[] {
  return Array.from({ length: n }, (_, i) => {
    const name = `lib${'x'.repeat(i % 40)}package-number-${i}-dev`;
    return {
      mediaType: DEB_MEDIA_TYPE,
      digest: `sha256:${sha(String(i))}`,
      size: 100_000 + i,
      annotations: { [TITLE]: `pool/main/${name.slice(0, 4)}/${name}/${name}_1:2.${i}.0+dfsg-1~deb12u1_amd64.deb`, 'io.ferry.role': 'package' },
    };
  });
}

const configBytes = Buffer.from(JSON.stringify({ name: 'debian', url: 'http://deb.example/debian', mode: 'whole', suites: [{ suite: 'bookworm' }] }));
const config: OciDescriptor = { mediaType: APT_CONFIG_TYPE, digest: `sha256:${sha(configBytes)}`, size: configBytes.length };
const meta: OciDescriptor[] = ['dists/bookworm/InRelease', 'dists/bookworm/main/binary-amd64/Packages.xz'].map((p) => ({
  mediaType: 'application/octet-stream',
  digest: `sha256:${sha(p)}`,
  size: 10,
  annotations: { [TITLE]: p, 'io.ferry.role': p.endsWith('InRelease') ? 'release' : 'index' },
}));
const input = (n: number): AptManifestInput => ({
  artifactType: APT_ARTIFACT_TYPE,
  config,
  meta,
  packages: packages(n),
  annotations: { 'io.ferry.source': 'http://deb.example/debian', 'io.ferry.kind': 'apt', 'io.ferry.apt.mode': 'whole' },
});

/** A BlobSource over a map of blobs (what readAptArtifact reads: manifests and config). */
function source(blobs: Buffer[]): BlobSource {
  const byDigest = new Map(blobs.map((b) => [`sha256:${sha(b)}`, b]));
  return {
    blobSize: async (d) => byDigest.get(d)?.length,
    openBlob: async (d) => Readable.from([byDigest.get(d)!]),
    readBlob: async (d, max) => {
      const b = byDigest.get(d);
      if (!b) throw new FerryError('NOT_FOUND', `${d} missing`);
      if (max !== undefined && b.length > max) throw new FerryError('VERIFY', `${d} over ${max}`);
      return b;
    },
    readIndex: async () => ({ schemaVersion: 2, manifests: [] }),
  };
}
const topOf = (bytes: Buffer, mediaType: string): OciDescriptor => ({ mediaType, digest: `sha256:${sha(bytes)}`, size: bytes.length, annotations: { 'io.ferry.source': 'http://deb.example/debian' } });

describe('APT artifact split', () => {
  it('keeps a repository of up to 4000 packages as one manifest (none split)', () => {
    expect(splitAptManifests(input(APT_PACKAGES_PER_MANIFEST))).toBeUndefined();
    expect(splitAptManifests(input(APT_PACKAGES_PER_MANIFEST + 1))?.children.length).toBe(2);
  });

  it('splits 70 000 packages into manifests that each stay under the budget and the 4 MiB registries accept, in order, deterministically', () => {
    const inp = input(70_000);
    const split = splitAptManifests(inp)!;
    expect(split.children.length).toBeGreaterThanOrEqual(18);
    expect(split.children.length).toBeLessThan(MAX_APT_PARTS);
    for (const c of split.children) {
      expect(c.length).toBeLessThanOrEqual(APT_MANIFEST_BUDGET);
      expect(c.length).toBeLessThan(MAX_MANIFEST_BYTES);
    }
    expect(split.index.length).toBeLessThan(MAX_MANIFEST_BYTES);
    const parsed = split.children.map((c) => JSON.parse(c.toString('utf8')));
    // The layers, concatenated, are the single manifest's list: release and indexes first, then every package.
    expect(parsed.flatMap((m) => m.layers)).toEqual([...meta, ...inp.packages]);
    expect(parsed.every((m) => m.config.digest === config.digest && m.artifactType === APT_ARTIFACT_TYPE)).toBe(true);
    expect(parsed.map((m) => m.annotations['io.ferry.apt.part'])).toEqual(parsed.map((_, i) => `${i + 1}/${parsed.length}`));
    const index = JSON.parse(split.index.toString('utf8'));
    expect(index).toMatchObject({ mediaType: 'application/vnd.oci.image.index.v1+json', artifactType: APT_ARTIFACT_TYPE, annotations: { 'io.ferry.kind': 'apt' } });
    expect(index.manifests.map((d: OciDescriptor) => d.digest)).toEqual(split.children.map((c) => `sha256:${sha(c)}`));
    // Same input, same bytes.
    expect(splitAptManifests(input(70_000))!.index.equals(split.index)).toBe(true);
  });

  it('closes a manifest early when long file names would push it past the budget', () => {
    const inp = input(3000);
    for (const p of inp.packages) p.annotations![TITLE] = `pool/main/${'n'.repeat(900)}/${p.digest}.deb`;
    const split = splitAptManifests(inp)!;
    expect(split.children.length).toBeGreaterThan(1);
    for (const c of split.children) expect(c.length).toBeLessThanOrEqual(APT_MANIFEST_BUDGET);
  });

  it('takes the per-manifest count from FERRY_APT_PACKAGES_PER_MANIFEST (tests), refusing nonsense', () => {
    expect(packagesPerManifest({})).toBe(APT_PACKAGES_PER_MANIFEST);
    expect(packagesPerManifest({ FERRY_APT_PACKAGES_PER_MANIFEST: '3' })).toBe(3);
    expect(() => packagesPerManifest({ FERRY_APT_PACKAGES_PER_MANIFEST: '0' })).toThrow(/not a positive whole number/);
  });
});

describe('readAptArtifact reads both forms', () => {
  it('one manifest and an index of parts give the same layer list and config', async () => {
    const inp = input(10);
    const single = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', artifactType: APT_ARTIFACT_TYPE, config, layers: [...meta, ...inp.packages], annotations: {} }));
    const a = await readAptArtifact(topOf(single, 'application/vnd.oci.image.manifest.v1+json'), source([single, configBytes]));
    const split = splitAptManifests(inp, 3)!;
    expect(split.children.length).toBe(4);
    const b = await readAptArtifact(topOf(split.index, 'application/vnd.oci.image.index.v1+json'), source([split.index, ...split.children, configBytes]));
    expect(b.manifest.layers).toEqual(a.manifest.layers);
    expect(b.manifest.config).toEqual(a.manifest.config);
    expect(b.cfg.name).toBe('debian');
  });

  it('refuses an index that lists a part twice, a missing part, or parts with different configs', async () => {
    const split = splitAptManifests(input(10), 3)!;
    const index = JSON.parse(split.index.toString('utf8'));
    const twice = Buffer.from(JSON.stringify({ ...index, manifests: [index.manifests[0], index.manifests[0]] }));
    await expect(readAptArtifact(topOf(twice, index.mediaType), source([twice, ...split.children, configBytes]))).rejects.toThrow(/lists a manifest twice/);
    await expect(readAptArtifact(topOf(split.index, index.mediaType), source([split.index, ...split.children.slice(1), configBytes]))).rejects.toThrow(/missing/);
    const other = Buffer.from('{"name":"x"}');
    const child = JSON.parse(split.children[1].toString('utf8'));
    const bad = Buffer.from(JSON.stringify({ ...child, config: { ...config, digest: `sha256:${sha(other)}`, size: other.length } }));
    const badIndex = Buffer.from(JSON.stringify({ ...index, manifests: [index.manifests[0], { ...index.manifests[1], digest: `sha256:${sha(bad)}`, size: bad.length }] }));
    await expect(readAptArtifact(topOf(badIndex, index.mediaType), source([badIndex, split.children[0], bad, configBytes, other]))).rejects.toThrow(/manifest 2\/2: config .* differs from the first manifest's/);
    // Children that each pass the 4 MiB cap but together would be parsed into too much memory: refused before any is read.
    const heavy = Buffer.from(JSON.stringify({ ...index, manifests: Array.from({ length: 20 }, (_, i) => ({ ...index.manifests[0], digest: `sha256:${sha(Buffer.from(String(i)))}`, size: 4 * 1024 * 1024 })) }));
    await expect(readAptArtifact(topOf(heavy, index.mediaType), source([heavy, configBytes]))).rejects.toThrow(/manifests are 83886080 bytes together, more than the 67108864/);
  });
});
