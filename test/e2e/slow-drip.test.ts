import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runFerry } from '../support/cli.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import { seedImages, type SeededImages } from '../support/images.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';
import { startStaticServer, type StaticServer } from '../support/static-http.js';

/**
 * Slow-drip servers (a byte every 200 ms: never idle long enough for an idle timeout, far below
 * any useful speed) in front of a real registry and a real file server, through the built CLI
 * with a 1 s low-speed window: the command ends, naming the artifact and the knob; a blob that
 * drips once resumes with Range instead of starting over.
 */
let work: string;
let upstream: RunningRegistry;
let registryProxy: FaultProxy;
let files: StaticServer;
let filesProxy: FaultProxy;
let seeded: SeededImages;
let imageManifest: string;
let layer: string;
const payload = randomBytes(300 * 1024);
let run = 0;

const env = () => ({
  FERRY_CACHE_DIR: path.join(work, `cache-${run}`),
  FERRY_RETRIES: '1',
  FERRY_RETRY_MIN_MS: '50',
  FERRY_SPEED_TIME_MS: '1000',
});

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-slow-drip-'));
  upstream = await startRegistry({ mode: 'http' });
  seeded = await seedImages(upstream, { bigLayerMb: 2 });
  registryProxy = await startFaultProxy(upstream.url);
  imageManifest = path.join(work, 'images.yaml');
  await writeFile(imageManifest, `apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: images }\nimages:\n  - ref: ${seeded.refs.big!.replace(upstream.host, registryProxy.host)}\n`);
  const lock = await runFerry(['lock', imageManifest], { env: { FERRY_CACHE_DIR: path.join(work, 'cache-lock') } });
  expect(lock.code, lock.stderr).toBe(0);
  const big = JSON.parse(await readFile(path.join(work, 'images.lock.json'), 'utf8')).images[0];
  layer = big.blobs.find((b: { mediaType: string }) => !b.mediaType.includes('config')).digest;

  const srv = path.join(work, 'srv');
  await mkdir(path.join(srv, 'charts'), { recursive: true });
  await writeFile(path.join(srv, 'disk.img'), payload);
  await writeFile(path.join(srv, 'charts/index.yaml'), `apiVersion: v1\nentries:\n  demo:\n${'    - name: demo\n      version: 1.0.0\n      urls: [demo-1.0.0.tgz]\n'.repeat(200)}`);
  files = await startStaticServer(srv);
  filesProxy = await startFaultProxy(files.url);
}, 300_000);

afterAll(async () => {
  await registryProxy?.stop();
  await filesProxy?.stop();
  await files?.close();
  await upstream?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

beforeEach(() => {
  registryProxy.clearRules();
  registryProxy.requests.length = 0;
  filesProxy.clearRules();
  filesProxy.requests.length = 0;
  run++;
});

const blobGets = () => registryProxy.requests.filter((r) => r.method === 'GET' && r.path.includes(`/blobs/${layer}`));

async function project(name: string, body: string): Promise<string> {
  const file = path.join(work, `${name}.yaml`);
  await writeFile(file, `apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: ${name} }\n${body}`);
  return file;
}

describe('slow-drip servers', () => {
  it('an image layer that drips once is cut off and resumed with Range; the bundle is complete', async () => {
    registryProxy.addRule({ method: 'GET', path: new RegExp(`/blobs/${layer}`), action: { kind: 'drip', afterBytes: 512 * 1024 } });
    const out = path.join(work, `run-${run}.ferry.tar`);
    const r = await runFerry(['bundle', 'create', imageManifest, '-o', out, '--frozen'], { env: env(), timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    const gets = blobGets();
    expect(gets[0].fault).toBe('drip');
    const resumed = gets.slice(1).map((g) => /^bytes=(\d+)-/.exec(g.range ?? '')?.[1]);
    expect(resumed.some((n) => n !== undefined && Number(n) >= 512 * 1024), JSON.stringify(gets)).toBe(true);
    const v = await runFerry(['bundle', 'verify', out], { env: env() });
    expect(v.code, v.stderr).toBe(0);
  }, 180_000);

  it('an image layer that always drips ends the command, naming the image, the blob and the knob', async () => {
    registryProxy.addRule({ method: 'GET', path: new RegExp(`/blobs/${layer}`), action: { kind: 'drip', afterBytes: 0 }, times: Infinity });
    const out = path.join(work, `run-${run}.ferry.tar`);
    const r = await runFerry(['bundle', 'create', imageManifest, '-o', out, '--frozen'], { env: env(), timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toContain('too slow');
    expect(r.stderr).toContain(layer);
    expect(r.stderr).toContain('big');
    expect(r.stderr).toContain('FERRY_SPEED_LIMIT');
  }, 180_000);

  it('a file download that drips ends the command, naming the URL', async () => {
    filesProxy.addRule({ method: 'GET', path: /\/disk\.img$/, action: { kind: 'drip', afterBytes: 1000 }, times: Infinity });
    const url = `${filesProxy.url}/disk.img`;
    const m = await project('file-drip', `files:\n  - name: disk\n    url: ${url}\n    sha256: ${createHash('sha256').update(payload).digest('hex')}\n`);
    const r = await runFerry(['bundle', 'create', m, '-o', path.join(work, `run-${run}.ferry.tar`)], { env: env(), timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toContain(url);
    expect(r.stderr).toContain('too slow');
    expect(r.stderr).toContain('FERRY_SPEED_LIMIT');
  }, 180_000);

  it("a chart repository's index.yaml that drips ends the lock, naming the repository", async () => {
    filesProxy.addRule({ method: 'GET', path: /\/charts\/index\.yaml$/, action: { kind: 'drip', afterBytes: 100 }, times: Infinity });
    const m = await project('chart-drip', `charts:\n  - name: demo\n    repo: ${filesProxy.url}/charts\n    version: 1.0.0\n    images: none\n`);
    const r = await runFerry(['lock', m], { env: env(), timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toContain(`${filesProxy.url}/charts`);
    expect(r.stderr).toContain('too slow');
    expect(r.stderr).toContain('FERRY_SPEED_LIMIT');
  }, 180_000);

  it('a server that accepts and never answers ends the command, naming the URL', async () => {
    filesProxy.addRule({ method: 'GET', path: /\/disk\.img$/, action: { kind: 'silent' }, times: Infinity });
    const url = `${filesProxy.url}/disk.img`;
    const m = await project('file-silent', `files:\n  - name: disk\n    url: ${url}\n    sha256: ${createHash('sha256').update(payload).digest('hex')}\n`);
    const r = await runFerry(['bundle', 'create', m, '-o', path.join(work, `run-${run}.ferry.tar`)], { env: env(), timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toContain(url);
    expect(r.stderr).toContain('no answer within 1 s');
  }, 180_000);
});
