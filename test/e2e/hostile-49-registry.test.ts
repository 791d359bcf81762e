import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { craftedUpstream, expectRefusedLock, type Handler } from '../support/crafted-upstream.js';

/**
 * hostile-49: a registry (the attacker, an HTTP server in this test) answers a manifest asked for
 * by a digest that is not sha256. `ferry lock` checked only sha256 pins against the bytes: an
 * image pinned `@sha512:…` (a digest the reference grammar, Distribution and ferry's parser take)
 * was locked as whatever manifest the registry served, the user's pin silently not honoured. Now
 * the bytes must have the digest in its own algorithm (sha256, sha384, sha512), and a digest of
 * an algorithm ferry cannot compute is refused, not taken on the registry's word.
 */
const upstream = craftedUpstream('hostile49-reg');

const hex = (alg: string, b: Buffer | string) => createHash(alg).update(b).digest('hex');

const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
const layer = Buffer.from('a layer');
/** An image manifest whose blobs the registry holds; `tag` makes another manifest of the same blobs. */
function imageManifest(tag: string): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${hex('sha256', config)}`, size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${hex('sha256', layer)}`, size: layer.length }],
      annotations: { which: tag },
    }),
  );
}
const wanted = imageManifest('the one pinned');
const other = imageManifest('another one');

/** A registry answering every manifest request with `manifest`, and the two blobs. */
function registryServing(manifest: Buffer): Handler {
  return (req, res) => {
    const send = (b: Buffer, type: string) => {
      res.writeHead(200, { 'content-type': type, 'content-length': String(b.length), 'docker-content-digest': `sha256:${hex('sha256', b)}` });
      res.end(req.method === 'HEAD' ? undefined : b);
    };
    if (req.url === '/v2/' || req.url === '/v2') return send(Buffer.from('{}'), 'application/json');
    if (/^\/v2\/app\/manifests\//.test(req.url!)) return send(manifest, 'application/vnd.oci.image.manifest.v1+json');
    if (req.url === `/v2/app/blobs/sha256:${hex('sha256', config)}`) return send(config, 'application/octet-stream');
    if (req.url === `/v2/app/blobs/sha256:${hex('sha256', layer)}`) return send(layer, 'application/octet-stream');
    res.writeHead(404, { 'content-length': '0' });
    res.end();
  };
}

const lockImage = (ref: string) => upstream.lock(`images:\n  - ref: ${ref}\n`);

describe('hostile-49: an image pinned by a digest other than sha256', () => {
  for (const alg of ['sha512', 'sha384']) {
    it(`@${alg}: another manifest served for it is refused, naming the image and the digest the bytes have; no lock`, async () => {
      upstream.handler = registryServing(other);
      const pin = `${alg}:${hex(alg, wanted)}`;
      expectRefusedLock(await lockImage(`${upstream.host}/app@${pin}`), new RegExp(`${upstream.host.replace(/\./g, '\\.')}/app@${pin}: manifest digest mismatch \\(received bytes hash to ${alg}:${hex(alg, other)}\\)`));
    });
  }

  it('@sha512: the manifest that has it is locked, pinned by its sha256 digest', async () => {
    upstream.handler = registryServing(wanted);
    const r = await lockImage(`${upstream.host}/app@sha512:${hex('sha512', wanted)}`);
    expect(r.code, r.stderr).toBe(0);
    const lock = JSON.parse(await readFile(path.join(r.dir, 'h.lock.json'), 'utf8')) as { images: Array<{ digest: string }> };
    expect(lock.images.map((i) => i.digest)).toEqual([`sha256:${hex('sha256', wanted)}`]);
  });

  it('a digest of an algorithm ferry cannot compute is refused, naming it, whatever the registry serves', async () => {
    upstream.handler = registryServing(other);
    expectRefusedLock(await lockImage(`${upstream.host}/app@blake3:${'a'.repeat(64)}`), /app@blake3:a{64}: ferry cannot check a digest of the algorithm "blake3"/);
  });
});
