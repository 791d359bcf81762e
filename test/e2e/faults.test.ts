import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runFerry } from '../support/cli.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import { seedImages, type SeededImages } from '../support/images.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';

/**
 * Faults injected by an in-process proxy in front of the real registry, while the built CLI
 * runs `bundle create` as a user would.
 */
let work: string;
let upstream: RunningRegistry;
let proxy: FaultProxy;
let seeded: SeededImages;
let manifest: string;
let layer: string;
let run = 0;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-faults-'));
  upstream = await startRegistry({ mode: 'http' });
  seeded = await seedImages(upstream, { bigLayerMb: 8 });
  proxy = await startFaultProxy(upstream.url);
  manifest = path.join(work, 'faults.yaml');
  const viaProxy = (ref: string) => ref.replace(upstream.host, proxy.host);
  await writeFile(manifest, `apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: faults }\nimages:\n  - ref: ${viaProxy(seeded.refs.big!)}\n  - ref: ${viaProxy(seeded.refs.app)}\n`);
  const lock = await runFerry(['lock', manifest], { env: { FERRY_CACHE_DIR: path.join(work, 'cache-lock') } });
  expect(lock.code, lock.stderr).toBe(0);
  const big = JSON.parse(await readFile(path.join(work, 'faults.lock.json'), 'utf8')).images.find((i: { ref: string }) => i.ref.includes('/big:'));
  layer = big.blobs.find((b: { mediaType: string }) => !b.mediaType.includes('config')).digest;
}, 300_000);

afterAll(async () => {
  await proxy?.stop();
  await upstream?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

beforeEach(() => {
  proxy.clearRules();
  proxy.requests.length = 0;
  run++;
});

function bundleCreate() {
  const out = path.join(work, `run-${run}.ferry.tar`);
  return runFerry(['bundle', 'create', manifest, '-o', out, '--frozen'], {
    env: { FERRY_CACHE_DIR: path.join(work, `cache-${run}`), FERRY_RETRY_MIN_MS: '50' },
  }).then((r) => ({ ...r, out }));
}

const blobGets = () => proxy.requests.filter((r) => r.method === 'GET' && r.path.includes(`/blobs/${layer}`));

describe('faults while fetching', () => {
  it('a connection reset in the middle of a blob is resumed with Range, and the bundle verifies', async () => {
    proxy.addRule({ method: 'GET', path: new RegExp(`/blobs/${layer}`), action: { kind: 'reset', afterBytes: 3 * 1024 * 1024 } });
    const r = await bundleCreate();
    expect(r.code, r.stderr).toBe(0);
    const gets = blobGets();
    expect(gets[0].fault).toBe('reset');
    const resumed = gets.find((g) => g.range);
    expect(resumed?.range).toMatch(/^bytes=[1-9]\d*-$/);
    const v = await runFerry(['bundle', 'verify', r.out]);
    expect(v.code, v.stderr).toBe(0);
  });

  it('429 with Retry-After is waited out, then the request succeeds', async () => {
    proxy.addRule({ method: 'GET', path: /\/manifests\//, action: { kind: 'status', status: 429, retryAfter: '1' } });
    const r = await bundleCreate();
    expect(r.code, r.stderr).toBe(0);
    const manifestGets = proxy.requests.filter((q) => q.path.includes('/manifests/'));
    expect(manifestGets[0].status).toBe(429);
    expect(manifestGets.slice(1).some((q) => q.status === 200)).toBe(true);
  });

  it('503 is retried', async () => {
    proxy.addRule({ method: 'GET', path: new RegExp(`/blobs/${layer}`), action: { kind: 'status', status: 503 }, times: 2 });
    const r = await bundleCreate();
    expect(r.code, r.stderr).toBe(0);
    expect(blobGets().map((g) => g.status).slice(0, 3)).toEqual([503, 503, 200]);
  });

  it('a body whose digest is wrong fails at once, names image and blob, is not retried, and leaves no bundle', async () => {
    proxy.addRule({ method: 'GET', path: new RegExp(`/blobs/${layer}`), action: { kind: 'corrupt', atByte: 1000 } });
    const r = await bundleCreate();
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('/big:1');
    expect(r.stderr).toContain(layer);
    expect(r.stderr).toContain('digest mismatch');
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(blobGets()).toHaveLength(1);
    await expect(readFile(r.out)).rejects.toThrow();
  });
});
