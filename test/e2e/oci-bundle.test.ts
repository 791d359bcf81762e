import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mustRun, runFerry } from '../support/cli.js';
import { startFaultProxy } from '../support/fault-proxy.js';
import { seedImages, skopeoDigest, type SeededImages } from '../support/images.js';
import { REGISTRY_BIN, startRegistry, type RunningRegistry } from '../support/registry.js';

/**
 * Bundles through registries, end to end with the built CLI against real Distribution
 * registries: push/pull, import/verify/serve straight from oci://, a shared cache registry and
 * sharded builds.
 */
let work: string;
let upstream: RunningRegistry;
let store: RunningRegistry;
let seeded: SeededImages;
let manifest: string;
let bundle: string;
const others: RunningRegistry[] = [];
const env = (cache = 'cache') => ({ FERRY_CACHE_DIR: path.join(work, cache), FERRY_RETRY_MIN_MS: '50' });
const sha256File = async (f: string) => 'sha256:' + createHash('sha256').update(await readFile(f)).digest('hex');

async function writeTarget(name: string, reg: RunningRegistry): Promise<string> {
  const file = path.join(work, `${name}.yaml`);
  await writeFile(file, `apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: ${name} }\nregistry:\n  url: ${reg.url}\n  prefix: mirror\n`);
  return file;
}

/** Where Distribution's filesystem driver keeps a blob's bytes. */
function blobDataPath(reg: RunningRegistry, digest: string): string {
  const hex = digest.slice(7);
  return path.join(reg.storageDir, 'docker', 'registry', 'v2', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-oci-bundle-'));
  upstream = await startRegistry({ mode: 'http' });
  store = await startRegistry({ mode: 'http' });
  seeded = await seedImages(upstream);
  manifest = path.join(work, 'app.yaml');
  await writeFile(
    manifest,
    ['apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata: { name: app }', 'images:', `  - ref: ${seeded.refs.base}`, `  - ref: ${seeded.refs.app}`, `  - ref: ${seeded.refs.multi}`, `  - ref: ${seeded.refs.docker}`, ''].join('\n'),
  );
  bundle = path.join(work, 'app.ferry.tar');
  const r = await runFerry(['bundle', 'create', manifest, '-o', bundle, '-q'], { env: env() });
  expect(r.code, r.stderr).toBe(0);
}, 600_000);

afterAll(async () => {
  for (const r of others) await r.stop();
  await upstream?.stop();
  await store?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('a bundle is an OCI artifact', () => {
  it('push, then pull gives back the same bytes; a rerun of push uploads nothing', async () => {
    const ref = `oci://${store.host}/bundles/app:v1`;
    const pushed = await runFerry(['bundle', 'push', bundle, ref, '--json'], { env: env() });
    expect(pushed.code, pushed.stderr).toBe(0);
    const p = JSON.parse(pushed.stdout);
    expect(p.tarDigest).toBe(await sha256File(bundle));
    expect(p.uploaded).toBeGreaterThan(0);
    const again = await runFerry(['bundle', 'push', bundle, ref, '--json'], { env: env() });
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout).uploaded).toBe(0);

    const out = path.join(work, 'pulled.ferry.tar');
    const pulled = await runFerry(['bundle', 'pull', ref, '-o', out, '--json'], { env: env() });
    expect(pulled.code, pulled.stderr).toBe(0);
    expect((await readFile(out)).equals(await readFile(bundle))).toBe(true);
    // By digest too.
    const byDigest = await runFerry(['bundle', 'pull', `oci://${store.host}/bundles/app@${p.digest}`, '-o', path.join(work, 'pulled2.tar'), '-q'], { env: env() });
    expect(byDigest.code, byDigest.stderr).toBe(0);
    expect(await sha256File(path.join(work, 'pulled2.tar'))).toBe(p.tarDigest);
    // The images the bundle carries are pullable by other tools from the same repository.
    expect(await skopeoDigest(store, `${store.host}/bundles/app@${seeded.digests.app}`)).toBe(seeded.digests.app);
  });

  it('verify reads oci:// directly', async () => {
    const r = await runFerry(['bundle', 'verify', `oci://${store.host}/bundles/app:v1`, '--json'], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    const rep = JSON.parse(r.stdout);
    expect(rep.ok).toBe(true);
    expect(rep.images).toBe(4);
    const local = JSON.parse((await runFerry(['bundle', 'verify', bundle, '--json'])).stdout);
    expect(rep.files).toBe(local.files);
    expect(rep.bytes).toBe(local.bytes);
  });

  it('import straight from oci:// into a second registry: skopeo sees the upstream digests', async () => {
    const target = await startRegistry({ mode: 'http' });
    others.push(target);
    const file = await writeTarget('site', target);
    // Through a recording proxy: every blob of the bundle is read from its registry once (hashed
    // while it is pushed to the target, not read again by the verify pass).
    const proxy = await startFaultProxy(store.url);
    let r: Awaited<ReturnType<typeof runFerry>>;
    try {
      r = await runFerry(['import', `oci://${proxy.host}/bundles/app:v1`, '--target', file, '--json'], { env: env() });
    } finally {
      await proxy.stop();
    }
    expect(r.code, r.stderr).toBe(0);
    for (const key of ['base', 'app', 'multi', 'docker'] as const) {
      const mirrored = seeded.refs[key].replace(upstream.host, `${target.host}/mirror/${upstream.host.replace(':', '-')}`);
      expect(await skopeoDigest(target, mirrored), key).toBe(seeded.digests[key]);
    }
    const gets = new Map<string, number>();
    for (const q of proxy.requests) {
      const m = q.method === 'GET' ? /\/blobs\/(sha256:[a-f0-9]{64})/.exec(q.path) : null;
      if (m) gets.set(m[1], (gets.get(m[1]) ?? 0) + 1);
    }
    expect(gets.get(seeded.sharedLayer)).toBe(1);
    const rep = JSON.parse(r.stdout);
    expect(rep.verified.whilePushing.files).toBeGreaterThan(0);
    expect(rep.verified.whilePushing.read).toBe(rep.verified.whilePushing.bytes);
  });

  it('serve reads oci:// directly', async () => {
    // (checked through the registry API the served bundle answers)
    const { servedAppManifest } = await import('../support/craft-serve.js');
    expect(await servedAppManifest([`oci://${store.host}/bundles/app:v1`], seeded, upstream.host)).toEqual({ status: 200, digest: seeded.digests.app });
  });

  it('verify from oci:// catches a blob tampered with in the registry storage; pull refuses it', async () => {
    const repoRef = `oci://${store.host}/bundles/tamper:v1`;
    expect((await runFerry(['bundle', 'push', bundle, repoRef, '-q'], { env: env() })).code).toBe(0);
    const data = blobDataPath(store, seeded.sharedLayer);
    const original = await readFile(data);
    const bad = Buffer.from(original);
    bad[bad.length >> 1] ^= 0xff;
    await writeFile(data, bad);
    try {
      const r = await runFerry(['bundle', 'verify', repoRef, '--json'], { env: env() });
      expect(r.code).toBe(3);
      const rep = JSON.parse(r.stdout);
      expect(rep.ok).toBe(false);
      expect(rep.problems.map((p: { message: string }) => p.message).join('\n')).toContain(`${seeded.sharedLayer}: digest mismatch`);
      const out = path.join(work, 'tampered.tar');
      const pulled = await runFerry(['bundle', 'pull', repoRef, '-o', out], { env: env() });
      expect(pulled.code).not.toBe(0);
      expect(pulled.stderr).toContain('does not match its digest');
      await expect(stat(out)).rejects.toThrow();
      const imported = await runFerry(['import', repoRef, '--target', await writeTarget('tamper-site', store)], { env: env() });
      expect(imported.code).not.toBe(0);
      expect(imported.stderr).toContain('nothing was imported');
      // serve never hands out the tampered bytes as that digest, and stays up.
      const { startServe } = await import('../support/craft-serve.js');
      const s = await startServe([repoRef, '--listen', '127.0.0.1:0']);
      try {
        const repo = seeded.refs.app.replace(/:1$/, '').replace(upstream.host, upstream.host.replace(':', '-'));
        for (let i = 0; i < 2; i++) {
          // Either an error status, or a 200 whose body is cut before its end: never a complete 200.
          const got = await fetch(`${s.url}/v2/${repo}/blobs/${seeded.sharedLayer}`)
            .then(async (res) => ({ status: res.status, body: Buffer.from(await res.arrayBuffer()) }))
            .catch(() => 'cut' as const);
          if (got !== 'cut') expect(got.status).not.toBe(200);
        }
        expect((await fetch(`${s.url}/v2/`)).status).toBe(200);
      } finally {
        await s.stop();
      }
    } finally {
      await writeFile(data, original);
    }
  });

  it('verify from oci:// names every file the registry lost', async () => {
    const repoRef = `oci://${store.host}/bundles/lost:v1`;
    expect((await runFerry(['bundle', 'push', bundle, repoRef, '-q'], { env: env() })).code).toBe(0);
    const data = blobDataPath(store, seeded.sharedLayer);
    const original = await readFile(data);
    await rm(data);
    try {
      const r = await runFerry(['bundle', 'verify', repoRef], { env: env() });
      expect(r.code, r.stderr).toBe(3);
      expect(r.stderr).toContain('could not be read from the registry');
      expect(r.stderr).toContain(`blobs/sha256/${seeded.sharedLayer.slice(7)}`);
    } finally {
      await writeFile(data, original);
    }
  });

  it('pull of a reference that is not a bundle says so', async () => {
    const r = await runFerry(['bundle', 'pull', `oci://${upstream.host}/ferry-test/app:1`, '-o', path.join(work, 'no.tar')], { env: env() });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('not a ferry bundle');
    expect(await readdir(work)).not.toContain('no.tar');
  });
});

describe('a shared cache in a registry, and sharded builds', () => {
  it('a second host with an empty local cache reads every blob from the cache registry, not upstream, even after registry GC', async () => {
    const dir = path.join(work, 'cache-registry');
    let reg = await startRegistry({ mode: 'http', dir });
    const create = (host: string) =>
      runFerry(['bundle', 'create', manifest, '-o', path.join(work, `${host}.tar`), '--cache', `oci://${reg.host}/ferry-cache`, '--json'], { env: env(host) });
    const a = await create('host-a');
    expect(a.code, a.stderr).toBe(0);
    const ra = JSON.parse(a.stdout);
    expect(ra.cache.hits).toBe(0);
    expect(ra.cache.misses).toBeGreaterThan(0);
    expect(ra.cache.kept).toHaveLength(1);
    // Garbage collection deletes every blob no manifest references: the keep tag references them all.
    await reg.stop();
    await mustRun(REGISTRY_BIN, ['garbage-collect', path.join(dir, 'config.yml')]);
    reg = await startRegistry({ mode: 'http', dir });
    others.push(reg);
    const b = await create('host-b');
    expect(b.code, b.stderr).toBe(0);
    const rb = JSON.parse(b.stdout);
    expect(rb.cache.misses).toBe(0);
    expect(rb.cache.hits).toBe(ra.cache.misses);
    expect(rb.cache.hitBytes).toBe(ra.cache.missBytes);
    expect(await sha256File(path.join(work, 'host-b.tar'))).toBe(await sha256File(bundle));
    // lock reads tags upstream (they move) and manifests by digest through the cache.
    const locked = await runFerry(['lock', manifest, '--cache', `oci://${reg.host}/ferry-cache`, '--json'], { env: env('host-c') });
    expect(locked.code, locked.stderr).toBe(0);
    expect(JSON.parse(locked.stdout).changed).toBe(false);
  });

  it('refuses --shard without --cache, and a shard number outside 1..n', async () => {
    const r = await runFerry(['bundle', 'create', manifest, '--shard', '1/2'], { env: env() });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('--shard needs --cache');
    const bad = await runFerry(['bundle', 'create', manifest, '--shard', '3/2', '--cache', `oci://${store.host}/c`], { env: env() });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('--shard 3/2');
  });

  it('two shards as separate processes fill the cache; the final pack needs no upstream at all', async () => {
    const cache = `oci://${store.host}/ferry-cache-shards`;
    const shard = (i: number) => runFerry(['bundle', 'create', manifest, '--shard', `${i}/2`, '--cache', cache, '--json'], { env: env(`shard-${i}`) });
    const [s1, s2] = await Promise.all([shard(1), shard(2)]);
    expect(s1.code, s1.stderr).toBe(0);
    expect(s2.code, s2.stderr).toBe(0);
    const r1 = JSON.parse(s1.stdout);
    const r2 = JSON.parse(s2.stdout);
    expect(r1.units).toBeGreaterThan(0);
    expect(r2.units).toBeGreaterThan(0);
    expect(r1.units + r2.units).toBe(r1.totalUnits);
    expect(r1.bytes + r2.bytes).toBe(r1.totalBytes);
    // Each shard left the other's blobs alone, and wrote no bundle.
    expect(r1.cache.skipped).toBeGreaterThan(0);
    expect(r2.cache.skipped).toBeGreaterThan(0);
    expect((await readdir(work)).filter((f) => f.endsWith('.tar.partial'))).toEqual([]);

    await upstream.stop();
    const out = path.join(work, 'final.ferry.tar');
    const final = await runFerry(['bundle', 'create', manifest, '-o', out, '--cache', cache, '--frozen', '--json'], { env: env('final') });
    expect(final.code, final.stderr).toBe(0);
    const rf = JSON.parse(final.stdout);
    expect(rf.cache.misses).toBe(0);
    expect(rf.cache.hits).toBeGreaterThan(0);
    // Same lock, same bytes: the pack from the cache equals the bundle built from upstream.
    expect(await sha256File(out)).toBe(await sha256File(bundle));
    const v = await runFerry(['bundle', 'verify', out, '--json']);
    expect(JSON.parse(v.stdout).ok).toBe(true);
  });
});
