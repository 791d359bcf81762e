import { describe, expect, it } from 'vitest';
import { cycloneDxChunks, cycloneDxJson } from '../../../src/commands/sbom-cyclonedx.js';
import { sbomItems, type SbomItem } from '../../../src/commands/sbom.js';
import type { Lock } from '../../../src/kinds/schema.js';

const meta = { serialNumber: 'urn:uuid:e0d7959d-72c6-89b8-9ef5-375511b76db9', name: 'site', ferryVersion: '0.1.0' };
const hex = (n: number) => n.toString(16).padStart(64, '0');

/** A lock with every kind of item, names whose collation order differs from code-point order. */
function lock(debs: number): Lock {
  const names = ['Zlib', 'zlib', 'a-b', 'a.b', 'a_b', 'A', 'é-utf8', 'libc6', 'lib+plus', '0start'];
  return {
    apiVersion: 'ferry/v1alpha1',
    kind: 'Lock',
    manifest: { name: 'site', digest: 'sha256:' + hex(1) },
    images: [
      {
        ref: 'registry.example.com:5000/team/api:1.4.2',
        digest: 'sha256:' + hex(2),
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [
          { platform: 'linux/arm64', digest: 'sha256:' + hex(3), mediaType: 'application/vnd.oci.image.manifest.v1+json' },
          { platform: 'linux/amd64', digest: 'sha256:' + hex(4), mediaType: 'application/vnd.oci.image.manifest.v1+json' },
        ],
      },
    ],
    charts: [{ name: 'web', version: '1.2.3', repo: 'https://charts.example.com', url: 'https://charts.example.com/web-1.2.3.tgz', digest: 'sha256:' + hex(5), source: 'repo' }],
    apt: [
      {
        name: 'deb',
        url: 'https://deb.example.com/debian/',
        mode: 'whole',
        components: ['main'],
        architectures: ['amd64'],
        unsatisfied: [],
        suites: [
          {
            suite: 'bookworm',
            signedBy: 'ABCD',
            release: [],
            indexes: [],
            packages: Array.from({ length: debs }, (_, i) => {
              const name = `${names[i % names.length]}${i % 7 === 0 ? '' : i}`;
              return { name, version: `1:${i % 5}.0~rc${i}`, architecture: i % 3 ? 'amd64' : 'all', filename: `pool/main/${name}_${i}.deb`, sha256: hex(100 + i), size: i };
            }),
          },
        ],
      },
    ],
    files: [{ name: 'tool', url: 'https://files.example.com/tool?x=1', sha256: hex(6), sha512: 'ab'.repeat(64), size: 12 }],
  } as unknown as Lock;
}

const streamed = (items: SbomItem[]) => [...cycloneDxChunks(items, meta)()].join('');

describe('CycloneDX rendered one component at a time', () => {
  it('gives the library’s bytes exactly, for every kind of item and collation order', () => {
    const items = sbomItems(lock(300));
    expect(items.length).toBeGreaterThan(250);
    expect(streamed(items)).toBe(cycloneDxJson(items, meta));
  });

  it('gives the same bytes on every call (hashed first, written later)', () => {
    const render = cycloneDxChunks(sbomItems(lock(20)), meta);
    expect([...render()].join('')).toBe([...render()].join(''));
  });

  it('matches an empty document', () => {
    expect(streamed([])).toBe(cycloneDxJson([], meta));
  });

  it('leaves a document with a repeated bom-ref to the library whole, rendered once', () => {
    const items = sbomItems(lock(3));
    const twice = [...items, items[items.length - 1]];
    const render = cycloneDxChunks(twice, meta);
    const first = [...render()];
    expect(first).toHaveLength(1);
    expect([...render()]).toEqual(first);
    expect(JSON.parse(first[0]).components).toHaveLength(twice.length);
  });
});
