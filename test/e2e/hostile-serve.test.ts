import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mapFileUrl } from '../../src/mapping/index.js';
import { runCommand, runFerry } from '../support/cli.js';
import {
  aptPath,
  blobEntry,
  blobJson,
  buildServeBundle,
  curlFail,
  entryBytes,
  entryJson,
  fetchOutcome,
  rawGet,
  rewriteBundle,
  sha256,
  startServe,
  topOf,
  unpackBundle,
  withFlippedBytes,
  withFormatVersion,
  withIndexDescriptors,
  type Outcome,
  type RunningServe,
  type ServeFixture,
} from '../support/craft-serve.js';
import type { Descriptor } from '../support/images.js';

/**
 * `ferry serve` of bundles an attacker changed: whatever arrives, serve never hands out a
 * complete body whose bytes differ from the digest it announces (registry blobs and manifests,
 * /files/, /apt/; from the bundle tar and from a directory target), refuses bundle formats it
 * does not read before listening, never answers a path outside its tree, and prints names from
 * the bundle with their control bytes escaped.
 */

let work: string;
let fx: ServeFixture;
let tampered: string;
let dirTarget: string;
/** What was damaged, and where serve answers it. */
let t: {
  layer: { digest: string; size: number; url: string; good: Descriptor };
  manifest: { digest: string; url: string };
  file: { digest: string; url: string };
  deb: { digest: string; url: string };
  index: { digest: string; url: string; byHash: string };
  release: string;
};

type Manifest = { config: Descriptor; layers: Descriptor[] };

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-hostile-serve-'));
  fx = await buildServeBundle(work);
  const index = await entryJson<{ manifests: Descriptor[] }>(fx.bundle, 'index.json');
  const layerImage = await blobJson<Manifest>(fx.bundle, fx.images.layer.digest);
  const big = layerImage.layers[1];
  const fileManifest = await blobJson<Manifest>(fx.bundle, topOf(index, 'file').digest);
  const fileLayer = fileManifest.layers.find((l) => l.annotations?.['io.ferry.role'] === 'file')!;
  const filtered = await blobJson<Manifest>(fx.bundle, topOf(index, 'apt', fx.aptUrls.filtered).digest);
  const whole = await blobJson<Manifest>(fx.bundle, topOf(index, 'apt', fx.aptUrls.whole).digest);
  const title = (l: Descriptor) => l.annotations!['org.opencontainers.image.title'];
  const deb = filtered.layers.find((l) => /\/jq_[^/]*\.deb$/.test(title(l)))!;
  const pkgIndex = whole.layers.find((l) => l.annotations?.['io.ferry.role'] === 'index' && /binary-amd64\/Packages$/.test(title(l)))!;
  // The manifest's bytes stay valid JSON (a byte inside a string flipped): only its digest tells.
  const manifestBytes = await entryBytes(fx.bundle, blobEntry(fx.images.manifest.digest));
  const inString = manifestBytes.indexOf('application/vnd.oci.image.config') + 3;
  const m = (repo: string) => `/v2/${repo}`;
  t = {
    layer: { digest: big.digest, size: big.size, url: `${m(fx.images.layer.repo)}/blobs/${big.digest}`, good: layerImage.layers[0] },
    manifest: { digest: fx.images.manifest.digest, url: `${m(fx.images.manifest.repo)}/manifests/${fx.images.manifest.tag}` },
    file: { digest: fileLayer.digest, url: `/files/${mapFileUrl(fx.fileUrl, { baseUrl: 'http://x' }).path}` },
    deb: { digest: deb.digest, url: aptPath(fx.aptUrls.filtered, title(deb)) },
    index: {
      digest: pkgIndex.digest,
      url: aptPath(fx.aptUrls.whole, title(pkgIndex)),
      byHash: aptPath(fx.aptUrls.whole, `${title(pkgIndex).replace(/[^/]+$/, '')}by-hash/SHA256/${pkgIndex.digest.slice(7)}`),
    },
    release: aptPath(fx.aptUrls.filtered, 'dists/bookworm/Release'),
  };
  tampered = path.join(work, 'tampered.ferry.tar');
  await withFlippedBytes(fx.bundle, tampered, [
    { entry: blobEntry(big.digest), at: Math.floor(big.size / 2) + 7 },
    { entry: blobEntry(fx.images.manifest.digest), at: inString },
    { entry: blobEntry(fileLayer.digest), at: Math.floor(fileLayer.size / 2) },
    { entry: blobEntry(deb.digest), at: Math.floor(deb.size / 2) },
    { entry: blobEntry(pkgIndex.digest), at: Math.floor(pkgIndex.size / 2) },
  ]);
  // A directory target: the same layout unpacked, with a canary beside it that no URL may reach.
  dirTarget = path.join(work, 'site', 'mirror');
  await unpackBundle(tampered, dirTarget);
  await writeFile(path.join(work, 'site', 'outside-secret.txt'), 'CANARY outside the served tree\n');
  await writeFile(path.join(work, 'outside-secret.txt'), 'CANARY outside the served tree\n');
}, 600_000);

afterAll(async () => {
  await fx?.stop();
  if (work && !process.env.FERRY_TEST_KEEP) await rm(work, { recursive: true, force: true });
});

/** Never a complete 200 whose bytes differ from `digest`. */
function neverWrongAndWhole(o: Outcome, digest: string): void {
  if (o.status === 200 && o.complete) expect(sha256(o.body!)).toBe(digest);
}

describe.each([
  ['bundle tar', () => tampered],
  ['directory target', () => dirTarget],
])('plain ferry serve of a tampered %s', (_kind, source) => {
  let s: RunningServe;
  beforeAll(async () => {
    s = await startServe([source(), '--access-log', '--listen', '127.0.0.1:0']);
  });
  afterAll(async () => {
    await s?.stop();
  });

  it('a registry blob is cut off before its last bytes, then refused; HEAD stops announcing its digest; ranges are refused', async () => {
    const first = await fetchOutcome(s.url + t.layer.url);
    neverWrongAndWhole(first, t.layer.digest);
    expect(first.status).toBe(200);
    expect(first.complete).toBe(false);
    // Known bad from now on: an error status, never its digest.
    for (const init of [{}, { method: 'HEAD' }, { headers: { Range: 'bytes=0-99' } }, { headers: { Range: 'bytes=100-' } }] as RequestInit[]) {
      const o = await fetchOutcome(s.url + t.layer.url, init);
      expect(o.status, JSON.stringify(init)).toBe(500);
      expect(o.headers.get('docker-content-digest')).toBeNull();
    }
    expect(await curlFail(s.url + t.layer.url)).not.toBe(0);
    expect(s.stderr()).toMatch(new RegExp(`warning: ${fx.images.layer.repo} blob ${t.layer.digest}: the served bytes do not match this digest`));
    // skopeo, an independent client, cannot copy the image.
    const copy = await runCommand('skopeo', ['copy', '--src-tls-verify=false', `docker://${s.host}/${fx.images.layer.repo}:1`, `dir:${path.join(work, `copy-${Date.now()}`)}`]);
    expect(copy.code).not.toBe(0);
  });

  it('an untampered blob of the same image is still served whole and by range', async () => {
    const url = `${s.url}/v2/${fx.images.layer.repo}/blobs/${t.layer.good.digest}`;
    const whole = await fetchOutcome(url);
    expect(whole.status).toBe(200);
    expect(sha256(whole.body!)).toBe(t.layer.good.digest);
    const part = await fetchOutcome(url, { headers: { Range: 'bytes=3-20' } });
    expect(part.status).toBe(206);
    expect(part.body).toEqual(whole.body!.subarray(3, 21));
    expect(await curlFail(url)).toBe(0);
  });

  it('a registry manifest whose bytes do not match is never answered 200, GET or HEAD, by tag or digest', async () => {
    const accept = { Accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json' };
    const byDigest = t.manifest.url.replace(/\/manifests\/[^/]+$/, `/manifests/${t.manifest.digest}`);
    for (const url of [t.manifest.url, byDigest]) {
      for (const method of ['GET', 'HEAD']) {
        const o = await fetchOutcome(s.url + url, { method, headers: accept });
        neverWrongAndWhole(o, t.manifest.digest);
        expect(o.status, `${method} ${url}`).not.toBe(200);
        expect(o.headers.get('docker-content-digest')).toBeNull();
      }
    }
    expect(await curlFail(s.url + t.manifest.url)).not.toBe(0);
    const inspect = await runCommand('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${s.host}/${fx.images.manifest.repo}:1`]);
    expect(inspect.code).not.toBe(0);
    expect(s.stderr()).toContain(t.manifest.digest);
  });

  it('/files/: a tampered file is cut off (curl and fetch fail), then refused; its range too; its .sha256 still says the truth', async () => {
    expect(await curlFail(s.url + t.file.url)).toBe(18); // curl: partial file
    const o = await fetchOutcome(s.url + t.file.url);
    neverWrongAndWhole(o, t.file.digest);
    expect(o.status).toBe(500);
    expect((await fetchOutcome(s.url + t.file.url, { headers: { Range: 'bytes=10-' } })).status).toBe(500);
    expect((await fetchOutcome(s.url + t.file.url, { method: 'HEAD' })).status).toBe(500);
    const sum = await fetchOutcome(`${s.url}${t.file.url}.sha256`);
    expect(sum.body!.toString()).toBe(`${t.file.digest.slice(7)}  disk.img\n`);
    expect(s.stderr()).toMatch(new RegExp(`warning: ${t.file.url} ${t.file.digest}: the served bytes do not match`));
  });

  it('/apt/: a tampered .deb asked by range first is refused before any byte; a whole GET is refused too', async () => {
    const ranged = await fetchOutcome(s.url + t.deb.url, { headers: { Range: 'bytes=0-1023' } });
    expect(ranged.status).toBe(500);
    const whole = await fetchOutcome(s.url + t.deb.url);
    neverWrongAndWhole(whole, t.deb.digest);
    expect(whole.status).toBe(500);
    expect(await curlFail(s.url + t.deb.url)).not.toBe(0);
  });

  it('/apt/: a tampered index of a whole mirror is refused (fetch, curl), by name and by hash', async () => {
    for (const url of [t.index.url, t.index.byHash]) {
      const o = await fetchOutcome(s.url + url);
      neverWrongAndWhole(o, t.index.digest);
      expect(o.status === 200 && o.complete, url).toBe(false);
      expect(await curlFail(s.url + url)).not.toBe(0);
    }
    // The generated (re-built, untampered) metadata of the filtered mirror is still served.
    const release = await fetchOutcome(s.url + t.release);
    expect(release.status).toBe(200);
    expect(release.body!.toString()).toMatch(/^Origin:|^Suite:|SHA256:/m);
  });

  it('traversal URLs get 400 or 404 and never a file outside the tree', async () => {
    const host = t.file.url.split('/')[2];
    const attempts = [
      '/files/../outside-secret.txt',
      '/files/../../outside-secret.txt',
      '/files/%2e%2e/%2e%2e/outside-secret.txt',
      '/files/%2e%2e%2f%2e%2e%2foutside-secret.txt',
      '/files/..%2f..%2f..%2foutside-secret.txt',
      `/files/${host}/..%2f..%2f..%2f..%2foutside-secret.txt`,
      `/files/${host}/%2e%2e/%2e%2e/%2e%2e/outside-secret.txt`,
      '/files/..%5c..%5coutside-secret.txt',
      '/files/..\\..\\outside-secret.txt',
      `${t.file.url}%00`,
      `${t.file.url}%00.txt`,
      '/files/%2fetc%2fpasswd',
      '/files//etc/passwd',
      '/apt/..%2f..%2foutside-secret.txt',
      '/apt/%2e%2e/%2e%2e/outside-secret.txt',
      '/apt/..%5coutside-secret.txt',
      '/apt/x%00',
      '/apt/%2fetc%2fpasswd',
      `/v2/..%2f..%2foutside-secret.txt/blobs/${t.layer.good.digest}`,
      `/v2/${fx.images.layer.repo}/blobs/..%2f..%2foutside-secret.txt`,
    ];
    for (const p of attempts) {
      const r = await rawGet(s.url, p);
      expect([400, 404], p).toContain(r.status);
      expect(r.body, p).not.toContain('CANARY');
      expect(r.body, p).not.toContain('root:x:0');
    }
  });
});

describe('bundle format versions', () => {
  it.each([
    [0, '0'],
    [2, '2'],
    [99, '99'],
    ['1', '"1"'],
    [undefined, 'null'],
  ])('formatVersion %s is refused before listening, naming the version found', async (version, shown) => {
    const file = path.join(work, `format-${String(version)}.ferry.tar`);
    await withFormatVersion(fx.bundle, file, version);
    for (const extra of [[], ['--verify']]) {
      const r = await runFerry(['serve', file, '--listen', '127.0.0.1:0', ...extra], { timeoutMs: 30_000 });
      expect(r.stdout).not.toContain('listening');
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(`bundle format ${shown} is not supported (this ferry reads format 1 only)`);
    }
  });

  it('a bundle without ferry/bundle.json is refused too', async () => {
    const file = path.join(work, 'no-bundle-json.ferry.tar');
    await rewriteBundle(fx.bundle, file, { 'ferry/bundle.json': null });
    const r = await runFerry(['serve', file, '--listen', '127.0.0.1:0'], { timeoutMs: 30_000 });
    expect(r.stdout).not.toContain('listening');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('ferry/bundle.json is not in the bundle');
  });
});

describe('names from the bundle in serve output', () => {
  it('control bytes in ref.name annotations are printed escaped, never raw', async () => {
    const index = await entryJson<{ manifests: Descriptor[] }>(fx.bundle, 'index.json');
    const image = index.manifests.find((m) => m.annotations?.['io.ferry.kind'] === 'image')!;
    const evil = (refName: string): Descriptor => ({ ...image, annotations: { ...image.annotations, 'org.opencontainers.image.ref.name': refName } });
    const file = path.join(work, 'evil-names.ferry.tar');
    await withIndexDescriptors(fx.bundle, file, [evil('evil\x1b]0;pwned\x07'), evil('registry.example/x:1\x1b[2J\x1b[31m\r'), evil('registry.example/\u202eevil:1')]);
    const dir = path.join(work, 'evil-dir');
    await mkdir(dir, { recursive: true });
    await unpackBundle(file, dir);
    // The bundle itself is refused (its lock pins none of these names), naming them escaped.
    const refused = await runFerry(['serve', file, '--listen', '127.0.0.1:0'], { timeoutMs: 30_000 });
    expect(refused.code).toBe(3);
    expect(refused.stdout).not.toContain('listening');
    expect(refused.stderr).toContain('not pinned by the bundle\'s lock');
    expect(refused.stderr).toContain('evil\\x1b]0;pwned\\x07');
    expect(refused.stderr).toContain('registry.example/\\u202eevil:1');
    // eslint-disable-next-line no-control-regex
    expect(refused.stderr).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f\u202e]/);
    // A directory (an OCI layout, no lock) is served; its names in the access log are escaped too.
    for (const source of [dir]) {
      const s = await startServe([source, '--access-log', '--listen', '127.0.0.1:0']);
      try {
        await fetch(`${s.url}/v2/_catalog`);
        for (let i = 0; i < 50 && !/GET \/v2\/_catalog/.test(s.stderr()); i++) await new Promise((r) => setTimeout(r, 100));
        const err = s.stderr();
        expect(err).toContain('evil\\x1b]0;pwned\\x07');
        expect(err).toContain('registry.example/x:1\\x1b[2J\\x1b[31m\\r');
        expect(err).toContain('registry.example/\\u202eevil:1');
        // eslint-disable-next-line no-control-regex
        expect(err).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f\u202e]/);
        expect(err).toContain('GET /v2/_catalog 200');
      } finally {
        await s.stop();
      }
    }
  });
});
