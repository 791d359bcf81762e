import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OciIndex } from '../../src/oci/media-types.js';
import { BlobStore } from '../../src/store/blob-store.js';
import { packBundle } from '../../src/store/bundle-pack.js';
import { LayoutDir } from '../../src/store/layout.js';
import { BundleReader } from '../../src/store/bundle-reader.js';
import { startRegistryServer } from '../../src/serve/server.js';
import { FERRY, mustRun, runFerry } from '../support/cli.js';
import { flipByte } from '../support/tar-walk.js';
import { writeOciLayout, type Descriptor } from '../support/images.js';
import { makeTestCa, startRegistry, type RunningRegistry } from '../support/registry.js';
import { startServe } from '../support/craft-serve.js';
import { lockPinningImages } from '../support/tar-craft.js';

/**
 * `ferry serve` as the pull side of a registry on the air-gapped host: skopeo (an independent
 * client) pulls from it and gets the upstream digests, over a bundle tar and over a layout dir.
 */

const ALPINE = 'docker.io/library/alpine:3.20';
const API = 'registry.example.com:5000/team/api:1.4.2';
const API_OLD = 'registry.example.com:5000/team/api:1.4.1';
const base = { files: { 'etc/os-release': 'NAME=ferry-test\n', 'bin/sh': '#!/bin/true\n' } };

let dir: string;
let upstream: string;
let tops: Record<string, Descriptor>;
let bundle: string;
const servers: ChildProcess[] = [];

const sha256 = (b: Buffer | string) => 'sha256:' + createHash('sha256').update(b).digest('hex');
const blobFile = (digest: string) => path.join(upstream, 'blobs/sha256', digest.slice(7));
const readJson = async (digest: string) => JSON.parse(await readFile(blobFile(digest), 'utf8'));

interface Served {
  url: string;
  host: string;
  child: ChildProcess;
  stderr: () => string;
}

/** Start the built `ferry serve` and wait for the one stdout line with its address. */
async function serve(args: string[]): Promise<Served> {
  const s = await startServe(args);
  servers.push(s.child);
  return s;
}

function stop(s: Served): Promise<number | null> {
  return new Promise((resolve) => {
    s.child.once('exit', (code) => resolve(code));
    s.child.kill('SIGTERM');
  });
}

async function skopeoDigest(ref: string, extra: string[] = ['--tls-verify=false']): Promise<string> {
  const r = await mustRun('skopeo', ['inspect', '--raw', ...extra, `docker://${ref}`]);
  return sha256(Buffer.from(r.stdout));
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-serve-'));
  upstream = path.join(dir, 'upstream');
  tops = await writeOciLayout(upstream, [
    { name: ALPINE, platforms: [{ architecture: 'amd64', layers: [base] }] },
    {
      name: API,
      platforms: [
        { architecture: 'amd64', layers: [base, { randomBytes: 2 * 1024 * 1024, seed: 'serve-amd64' }] },
        { architecture: 'arm64', layers: [base, { files: { 'app/api': 'arm64\n' } }] },
      ],
    },
    { name: API_OLD, platforms: [{ architecture: 'amd64', layers: [base, { files: { 'app/api': 'old\n' } }] }] },
  ]);
  const index: OciIndex = {
    schemaVersion: 2,
    manifests: [ALPINE, API, API_OLD].map((ref) => ({ ...tops[ref], annotations: { 'org.opencontainers.image.ref.name': ref, 'io.ferry.kind': 'image' } })),
  };
  bundle = path.join(dir, 'app.ferry.tar');
  await packBundle({ store: new BlobStore(upstream), index, metadata: { manifestYaml: 'x: 1\n', lock: lockPinningImages(index.manifests), manifestName: 'app' }, output: bundle });
});

afterAll(async () => {
  for (const c of servers) if (c.exitCode === null) c.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

describe('ferry serve over a bundle tar', () => {
  let s: Served;
  beforeAll(async () => {
    s = await serve([bundle, '--listen', '127.0.0.1:0']);
  });

  it('skopeo sees every image under its mapped repository with the upstream digest', async () => {
    expect(await skopeoDigest(`${s.host}/docker.io/library/alpine:3.20`)).toBe(tops[ALPINE].digest);
    expect(await skopeoDigest(`${s.host}/registry.example.com-5000/team/api:1.4.2`)).toBe(tops[API].digest);
    const tags = JSON.parse((await mustRun('skopeo', ['list-tags', '--tls-verify=false', `docker://${s.host}/registry.example.com-5000/team/api`])).stdout);
    expect(tags.Tags).toEqual(['1.4.1', '1.4.2']);
  });

  it('skopeo copies a multi-platform image with all children, digests preserved', async () => {
    const out = path.join(dir, 'pulled');
    await mustRun('skopeo', ['copy', '--all', '--preserve-digests', '--src-tls-verify=false', `docker://${s.host}/registry.example.com-5000/team/api:1.4.2`, `oci:${out}:api`]);
    const index = JSON.parse(await readFile(path.join(out, 'index.json'), 'utf8'));
    expect(index.manifests[0].digest).toBe(tops[API].digest);
    const upstreamIndex = await readJson(tops[API].digest);
    for (const child of upstreamIndex.manifests as Descriptor[]) {
      const m = await readJson(child.digest);
      for (const d of [child, m.config, ...m.layers] as Descriptor[]) {
        expect(sha256(await readFile(path.join(out, 'blobs/sha256', d.digest.slice(7))))).toBe(d.digest);
      }
    }
  });

  it('serves the children of an index by digest', async () => {
    const upstreamIndex = await readJson(tops[API].digest);
    const arm = upstreamIndex.manifests.find((m: Descriptor) => m.platform?.architecture === 'arm64');
    expect(await skopeoDigest(`${s.host}/registry.example.com-5000/team/api@${arm.digest}`)).toBe(arm.digest);
    const res = await fetch(`${s.url}/v2/registry.example.com-5000/team/api/manifests/${arm.digest}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/vnd.oci.image.manifest.v1+json');
    expect(res.headers.get('docker-content-digest')).toBe(arm.digest);
    expect(Buffer.from(await res.arrayBuffer())).toEqual(await readFile(blobFile(arm.digest)));
    // A digest the repository does not reach is not served from it.
    const other = await fetch(`${s.url}/v2/docker.io/library/alpine/manifests/${arm.digest}`);
    expect(other.status).toBe(404);
    expect((await other.json()).errors[0].code).toBe('MANIFEST_UNKNOWN');
  });

  it('speaks the distribution API: version check, ranges, HEAD, pagination, errors', async () => {
    const v2 = await fetch(`${s.url}/v2/`);
    expect(v2.status).toBe(200);
    expect(v2.headers.get('docker-distribution-api-version')).toBe('registry/2.0');

    const manifest = await readJson(tops[ALPINE].digest);
    const layer: Descriptor = manifest.layers[0];
    const whole = await readFile(blobFile(layer.digest));
    const head = await fetch(`${s.url}/v2/docker.io/library/alpine/blobs/${layer.digest}`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(Number(head.headers.get('content-length'))).toBe(layer.size);
    expect(head.headers.get('docker-content-digest')).toBe(layer.digest);
    const ranged = await fetch(`${s.url}/v2/docker.io/library/alpine/blobs/${layer.digest}`, { headers: { Range: 'bytes=10-99' } });
    expect(ranged.status).toBe(206);
    expect(ranged.headers.get('content-range')).toBe(`bytes 10-99/${layer.size}`);
    expect(Buffer.from(await ranged.arrayBuffer())).toEqual(whole.subarray(10, 100));
    const tail = await fetch(`${s.url}/v2/docker.io/library/alpine/blobs/${layer.digest}`, { headers: { Range: 'bytes=-5' } });
    expect(Buffer.from(await tail.arrayBuffer())).toEqual(whole.subarray(whole.length - 5));
    const beyond = await fetch(`${s.url}/v2/docker.io/library/alpine/blobs/${layer.digest}`, { headers: { Range: `bytes=${layer.size}-` } });
    expect(beyond.status).toBe(416);

    const page1 = await fetch(`${s.url}/v2/registry.example.com-5000/team/api/tags/list?n=1`);
    expect(await page1.json()).toEqual({ name: 'registry.example.com-5000/team/api', tags: ['1.4.1'] });
    const link = page1.headers.get('link')!;
    expect(link).toMatch(/rel="next"/);
    const page2 = await fetch(new URL(/<([^>]+)>/.exec(link)![1], s.url));
    expect(await page2.json()).toEqual({ name: 'registry.example.com-5000/team/api', tags: ['1.4.2'] });
    expect(page2.headers.get('link')).toBeNull();

    const catalog = await (await fetch(`${s.url}/v2/_catalog`)).json();
    expect(catalog).toEqual({ repositories: ['docker.io/library/alpine', 'registry.example.com-5000/team/api'] });

    const unknownTag = await fetch(`${s.url}/v2/docker.io/library/alpine/manifests/9.9`);
    expect(unknownTag.status).toBe(404);
    expect((await unknownTag.json()).errors[0].code).toBe('MANIFEST_UNKNOWN');
    const unknownRepo = await fetch(`${s.url}/v2/docker.io/library/nginx/tags/list`);
    expect((await unknownRepo.json()).errors[0].code).toBe('NAME_UNKNOWN');
    const unknownBlob = await fetch(`${s.url}/v2/docker.io/library/alpine/blobs/sha256:${'0'.repeat(64)}`);
    expect(unknownBlob.status).toBe(404);
    expect((await unknownBlob.json()).errors[0].code).toBe('BLOB_UNKNOWN');
    const put = await fetch(`${s.url}/v2/docker.io/library/alpine/manifests/3.20`, { method: 'PUT', body: '{}' });
    expect(put.status).toBe(405);
    expect((await put.json()).errors[0].code).toBe('UNSUPPORTED');
    const upload = await fetch(`${s.url}/v2/docker.io/library/alpine/blobs/uploads/`, { method: 'POST' });
    expect(upload.status).toBe(405);
  });

  it('stops cleanly on SIGTERM', async () => {
    expect(await stop(s)).toBe(0);
  });
});

describe('ferry serve over a layout directory, with a target mapping and TLS', () => {
  it('serves an OCI layout dir under the target prefix (flat), over HTTPS', async () => {
    const ca = await makeTestCa(path.join(dir, 'ca'));
    const targetFile = path.join(dir, 'site.yaml');
    await writeFile(targetFile, 'apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: site }\nregistry:\n  url: https://127.0.0.1:5000\n  prefix: mirror\n  layout: flat\n');
    const s = await serve([upstream, '--listen', '127.0.0.1:0', '--target', targetFile, '--tls-cert', ca.certFile, '--tls-key', ca.keyFile]);
    expect(s.url).toMatch(/^https:\/\//);
    // Trusting the CA the way a client on the site would (containers-certs.d layout).
    const certDir = path.join(dir, 'certs');
    await mustRun('mkdir', ['-p', certDir]);
    await mustRun('cp', [ca.caFile, path.join(certDir, 'ca.crt')]);
    const tls = ['--cert-dir', certDir];
    expect(await skopeoDigest(`${s.host}/mirror/library/alpine:3.20`, tls)).toBe(tops[ALPINE].digest);
    expect(await skopeoDigest(`${s.host}/mirror/team/api:1.4.2`, tls)).toBe(tops[API].digest);
    const out = path.join(dir, 'from-layout');
    await mustRun('skopeo', ['copy', '--preserve-digests', '--src-cert-dir', certDir, `docker://${s.host}/mirror/team/api:1.4.1`, `dir:${out}`]);
    expect(sha256(await readFile(path.join(out, 'manifest.json')))).toBe(tops[API_OLD].digest);
    expect(await stop(s)).toBe(0);
  });

  it('serves Docker schema 2 manifests with their own media type, from a layout LayoutDir wrote', async () => {
    const v2dir = path.join(dir, 'v2s2-dir');
    await mustRun('skopeo', ['copy', '--format', 'v2s2', `oci:${upstream}:${ALPINE}`, `dir:${v2dir}`]);
    const manifestBytes = await readFile(path.join(v2dir, 'manifest.json'));
    const manifest = JSON.parse(manifestBytes.toString('utf8'));
    expect(manifest.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    const layout = new LayoutDir(path.join(dir, 'v2s2-layout'));
    await layout.init();
    for (const d of [manifest.config, ...manifest.layers] as Descriptor[]) {
      await layout.writeBytes(await readFile(path.join(v2dir, d.digest.slice(7))), d.digest);
    }
    const digest = sha256(manifestBytes);
    await layout.writeBytes(manifestBytes, digest);
    const ref = 'docker.io/library/alpine:3.20-v2s2';
    await layout.addToIndex([{ mediaType: manifest.mediaType, digest, size: manifestBytes.length, annotations: { 'org.opencontainers.image.ref.name': ref } }]);
    // (skopeo 1.9 cannot read this layout by name itself: containers/image only looks up
    // index.json entries with OCI media types. Served over HTTP it is an ordinary image.)
    expect((await layout.readIndex()).manifests.map((m) => m.digest)).toEqual([digest]);

    const s = await serve([layout.root, '--listen', '127.0.0.1:0']);
    expect(await skopeoDigest(`${s.host}/docker.io/library/alpine:3.20-v2s2`)).toBe(digest);
    const res = await fetch(`${s.url}/v2/docker.io/library/alpine/manifests/3.20-v2s2`, { method: 'HEAD' });
    expect(res.headers.get('content-type')).toBe('application/vnd.docker.distribution.manifest.v2+json');
    expect(res.headers.get('docker-content-digest')).toBe(digest);
    const out = path.join(dir, 'v2s2-pulled');
    await mustRun('skopeo', ['copy', '--preserve-digests', '--src-tls-verify=false', `docker://${s.host}/docker.io/library/alpine:3.20-v2s2`, `dir:${out}`]);
    expect(sha256(await readFile(path.join(out, 'manifest.json')))).toBe(digest);

    // A client that drops a blob mid-transfer does not take the server down.
    const layer: Descriptor = manifest.layers[0];
    const aborted = new AbortController();
    const partial = await fetch(`${s.url}/v2/docker.io/library/alpine/blobs/${layer.digest}`, { signal: aborted.signal });
    aborted.abort();
    await partial.arrayBuffer().catch(() => undefined);
    expect((await fetch(`${s.url}/v2/`)).status).toBe(200);
    expect(await stop(s)).toBe(0);
  });

  it('picks up images added to a served directory (skopeo writes the layout here)', async () => {
    const grow = path.join(dir, 'grow');
    await mustRun('skopeo', ['copy', '--preserve-digests', `oci:${upstream}:${ALPINE}`, `oci:${grow}:${ALPINE}`]);
    // The usual OCI convention, a bare tag as ref.name, names no repository: said, not served.
    await mustRun('skopeo', ['copy', '--preserve-digests', `oci:${upstream}:${ALPINE}`, `oci:${grow}:plain`]);
    const s = await serve([grow, '--listen', '127.0.0.1:0']);
    expect(await skopeoDigest(`${s.host}/docker.io/library/alpine:3.20`)).toBe(tops[ALPINE].digest);
    for (let i = 0; i < 50 && !s.stderr().includes('warning: plain'); i++) await new Promise((r) => setTimeout(r, 100));
    expect(s.stderr()).toContain('warning: plain: ref.name is a bare tag');
    expect(await (await fetch(`${s.url}/v2/_catalog`)).json()).toEqual({ repositories: ['docker.io/library/alpine'] });
    const missing = await fetch(`${s.url}/v2/registry.example.com-5000/team/api/manifests/1.4.1`);
    expect(missing.status).toBe(404);
    await mustRun('skopeo', ['copy', '--preserve-digests', `oci:${upstream}:${API_OLD}`, `oci:${grow}:${API_OLD}`]);
    // The server re-reads index.json at most once a second; poll until it has.
    let status = 0;
    for (let i = 0; i < 50 && status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 200));
      status = (await fetch(`${s.url}/v2/registry.example.com-5000/team/api/manifests/1.4.1`, { method: 'HEAD' })).status;
    }
    expect(status).toBe(200);
    expect(await skopeoDigest(`${s.host}/registry.example.com-5000/team/api:1.4.1`)).toBe(tops[API_OLD].digest);
    expect(await (await fetch(`${s.url}/v2/_catalog`)).json()).toEqual({ repositories: ['docker.io/library/alpine', 'registry.example.com-5000/team/api'] });
    expect(await stop(s)).toBe(0);
  });

  it('says what is wrong with a bad source or listen address', async () => {
    const r1 = await mustRun(process.execPath, [FERRY, 'serve', path.join(dir, 'nope.tar'), '--listen', '127.0.0.1:0']).catch((e: Error) => e.message);
    expect(r1).toMatch(/exited 2[\s\S]*nope\.tar: no such bundle or directory/);
    const r2 = await mustRun(process.execPath, [FERRY, 'serve', bundle, '--listen', 'nonsense']).catch((e: Error) => e.message);
    expect(r2).toMatch(/--listen "nonsense": expected host:port/);
    const damaged = path.join(dir, 'damaged.tar');
    await mustRun('cp', [bundle, damaged]);
    const layer = (await readJson(tops[ALPINE].digest)).layers[0].digest as string;
    await flipByte(damaged, `blobs/sha256/${layer.slice(7)}`);
    const r3 = await runFerry(['serve', damaged, '--verify', '--listen', '127.0.0.1:0']);
    expect(r3.code).toBe(3);
    expect(r3.stderr).toContain(`layer ${layer}: digest mismatch`);
    expect(r3.stdout).toBe('');
  });
});

describe('startRegistryServer in process', () => {
  it('serves a bundle with a route another kind adds, and never hands a route a path with ..', async () => {
    const source = await BundleReader.open(bundle);
    const seen: string[] = [];
    const log: string[] = [];
    const server = await startRegistryServer({
      source,
      mapping: { layout: 'nested', prefix: 'site' },
      listen: '127.0.0.1:0',
      onRequest: (r) => log.push(`${r.method} ${r.path} ${r.status}`),
      routes: [
        {
          prefix: '/files/',
          handle: (_req, res, rest) => {
            seen.push(rest);
            res.writeHead(200, { 'Content-Type': 'text/plain' });
            res.end(`file ${rest}\n`);
          },
        },
      ],
    });
    try {
      expect(await skopeoDigest(`${server.url.replace('http://', '')}/site/docker.io/library/alpine:3.20`)).toBe(tops[ALPINE].digest);
      expect(await (await fetch(`${server.url}/files/example.com/a%20b.txt`)).text()).toBe('file example.com/a b.txt\n');
      // Dot segments are resolved by URL parsing (this lands on /etc/passwd: not a route);
      // encoded slashes survive it and are refused before any route sees them.
      expect((await fetch(`${server.url}/files/x/%2e%2e/%2e%2e/etc/passwd`)).status).toBe(404);
      expect((await fetch(`${server.url}/files/x%2f..%2f..%2fetc%2fpasswd`)).status).toBe(400);
      expect(seen).toEqual(['example.com/a b.txt']);
      expect((await fetch(`${server.url}/other`)).status).toBe(404);
      expect(log).toContain('GET /other 404');
      expect(log).toContain('GET /files/example.com/a%20b.txt 200');
    } finally {
      await server.close();
      await source.close();
    }
  });
});

describe('ferry serve answers like the real docker-registry', () => {
  let reg: RunningRegistry;
  let s: Served;
  beforeAll(async () => {
    reg = await startRegistry({ mode: 'http' });
    // The same images, pushed by skopeo under the repository names ferry serve maps them to.
    const names: Record<string, string> = {
      [ALPINE]: 'docker.io/library/alpine:3.20',
      [API]: 'registry.example.com-5000/team/api:1.4.2',
      [API_OLD]: 'registry.example.com-5000/team/api:1.4.1',
    };
    for (const [ref, mirror] of Object.entries(names)) {
      await mustRun('skopeo', ['copy', '--all', '--preserve-digests', '--dest-tls-verify=false', `oci:${upstream}:${ref}`, `docker://${reg.host}/${mirror}`]);
    }
    s = await serve([bundle, '--listen', '127.0.0.1:0']);
  });
  afterAll(async () => {
    await reg?.stop();
    if (s) await stop(s);
  });

  it('same status, digest, media type, length and bytes for every request a client makes', async () => {
    const idx = await readJson(tops[API].digest);
    const child: string = idx.manifests[0].digest;
    const layer: string = (await readJson(child)).layers[1].digest;
    const accept = 'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json';
    const api = 'registry.example.com-5000/team/api';
    // (Tag pagination is left out: Debian's docker-registry 2.8 ignores `n`; the spec's
    // pagination is checked against the spec in the first describe.)
    const requests: Array<{ path: string; method?: string; headers?: Record<string, string> }> = [
      { path: '/v2/' },
      { path: `/v2/docker.io/library/alpine/manifests/3.20`, headers: { Accept: accept } },
      { path: `/v2/${api}/manifests/1.4.2`, headers: { Accept: accept } },
      { path: `/v2/${api}/manifests/1.4.2`, method: 'HEAD', headers: { Accept: accept } },
      { path: `/v2/${api}/manifests/${child}`, headers: { Accept: accept } },
      { path: `/v2/${api}/blobs/${layer}` },
      { path: `/v2/${api}/blobs/${layer}`, method: 'HEAD' },
      { path: `/v2/${api}/blobs/${layer}`, headers: { Range: 'bytes=100-1099' } },
      { path: `/v2/${api}/tags/list` },
      { path: `/v2/_catalog` },
      { path: `/v2/docker.io/library/alpine/manifests/9.9`, headers: { Accept: accept } },
      { path: `/v2/docker.io/library/alpine/blobs/sha256:${'0'.repeat(64)}` },
      { path: `/v2/docker.io/library/nginx/tags/list` },
    ];
    const describeResponse = async (base: string, r: (typeof requests)[number]) => {
      const res = await fetch(base + r.path, { method: r.method ?? 'GET', headers: r.headers });
      const body = Buffer.from(await res.arrayBuffer());
      const json = (res.headers.get('content-type') ?? '').includes('json') && body.length ? JSON.parse(body.toString('utf8')) : undefined;
      // API bodies (not manifests) are compared as data: docker-registry lists unpaginated
      // tags in storage order and ends JSON with a newline; ferry sorts and does not.
      const apiJson = json && !json.mediaType && !json.schemaVersion;
      if (apiJson && json.tags) json.tags.sort();
      return {
        request: `${r.method ?? 'GET'} ${r.path} ${JSON.stringify(r.headers?.Range ?? '')}`,
        status: res.status,
        digest: res.headers.get('docker-content-digest'),
        contentType: res.status < 300 ? res.headers.get('content-type')?.split(';')[0] : undefined,
        length: res.status < 300 && !apiJson ? res.headers.get('content-length') : undefined,
        contentRange: res.headers.get('content-range'),
        hasNextLink: res.headers.has('link'),
        // Error bodies: the codes clients act on (messages differ by wording).
        body: res.status >= 400 ? json?.errors?.map((e: { code: string }) => e.code) : apiJson ? json : sha256(body),
      };
    };
    for (const r of requests) {
      expect(await describeResponse(s.url, r)).toEqual(await describeResponse(reg.url, r));
    }
  });
});
