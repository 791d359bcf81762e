import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { blobSize, headManifest } from '../../../src/oci/pull.js';
import { RegistryTransport } from '../../../src/oci/transport.js';
import type { HttpClient } from '../../../src/net/http.js';

/**
 * A registry's HEAD answers are its word, and a crafted one must not become a reference or a size:
 * headManifest took Docker-Content-Digest and Content-Length as they came (a digest header of
 * `../../x` became the referrers fallback tag; `12abc` a NaN size), and blobSize returned
 * Number() of any Content-Length. Now a malformed header makes headManifest fetch the manifest
 * and hash it, and blobSize say nothing is known.
 */
const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${'0'.repeat(64)}`, size: 2 }, layers: [] }));
const good = `sha256:${createHash('sha256').update(manifest).digest('hex')}`;
const repo = { registry: 'reg.example', repository: 'app' };

function transport(head: Record<string, string>) {
  const seen: string[] = [];
  const http = {
    request: async (url: string, opts: { method?: string }) => {
      seen.push(`${opts.method ?? 'GET'} ${new URL(url).pathname}`);
      if (opts.method === 'HEAD') return { status: 200, headers: head, body: Readable.from([]), url };
      return { status: 200, headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'docker-content-digest': good }, body: Readable.from([manifest]), url };
    },
  } as unknown as HttpClient;
  return { t: new RegistryTransport({ http } as unknown as ConstructorParameters<typeof RegistryTransport>[0]), seen };
}

const mt = 'application/vnd.oci.image.manifest.v1+json';

describe('headManifest takes only well-formed headers', () => {
  it('well-formed headers are taken as they are, without a GET', async () => {
    const { t, seen } = transport({ 'docker-content-digest': good, 'content-length': String(manifest.length), 'content-type': mt });
    expect(await headManifest(t, repo, '1.0')).toEqual({ digest: good, mediaType: mt, size: manifest.length });
    expect(seen).toEqual(['HEAD /v2/app/manifests/1.0']);
  });

  for (const [what, head] of [
    ['a digest header that is a path', { 'docker-content-digest': '../../../x', 'content-length': String(manifest.length), 'content-type': mt }],
    ['a digest of an unknown algorithm', { 'docker-content-digest': `md5:${'a'.repeat(32)}`, 'content-length': String(manifest.length), 'content-type': mt }],
    ['a size that is no number', { 'docker-content-digest': good, 'content-length': '12abc', 'content-type': mt }],
    ['a size past any manifest', { 'docker-content-digest': good, 'content-length': String(2 ** 40), 'content-type': mt }],
    ['a media type with a line break', { 'docker-content-digest': good, 'content-length': String(manifest.length), 'content-type': 'text/plain\u001b[31m' }],
  ] as const) {
    it(`${what}: the manifest is fetched and hashed instead`, async () => {
      const { t, seen } = transport(head);
      expect(await headManifest(t, repo, '1.0')).toEqual({ digest: good, mediaType: mt, size: manifest.length });
      expect(seen).toEqual(['HEAD /v2/app/manifests/1.0', 'GET /v2/app/manifests/1.0']);
    });
  }

  it('asked by digest, a header naming another digest is checked against the bytes (and refused when they differ)', async () => {
    const other = `sha256:${'b'.repeat(64)}`;
    const { t } = transport({ 'docker-content-digest': good, 'content-length': String(manifest.length), 'content-type': mt });
    await expect(headManifest(t, repo, other)).rejects.toThrow(/digest mismatch/);
  });
});

describe('blobSize takes only a whole-number Content-Length', () => {
  for (const [len, want] of [['1234', 1234], ['12abc', undefined], ['-5', undefined], ['1e3', undefined], ['99999999999999999999', undefined]] as const) {
    it(`Content-Length ${len} → ${want}`, async () => {
      const { t } = transport({ 'content-length': len });
      expect(await blobSize(t, repo, good)).toBe(want);
    });
  }
});
