import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { topsNotInLock } from '../../../src/kinds/lock-tops.js';
import type { OciDescriptor } from '../../../src/oci/media-types.js';
import { ANNOTATION, type BlobSource } from '../../../src/store/source.js';

/** Images are judged by index.json alone: nothing is read. */
const noBlobs = {} as BlobSource;
const digest = (i: number) => `sha256:${i.toString(16).padStart(64, '0')}`;

describe('index.json against the lock', () => {
  it('30 000 entries against a lock of 30 000 images: each looked up, not the lock scanned per entry (was 9e8 steps)', { timeout: 20_000 }, async () => {
    const n = 30_000;
    const images = Array.from({ length: n }, (_, i) => ({ ref: `registry.example.com/app${i}:1`, digest: digest(i), extras: [{ digest: digest(n + i), subject: digest(i), tag: `sha256-${i}.sig` }] }));
    const tops: OciDescriptor[] = images.map((im, i) => ({
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: i === 7 ? digest(999_999) : im.digest,
      size: 100,
      annotations: { [ANNOTATION.refName]: im.ref, [ANNOTATION.kind]: 'image' },
    }));
    const problems = await topsNotInLock({ images }, tops, noBlobs);
    expect(problems).toHaveLength(1);
    expect(problems[0].message).toContain(`index.json points it at ${digest(999_999)}, the bundle's lock pins ${digest(7)}`);
  });

  it('a crafted lock repeating one file name 20 000 times against as many index.json entries: refused at once, not each entry compared with each (4e8 comparisons)', { timeout: 20_000 }, async () => {
    const n = 20_000;
    const url = 'https://files.example.com/x.bin';
    // One file artifact, served for every index.json entry (readJsonBlob checks its digest).
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: digest(1), size: 2 },
      layers: [{ mediaType: 'application/octet-stream', digest: digest(2), size: 10, annotations: { 'io.ferry.role': 'file', [ANNOTATION.source]: url } }],
    }));
    const manifestDigest = `sha256:${createHash('sha256').update(manifest).digest('hex')}`;
    const source = { readBlob: async () => manifest, blobSize: async () => manifest.length } as unknown as BlobSource;
    // None of them pins the artifact's layer (another sha256): every one would be compared.
    const files = Array.from({ length: n }, () => ({ name: 'x', url, sha256: '3'.repeat(64), size: 10 }));
    const tops: OciDescriptor[] = Array.from({ length: n }, () => ({
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: manifestDigest,
      size: manifest.length,
      annotations: { [ANNOTATION.refName]: 'x', [ANNOTATION.kind]: 'file' },
    }));
    const problems = await topsNotInLock({ files }, tops, source);
    expect(problems).toHaveLength(n);
    expect(problems[0].message).toContain(`lists ${n} entries of that name, more than the 64 ferry compares`);
  });
});
