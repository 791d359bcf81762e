import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, link, lstat, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FERRY, runFerry } from '../support/cli.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import { pushLayoutImage, writeOciLayout } from '../support/images.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';

/**
 * `bundle create` writes big blobs straight from the registry into their places in the bundle
 * (direct packing). Against a real Distribution registry, behind a proxy that records (and for
 * one test holds back) the requests: the bundle equals the one the cache-then-pack path writes,
 * byte for byte, and a create killed midway continues from its partial output, fetching only
 * the blobs it had not written.
 */
let work: string;
let upstream: RunningRegistry;
let proxy: FaultProxy;
let manifest: string;
/** The big layers (≥ 1 MiB: streamed directly), by image name. */
const layers: Record<string, string> = {};
const env = (cache: string) => ({ FERRY_CACHE_DIR: path.join(work, cache), FERRY_RETRY_MIN_MS: '50' });

const sha256File = (file: string) =>
  new Promise<string>((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(file)
      .on('data', (c) => h.update(c))
      .on('end', () => resolve(h.digest('hex')))
      .on('error', reject);
  });

/** The blob digests the proxy was asked for (GET), from request number `from` on. */
const blobGets = (from: number) =>
  proxy.requests
    .slice(from)
    .filter((r) => r.method === 'GET' && r.path.includes('/blobs/sha256:'))
    .map((r) => /\/blobs\/(sha256:[a-f0-9]{64})/.exec(r.path)![1]);

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-create-direct-'));
  upstream = await startRegistry({ mode: 'http' });
  const layoutDir = path.join(work, 'layout');
  const sizes: Record<string, number> = { one: 2, two: 3, three: 5, four: 24 };
  await writeOciLayout(
    layoutDir,
    Object.entries(sizes).map(([name, mb]) => ({
      name,
      platforms: [{ architecture: 'amd64', layers: [{ files: { [`etc/${name}`]: `${name}\n` } }, { randomBytes: mb * 1024 * 1024 + 123, seed: `direct-${name}` }] }],
    })),
  );
  for (const name of Object.keys(sizes)) await pushLayoutImage(upstream, layoutDir, name, `direct/${name}:1`);
  proxy = await startFaultProxy(upstream.url);
  manifest = path.join(work, 'direct.yaml');
  await writeFile(
    manifest,
    ['apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata: { name: direct }', 'images:', ...Object.keys(sizes).map((n) => `  - ref: ${proxy.host}/direct/${n}:1`), ''].join('\n'),
  );
  const lock = await runFerry(['lock', manifest], { env: env('cache-lock') });
  expect(lock.code, lock.stderr).toBe(0);
  // The registry holds the layers as pushed (skopeo may recompress): their digests come from the lock.
  const locked = JSON.parse(await readFile(path.join(work, 'direct.lock.json'), 'utf8')) as { images: Array<{ ref: string; blobs: Array<{ digest: string; size: number }> }> };
  for (const image of locked.images) {
    const big = image.blobs.filter((b) => b.size >= 1024 * 1024);
    expect(big).toHaveLength(1);
    layers[/\/direct\/(\w+):1$/.exec(image.ref)![1]] = big[0].digest;
  }
}, 300_000);

afterAll(async () => {
  await proxy?.stop();
  await upstream?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

/**
 * A create of `out` killed once every big layer but one is written (that one held back: 503, retry
 * after 100 s): its partial output and journal stay. Returns the held-back layer.
 */
async function killMidway(out: string, cache: string): Promise<string> {
  const journal = `${out}.partial.json`;
  const held = layers.three;
  proxy.addRule({ method: 'GET', path: new RegExp(`/blobs/${held}`), action: { kind: 'status', status: 503, retryAfter: '100' }, times: Infinity });
  const child = spawn(process.execPath, [FERRY, 'bundle', 'create', manifest, '-o', out, '-q'], { env: { ...process.env, ...env(cache) }, stdio: 'ignore' });
  const closed = new Promise((r) => child.once('close', r));
  const others = Object.values(layers).filter((d) => d !== held);
  let killed = false;
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline && child.exitCode === null) {
    const written = (await readFile(journal, 'utf8').catch(() => '')).split('\n').filter((l) => l.startsWith('sha256:'));
    if (others.every((d) => written.includes(d))) {
      child.kill('SIGKILL');
      killed = true;
      break;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  await closed;
  proxy.clearRules();
  expect(killed).toBe(true);
  return held;
}

describe('bundle create, direct packing', () => {
  it('writes the same bytes as the cache-then-pack path, from an empty or a filled cache', async () => {
    const ref = path.join(work, 'ref.ferry.tar');
    const keep = await runFerry(['bundle', 'create', manifest, '-o', ref, '--keep-cache'], { env: env('cache-ref') });
    expect(keep.code, keep.stderr).toBe(0);

    const from = proxy.requests.length;
    const direct = path.join(work, 'direct.ferry.tar');
    const d = await runFerry(['bundle', 'create', manifest, '-o', direct], { env: env('cache-direct') });
    expect(d.code, d.stderr).toBe(0);
    expect(await sha256File(direct)).toBe(await sha256File(ref));
    // Each big layer fetched once, and none of them kept in the cache.
    expect(blobGets(from).filter((g) => Object.values(layers).includes(g)).sort()).toEqual(Object.values(layers).sort());
    for (const digest of Object.values(layers)) await expect(stat(path.join(work, 'cache-direct/blobs/sha256', digest.slice(7)))).rejects.toThrow();

    // The cache the first run filled: everything is copied from it, nothing fetched.
    const again = proxy.requests.length;
    const filled = path.join(work, 'filled.ferry.tar');
    const f = await runFerry(['bundle', 'create', manifest, '-o', filled], { env: env('cache-ref') });
    expect(f.code, f.stderr).toBe(0);
    expect(blobGets(again)).toEqual([]);
    expect(await sha256File(filled)).toBe(await sha256File(ref));

    const v = await runFerry(['bundle', 'verify', direct]);
    expect(v.code, v.stdout + v.stderr).toBe(0);
  });

  it('a create without a lock reads each manifest once: the fetch reuses what the lock read', async () => {
    const relock = path.join(work, 'relock.yaml');
    await writeFile(relock, (await readFile(manifest, 'utf8')).replace('name: direct', 'name: relock'));
    const from = proxy.requests.length;
    const r = await runFerry(['bundle', 'create', relock, '-o', path.join(work, 'relock.ferry.tar')], { env: env('cache-relock') });
    expect(r.code, r.stderr).toBe(0);
    const manifestGets = proxy.requests.slice(from).filter((q) => q.method === 'GET' && /\/manifests\//.test(q.path));
    // One per image (by tag, in the lock); none again by digest in the fetch.
    expect(manifestGets.map((q) => q.path).sort()).toEqual(Object.keys(layers).map((n) => `/v2/direct/${n}/manifests/1`).sort());
    const v = await runFerry(['bundle', 'verify', path.join(work, 'relock.ferry.tar')]);
    expect(v.code, v.stdout + v.stderr).toBe(0);
  });

  it('refuses at once to write a bundle another live ferry is writing; a lock left by a dead one is taken over', async () => {
    const out = path.join(work, 'locked.ferry.tar');
    // A live process holds the output's lock (as a concurrent create would).
    const holder = spawn('sleep', ['60'], { stdio: 'ignore' });
    try {
      await writeFile(`${out}.lock`, String(holder.pid));
      const r = await runFerry(['bundle', 'create', manifest, '-o', out], { env: env('cache-locked') });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(`another ferry process (pid ${holder.pid}) is writing this bundle`);
      await expect(stat(out)).rejects.toThrow();
      await expect(stat(`${out}.partial`)).rejects.toThrow();
    } finally {
      holder.kill('SIGKILL');
      await new Promise((r) => holder.once('close', r));
    }
    // The holder is gone: its lock is stale, taken over, and removed when the create is done.
    const again = await runFerry(['bundle', 'create', manifest, '-o', out], { env: env('cache-locked') });
    expect(again.code, again.stderr).toBe(0);
    await expect(stat(`${out}.lock`)).rejects.toThrow();
    expect((await runFerry(['bundle', 'verify', out])).code).toBe(0);
  });

  it('a create killed midway continues from its partial output and fetches only what was missing', async () => {
    const out = path.join(work, 'killed.ferry.tar');
    const journal = `${out}.partial.json`;
    const held = await killMidway(out, 'cache-killed');
    await expect(stat(out)).rejects.toThrow();
    expect((await stat(`${out}.partial`)).size).toBeGreaterThan(0);

    const from = proxy.requests.length;
    const r = await runFerry(['bundle', 'create', manifest, '-o', out, '--json'], { env: env('cache-killed') });
    expect(r.code, r.stderr).toBe(0);
    // Only the held-back layer comes from the registry; the rest is re-hashed from the partial output.
    expect(blobGets(from)).toEqual([held]);
    const result = JSON.parse(r.stdout) as { resumedBytes?: number };
    expect(result.resumedBytes).toBeGreaterThan(28 * 1024 * 1024);
    expect(await sha256File(out)).toBe(await sha256File(path.join(work, 'ref.ferry.tar')));
    await expect(stat(journal)).rejects.toThrow();
    await expect(stat(`${out}.partial`)).rejects.toThrow();
  });

  it('a link planted at <bundle>.partial is removed, never written through; the bundle is a file of its own', async () => {
    const out = path.join(work, 'planted.ferry.tar');
    const victim = path.join(work, 'victim-link.txt');
    await writeFile(victim, 'precious\n');
    await symlink(victim, `${out}.partial`);
    const r = await runFerry(['bundle', 'create', manifest, '-o', out, '-q'], { env: env('cache-planted') });
    expect(r.code, r.stderr).toBe(0);
    expect(await readFile(victim, 'utf8')).toBe('precious\n');
    expect((await lstat(out)).isFile()).toBe(true);
    expect(await sha256File(out)).toBe(await sha256File(path.join(work, 'ref.ferry.tar')));
  });

  it('a killed create whose partial output was swapped for a hard link to another file is refused, that file untouched', async () => {
    const out = path.join(work, 'swapped.ferry.tar');
    await killMidway(out, 'cache-swapped');
    // Another user's file of the same size in its place, under a second name (a hard link).
    const victim = path.join(work, 'victim-hard.bin');
    await copyFile(`${out}.partial`, victim);
    const before = await sha256File(victim);
    await rm(`${out}.partial`);
    await link(victim, `${out}.partial`);
    const r = await runFerry(['bundle', 'create', manifest, '-o', out], { env: env('cache-swapped') });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`${out}.partial: a file with 2 names (a hard link to another file), not the partial output ferry writes; nothing was written through it`);
    expect(await sha256File(victim)).toBe(before);
    await expect(stat(out)).rejects.toThrow();
  });
});
