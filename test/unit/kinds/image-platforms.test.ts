import { describe, expect, it } from 'vitest';
import { filterIndex, platformMatches } from '../../../src/kinds/image/platforms.js';

const d = (n: number) => `sha256:${String(n).repeat(64).slice(0, 64)}`;
const index = {
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.index.v1+json',
  manifests: [
    { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: d(1), size: 10, platform: { os: 'linux', architecture: 'amd64' } },
    { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: d(2), size: 10, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
    { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: d(3), size: 10, platform: { os: 'linux', architecture: 'arm', variant: 'v7' } },
    {
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: d(4),
      size: 10,
      platform: { os: 'unknown', architecture: 'unknown' },
      annotations: { 'vnd.docker.reference.digest': d(2), 'vnd.docker.reference.type': 'attestation-manifest' },
    },
  ],
};
const bytes = Buffer.from(JSON.stringify(index));

describe('platform filter', () => {
  it('matches os/arch with and without variant', () => {
    expect(platformMatches('linux/arm64', { os: 'linux', architecture: 'arm64', variant: 'v8' })).toBe(true);
    expect(platformMatches('linux/arm/v7', { os: 'linux', architecture: 'arm', variant: 'v7' })).toBe(true);
    expect(platformMatches('linux/arm/v6', { os: 'linux', architecture: 'arm', variant: 'v7' })).toBe(false);
    expect(platformMatches('linux/amd64', { os: 'windows', architecture: 'amd64' })).toBe(false);
  });

  it('without a filter returns the upstream bytes untouched', () => {
    const r = filterIndex('x', bytes, undefined);
    expect(r.bytes).toBe(bytes);
    expect(r.changed).toBe(false);
  });

  it('keeps chosen platforms and the attestations that describe them', () => {
    const r = filterIndex('x', bytes, ['linux/arm64']);
    expect(r.changed).toBe(true);
    expect(r.kept.map((k) => k.digest)).toEqual([d(2), d(4)]);
    const again = filterIndex('x', bytes, ['linux/arm64']);
    expect(again.bytes.equals(r.bytes)).toBe(true);
  });

  it('keeps the upstream bytes when the filter selects everything', () => {
    const two = Buffer.from(JSON.stringify({ ...index, manifests: index.manifests.slice(0, 2) }));
    const r = filterIndex('x', two, ['linux/amd64', 'linux/arm64']);
    expect(r.bytes).toBe(two);
  });

  it('names the missing platform and the ones that exist', () => {
    expect(() => filterIndex('docker.io/library/x:1', bytes, ['linux/s390x'])).toThrow(
      expect.objectContaining({ message: 'docker.io/library/x:1: no manifest for platform linux/s390x', hint: expect.stringContaining('linux/amd64, linux/arm/v7, linux/arm64/v8') }),
    );
  });
});
