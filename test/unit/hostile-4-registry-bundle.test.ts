import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { pullBundle } from '../../src/commands/bundle-pull.js';
import { FerryError } from '../../src/errors.js';
import { BUNDLE_ANNOTATION, BUNDLE_ARTIFACT_TYPE, BUNDLE_CONFIG_TYPE, BUNDLE_FILE_TYPE, BUNDLE_TOC_TYPE, RegistryBundleSource } from '../../src/store/registry-bundle.js';
import { TAR_END, tarHeader, tarPadding } from '../../src/store/tar-index.js';
import { silentProgress } from '../../src/ui/progress.js';

/**
 * A hostile registry holding a "bundle" (bundle push's layout, hand-made): an in-process fake
 * for fault injection (lying sizes, a table of contents past the bounds, a malformed tar digest).
 * Nothing may land under the pull's output name unless every byte was checked.
 */
const sha = (b: Buffer | string) => 'sha256:' + createHash('sha256').update(b).digest('hex');
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

/** What the fake registry serves: manifests by tag and digest, blobs by digest; requests counted. */
const manifests = new Map<string, Buffer>();
const blobs = new Map<string, Buffer>();
const requests: string[] = [];
let server: http.Server;
let host: string;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-hostile4-oci-'));
  server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    requests.push(url);
    if (url === '/v2/' || url === '/v2') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    const m = /^\/v2\/bundles\/(manifests|blobs)\/(.+)$/.exec(url);
    const body = m && (m[1] === 'manifests' ? manifests : blobs).get(decodeURIComponent(m[2]));
    if (!body) return void res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"NOT_FOUND"}]}');
    res.writeHead(200, { 'content-type': m[1] === 'manifests' ? MANIFEST : 'application/octet-stream', 'content-length': String(body.length) });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await rm(dir, { recursive: true, force: true });
});
beforeEach(() => {
  manifests.clear();
  blobs.clear();
  requests.length = 0;
});

interface TocEntry {
  name: string;
  type: 'file' | 'directory';
  size: number;
}

/**
 * Publish a bundle under `bundles:<tag>` the way bundle push lays it out. `edit` may change the
 * table of contents, the bytes served for a file, and the ferry manifest before they are stored.
 */
function publish(
  tag: string,
  edit: { toc?: (entries: TocEntry[]) => TocEntry[]; served?: (name: string, bytes: Buffer) => Buffer; manifest?: (m: Record<string, unknown>) => void } = {},
): { url: string; blob: Buffer } {
  const blob = Buffer.from('layer bytes\n');
  const files: Array<[string, Buffer]> = [
    ['oci-layout', Buffer.from('{"imageLayoutVersion":"1.0.0"}')],
    ['ferry/bundle.json', Buffer.from('{"formatVersion":1,"ferryVersion":"0.1.0","manifestName":"x"}')],
    ['ferry/lock.json', Buffer.from(JSON.stringify({ apiVersion: 'ferry/v1alpha1', kind: 'Lock', manifest: { name: 'x', digest: `sha256:${'0'.repeat(64)}` }, images: [] }))],
    [`blobs/sha256/${sha(blob).slice(7)}`, blob],
    ['index.json', Buffer.from('{"schemaVersion":2,"manifests":[]}')],
  ];
  let toc: TocEntry[] = files.map(([name, b]) => ({ name, type: 'file', size: b.length }));
  toc = edit.toc ? edit.toc(toc) : toc;
  const tar = Buffer.concat([...files.flatMap(([name, b]) => [tarHeader(name, b.length, 'file'), b, tarPadding(b.length)]), TAR_END]);
  const put = (b: Buffer) => {
    blobs.set(sha(b), b);
    return { digest: sha(b), size: b.length };
  };
  put(blob);
  const tocBytes = Buffer.from(JSON.stringify({ entries: toc }));
  const layers = [{ mediaType: BUNDLE_TOC_TYPE, ...put(tocBytes) }];
  for (const [name, b] of files) {
    if (name.startsWith('blobs/')) continue;
    const served = edit.served ? edit.served(name, b) : b;
    layers.push({ mediaType: BUNDLE_FILE_TYPE, ...put(served), annotations: { [BUNDLE_ANNOTATION.title]: name } } as (typeof layers)[number]);
  }
  const manifest: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType: MANIFEST,
    artifactType: BUNDLE_ARTIFACT_TYPE,
    config: { mediaType: BUNDLE_CONFIG_TYPE, ...put(files[1][1]) },
    layers,
    annotations: { [BUNDLE_ANNOTATION.tarDigest]: sha(tar), [BUNDLE_ANNOTATION.tarSize]: String(tar.length) },
  };
  edit.manifest?.(manifest);
  const bytes = Buffer.from(JSON.stringify(manifest));
  manifests.set(tag, bytes);
  manifests.set(sha(bytes), bytes);
  return { url: `oci://${host}/bundles:${tag}`, blob };
}

const net = () => ({ plainHttpHosts: [host] });

async function pull(url: string, name: string) {
  const output = path.join(dir, name);
  const err = await pullBundle(url, { output, progress: silentProgress, ...net() }).then(
    () => undefined,
    (e: unknown) => e,
  );
  const left = (await readdir(dir)).filter((f) => f.startsWith(name));
  return { err: err as FerryError | undefined, left };
}

describe('a bundle in a hostile registry', () => {
  it('the fake registry is faithful: an honest bundle pulls, byte for byte checked', async () => {
    const { url } = publish('honest');
    const r = await pull(url, 'honest.tar');
    expect(r.err).toBeUndefined();
    expect(r.left).toEqual(['honest.tar']);
  });

  it('a file shorter in the registry than the table of contents says, with no tar digest to catch it: refused, nothing under the output name', async () => {
    const { url } = publish('short', {
      served: (name, b) => (name === 'ferry/lock.json' ? b.subarray(0, 10) : b),
      manifest: (m) => void delete (m.annotations as Record<string, string>)[BUNDLE_ANNOTATION.tarDigest],
    });
    const r = await pull(url, 'short.tar');
    expect(r.err).toBeInstanceOf(FerryError);
    expect(r.err!.code).toBe('VERIFY');
    expect(r.err!.message).toMatch(/ferry\/lock\.json is 10 bytes in the registry, the table of contents says \d+/);
    expect(r.left).toEqual([]);
  });

  it('a tar digest annotation that is not a sha256 digest is refused, not dropped (it is the check of the whole tar)', async () => {
    const { url } = publish('baddigest', { manifest: (m) => void ((m.annotations as Record<string, string>)[BUNDLE_ANNOTATION.tarDigest] = 'sha256:not-hex') });
    const r = await pull(url, 'baddigest.tar');
    expect(r.err).toBeInstanceOf(FerryError);
    expect(r.err!.code).toBe('VERIFY');
    expect(r.err!.message).toMatch(/io\.ferry\.bundle\.tar\.digest annotation is not a sha256 digest/);
    expect(r.left).toEqual([]);
  });

  it('a table of contents of more entries than a bundle may hold (90 000) is refused before a header is built', async () => {
    const { url } = publish('many', { toc: (t) => [...t, ...Array.from({ length: 90_000 }, (_, i) => ({ name: `d/${i}`, type: 'directory' as const, size: 0 }))] });
    const err = (await RegistryBundleSource.open(url, { net: net() }).catch((e: unknown) => e)) as FerryError;
    expect(err).toBeInstanceOf(FerryError);
    expect(err.message).toMatch(/table of contents lists more than 90000 entries/);
  });

  it('sizes that add up past 2^53 bytes are refused (offsets would stop being exact)', async () => {
    const { url } = publish('huge', { toc: (t) => [...t, { name: 'ferry/a', type: 'file', size: 2 ** 52 }, { name: 'ferry/b', type: 'file', size: 2 ** 52 }] });
    const err = (await RegistryBundleSource.open(url, { net: net() }).catch((e: unknown) => e)) as FerryError;
    expect(err).toBeInstanceOf(FerryError);
    expect(err.code).toBe('VERIFY');
    expect(err.details?.join('\n')).toMatch(/entries\[6\]: the bundle's size passes 2\^53 bytes here/);
  });

  it('a blob the table of contents says is huge is not read into memory as a manifest: refused before it is requested', async () => {
    const { url, blob } = publish('bigblob', { toc: (t) => t.map((e) => (e.name.startsWith('blobs/') ? { ...e, size: 512 * 1024 * 1024 } : e)) });
    const src = await RegistryBundleSource.open(url, { net: net() });
    try {
      requests.length = 0;
      const err = (await src.readBlob(sha(blob)).catch((e: unknown) => e)) as FerryError;
      expect(err).toBeInstanceOf(FerryError);
      expect(err.message).toMatch(/is 536870912 bytes, more than the 4194304 bytes ferry reads into memory/);
      expect(requests.filter((r) => r.includes('/blobs/'))).toEqual([]);
    } finally {
      await src.close();
    }
  });

  it('already safe: a manifest of another type under the tag, and a layer list of 1 000 000 entries, are refused with a clear error', async () => {
    manifests.set('image', Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MANIFEST, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha('{}'), size: 2 }, layers: [] })));
    const e1 = (await RegistryBundleSource.open(`oci://${host}/bundles:image`, { net: net() }).catch((e: unknown) => e)) as FerryError;
    expect(e1).toBeInstanceOf(FerryError);
    expect(e1.message).toMatch(/not a ferry bundle/);
    const layer = { mediaType: BUNDLE_FILE_TYPE, digest: sha('x'), size: 1 };
    manifests.set('million', Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MANIFEST, artifactType: BUNDLE_ARTIFACT_TYPE, config: layer, layers: Array.from({ length: 1_000_000 }, () => layer) })));
    const e2 = (await RegistryBundleSource.open(`oci://${host}/bundles:million`, { net: net() }).catch((e: unknown) => e)) as FerryError;
    expect(e2).toBeInstanceOf(FerryError);
    expect(e2.message).toMatch(/manifest larger than \d+ bytes/);
  });
});
