import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mapFileUrl } from '../../src/mapping/index.js';
import { runFerry } from '../support/cli.js';
import { blobJson, buildServeBundle, entryJson, sha256, startServe, topOf, type RunningServe, type ServeFixture } from '../support/craft-serve.js';
import type { Descriptor } from '../support/images.js';
import { startStaticServer, type StaticServer } from '../support/static-http.js';
import { swappedSplitBundle } from '../support/swapped-split.js';

/**
 * Round 33: `ferry serve` (the built CLI) attacked over raw HTTP — paths, HEAD against GET, ranges
 * and conditional requests — and split parts / a base that come from another bundle.
 */

type Answer = { status: number; headers: http.IncomingHttpHeaders; body: Buffer };

/** One request with the path sent exactly as given. */
function ask(base: string, rawPath: string, method = 'GET', headers: Record<string, string> = {}): Promise<Answer> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path: rawPath, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

let work: string;
let fx: ServeFixture;
let s: RunningServe;
let layer: Descriptor;
let fileUrl: string;
let fileDigest: string;
let lr: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-hostile33-'));
  fx = await buildServeBundle(work);
  const index = await entryJson<{ manifests: Descriptor[] }>(fx.bundle, 'index.json');
  layer = (await blobJson<{ layers: Descriptor[] }>(fx.bundle, fx.images.layer.digest)).layers[1];
  const fileManifest = await blobJson<{ layers: Descriptor[] }>(fx.bundle, topOf(index, 'file').digest);
  fileDigest = fileManifest.layers.find((l) => l.annotations?.['io.ferry.role'] === 'file')!.digest;
  fileUrl = `/files/${mapFileUrl(fx.fileUrl, { baseUrl: 'http://x' }).path}`;
  lr = `/v2/${fx.images.layer.repo}`;
  s = await startServe([fx.bundle, '--listen', '127.0.0.1:0']);
}, 600_000);

afterAll(async () => {
  await s?.stop();
  await fx?.stop();
  if (work && !process.env.FERRY_TEST_KEEP) await rm(work, { recursive: true, force: true });
});

describe('paths', () => {
  it('bundle metadata, encoded climbs, overlong UTF-8, NUL, a 100 KB path: 4xx or a dropped connection, never a byte of the bundle', async () => {
    const attempts = [
      '/ferry/lock.json', '/index.json', '/oci-layout', '/ferry/checksums.sha256', `/blobs/sha256/${layer.digest.slice(7)}`,
      '/files/ferry/lock.json', '/files/../ferry/lock.json', '/files/%2e%2e/index.json', '/files/%252e%252e/%252e%252e/index.json',
      '/files/%c0%ae%c0%ae/%c0%ae%c0%ae/index.json', '/files/%e0%80%ae%e0%80%ae/oci-layout', '/files/x%00y', '/files/\\..\\..\\index.json',
      `${fileUrl}/..`, `${fileUrl}%2f..%2f..%2f..%2findex.json`, '/charts/../ferry/lock.json', '/charts/index.json', '/apt/../oci-layout', '/apt/%2e%2e%2fferry%2flock.json',
      `${lr}/blobs/${layer.digest.toUpperCase()}`, `${lr}/blobs/sha256:${layer.digest.slice(7).toUpperCase()}`, `${lr}/blobs/sha512:${'a'.repeat(128)}`,
      `${lr}/blobs/${layer.digest}%00`, `${lr}/blobs/..%2f${layer.digest}`,
      // Reachable from another repository only (the manifest image's repository does not reach the big layer), or from no image at all.
      `/v2/${fx.images.manifest.repo}/blobs/${layer.digest}`, `${lr}/blobs/${fileDigest}`, `${lr}/manifests/..%2f..%2f1`,
    ];
    for (const p of attempts) {
      const r = await ask(s.url, p);
      expect([400, 404], p).toContain(r.status);
      expect(r.body.length, p).toBeLessThan(1000);
      expect(r.body.toString(), p).not.toMatch(/"schemaVersion"|imageLayoutVersion|"formatVersion"/);
    }
    for (const p of ['/files/' + 'a'.repeat(100_000), `/v2/${'a/'.repeat(50_000)}blobs/${layer.digest}`]) {
      const r = await ask(s.url, p).catch((err: Error) => ({ status: 0, body: Buffer.from(String(err)), headers: {} }));
      expect([0, 414, 431], p.slice(0, 20)).toContain(r.status);
    }
    // Still answering.
    expect((await ask(s.url, `${lr}/manifests/1`, 'HEAD')).status).toBe(200);
  });
});

describe('HEAD, ranges and conditional requests', () => {
  const same = ['content-length', 'docker-content-digest', 'etag', 'content-range', 'content-type'];
  it('HEAD answers what GET answers (status, length, digest), for whole bodies, ranges and refusals', async () => {
    for (const [p, range] of [
      [`${lr}/blobs/${layer.digest}`, undefined], [`${lr}/blobs/${layer.digest}`, 'bytes=0-'], [`${lr}/blobs/${layer.digest}`, 'bytes=-10'],
      [`${lr}/blobs/${layer.digest}`, `bytes=${layer.size}-`], [`${lr}/manifests/1`, undefined], [fileUrl, 'bytes=0-3'], [fileUrl, undefined],
    ] as const) {
      const h: Record<string, string> = range ? { range } : {};
      const get = await ask(s.url, p, 'GET', h);
      const head = await ask(s.url, p, 'HEAD', h);
      expect(head.status, `${p} ${range}`).toBe(get.status);
      for (const k of same) expect(head.headers[k], `${p} ${range} ${k}`).toBe(get.headers[k]);
      expect(head.body.length).toBe(0);
    }
  });

  it('ranges past the end, suffixes, several ranges, 4 GB bounds: the right status and only checked bytes', async () => {
    const blob = `${lr}/blobs/${layer.digest}`;
    const whole = await ask(s.url, blob);
    expect(sha256(whole.body)).toBe(layer.digest);
    const cases: Array<[string, number, [number, number] | undefined]> = [
      [`bytes=${layer.size}-`, 416, undefined],
      ['bytes=4294967296-', 416, undefined],
      ['bytes=99999999999999999999-', 416, undefined],
      ['bytes=-0', 416, undefined],
      ['bytes=5-2', 416, undefined],
      ['bytes=0-4294967296', 206, [0, layer.size - 1]],
      [`bytes=-${layer.size + 100}`, 206, [0, layer.size - 1]],
      ['bytes=-99999999999999999999', 206, [0, layer.size - 1]],
      ['bytes=-10', 206, [layer.size - 10, layer.size - 1]],
      ['bytes=0-1,5-6', 200, undefined],
    ];
    for (const [range, status, span] of cases) {
      const r = await ask(s.url, blob, 'GET', { range });
      expect(r.status, range).toBe(status);
      if (status === 416) expect(r.headers['content-range'], range).toBe(`bytes */${layer.size}`);
      if (status === 200) expect(sha256(r.body), range).toBe(layer.digest);
      if (span) {
        expect(r.headers['content-range'], range).toBe(`bytes ${span[0]}-${span[1]}/${layer.size}`);
        expect(r.body.equals(whole.body.subarray(span[0], span[1] + 1)), range).toBe(true);
      }
    }
  });

  it('If-Range that is not the ETag (another tag, a date as apt sends it) gets the whole body, 200, never a tail of other bytes', async () => {
    const blob = `${lr}/blobs/${layer.digest}`;
    for (const [p, ifRange] of [
      [blob, '"sha256:0000000000000000000000000000000000000000000000000000000000000000"'],
      [blob, 'Thu, 01 Jan 2099 00:00:00 GMT'],
      [blob, `W/"${layer.digest}"`],
      [fileUrl, 'Thu, 01 Jan 2099 00:00:00 GMT'],
    ] as const) {
      const r = await ask(s.url, p, 'GET', { range: 'bytes=100-', 'if-range': ifRange });
      expect(r.status, `${p} ${ifRange}`).toBe(200);
      expect(r.headers['content-range']).toBeUndefined();
      expect(sha256(r.body)).toBe(p === blob ? layer.digest : fileDigest);
    }
    // The right ETag: the range.
    const r = await ask(s.url, blob, 'GET', { range: 'bytes=100-', 'if-range': `"${layer.digest}"` });
    expect(r.status).toBe(206);
    expect(r.headers['content-range']).toBe(`bytes 100-${layer.size - 1}/${layer.size}`);
  });

  it('If-None-Match naming the digest is 304 with no body; If-Match naming another is 412', async () => {
    const blob = `${lr}/blobs/${layer.digest}`;
    for (const m of ['GET', 'HEAD']) {
      const nm = await ask(s.url, blob, m, { 'if-none-match': `"${layer.digest}"` });
      expect(nm.status, m).toBe(304);
      expect(nm.body.length).toBe(0);
      expect(nm.headers.etag).toBe(`"${layer.digest}"`);
      const im = await ask(s.url, blob, m, { 'if-match': '"nope"' });
      expect(im.status, m).toBe(412);
    }
    expect((await ask(s.url, blob, 'GET', { 'if-none-match': '"other"' })).status).toBe(200);
    expect((await ask(s.url, blob, 'HEAD', { 'if-match': `"${layer.digest}"` })).status).toBe(200);
    // /files/ answers carry no ETag: If-Match never holds, If-None-Match never matches.
    expect((await ask(s.url, fileUrl, 'HEAD', { 'if-match': '"x"' })).status).toBe(412);
    expect((await ask(s.url, fileUrl, 'HEAD', { 'if-none-match': '"x"' })).status).toBe(200);
  });
});

describe('parts and bases from another bundle', () => {
  let files: StaticServer;
  let split: Awaited<ReturnType<typeof swappedSplitBundle>>;
  beforeAll(async () => {
    const srv = path.join(work, 'split-srv');
    await mkdir(srv, { recursive: true });
    files = await startStaticServer(srv);
    // Two bundles of one manifest whose file changed upstream (same size): same layout, same size, other bytes.
    split = await swappedSplitBundle(work, srv, files);
  }, 300_000);
  afterAll(async () => {
    await files?.close();
  });

  it('one part swapped for the same-numbered part of another bundle of the same size: verify and serve --verify refuse naming the part, import refuses writing nothing, plain serve never answers its bytes whole', { timeout: 120_000 }, async () => {
    const { mixed, parts } = split;
    expect(parts.length).toBeGreaterThan(3);
    const first = path.join(mixed, parts[0]);
    const named = new RegExp(`part 003 of ${parts.length}`);
    const v = await runFerry(['bundle', 'verify', first], { cwd: work });
    expect(v.code).toBe(3);
    expect(v.stderr).toMatch(named);
    const target = path.join(work, 'split-target.yaml');
    await writeFile(target, 'apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: t }\nfiles:\n  dir: ./split-files\n  baseUrl: https://mirror.example.internal/files\n');
    await mkdir(path.join(work, 'split-files'));
    const imp = await runFerry(['import', first, '-t', target], { cwd: work });
    expect(imp.code).not.toBe(0);
    expect(await readdir(path.join(work, 'split-files'))).toEqual([]);
    // serve does not re-hash a bundle before listening (that is --verify): the file whose bytes
    // lie in the swapped part is never answered whole with other bytes, and --verify names the part.
    const served = await startServe([first, '--listen', '127.0.0.1:0']);
    try {
      const r = await ask(served.url, `/files/${mapFileUrl(`${files.url}/tool.bin`, { baseUrl: 'http://x' }).path}`).catch(() => undefined);
      expect(r?.status === 200 && r.body.length === 300_000).toBe(false);
    } finally {
      await served.stop();
    }
    const checked = await runFerry(['serve', first, '--verify', '--listen', '127.0.0.1:0'], { cwd: work, timeoutMs: 60_000 });
    expect(checked.code).not.toBe(0);
    expect(checked.stderr).toMatch(named);
  });
});
