import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand, runFerry } from '../support/cli.js';
import { seedImages, type SeededImages } from '../support/images.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';

/**
 * A Hauler/Zarf user's job (new-user round 7): many images locked at once, read on a pipe (a CI
 * log), and Deployments written with Docker Hub short names rewritten to the mirror. Real
 * docker-registry and skopeo on loopback.
 */
let work: string;
let upstream: RunningRegistry;
let seeded: SeededImages;
const MANY = 22; // more than the 20 items a pipe gets one line each for
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRIES: '0', FERRY_RETRY_MIN_MS: '10' });

function manifest(name: string, refs: string[]): string {
  return ['apiVersion: ferry/v1alpha1', 'kind: Manifest', `metadata: { name: ${name} }`, 'images:', ...refs.map((r) => `  - ref: ${r}`), ''].join('\n');
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-newuser7-'));
  upstream = await startRegistry({ mode: 'http' });
  seeded = await seedImages(upstream);
  // MANY repositories holding the base image, as a site with dozens of small images has.
  await Promise.all(
    Array.from({ length: MANY - 1 }, (_, i) =>
      runCommand('skopeo', ['copy', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${seeded.refs.base}`, `docker://${upstream.host}/many/img-${i}:1`]).then((r) => {
        if (r.code !== 0) throw new Error(`skopeo copy failed: ${r.stderr}`);
      }),
    ),
  );
}, 180_000);

afterAll(async () => {
  await upstream?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('lock of many images, read on a pipe', () => {
  it('the closing progress line counts what was resolved without a meaningless "0 B"', async () => {
    const refs = [seeded.refs.base, ...Array.from({ length: MANY - 1 }, (_, i) => `${upstream.host}/many/img-${i}:1`)];
    const file = path.join(work, 'many.yaml');
    await writeFile(file, manifest('many', refs));
    const r = await runFerry(['lock', file], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`${MANY} images`);
    const closing = r.stderr.split('\n').filter((l) => l.startsWith('resolve: '));
    expect(closing).toEqual([`resolve: ${MANY}/${MANY} done`]);
  });

  it('when every image fails, the closing line says they failed instead of "22/22 done, 0 B"', async () => {
    const refs = Array.from({ length: MANY }, (_, i) => `${upstream.host}/missing/img-${i}:1`);
    const file = path.join(work, 'missing.yaml');
    await writeFile(file, manifest('missing', refs));
    const r = await runFerry(['lock', file], { env: env() });
    expect(r.code).not.toBe(0);
    const progress = r.stderr.split('\n').filter((l) => /^(… )?resolve: /.test(l));
    expect(progress.at(-1)).toBe(`resolve: ${MANY}/${MANY} done (${MANY} failed)`);
    // The intermediate summaries on a pipe count failures too.
    for (const l of progress.slice(0, -1)) expect(l).toMatch(/^… resolve: \d+\/22 done \(\d+ failed\)$/);
    expect(r.stderr).toContain(`error: ${MANY} artifacts could not be resolved`);
  });
});

describe('rewrite manifests with Docker Hub short names', () => {
  it('a short name that misses names what it normalized to and the locked repository with the same name', async () => {
    const dir = path.join(work, 'short');
    await mkdir(path.join(dir, 'k8s'), { recursive: true });
    const file = path.join(dir, 'short.yaml');
    await writeFile(file, manifest('short', [seeded.refs.base, seeded.refs.app, seeded.refs.docker]));
    const locked = await runFerry(['lock', file], { env: env() });
    expect(locked.code, locked.stderr).toBe(0);
    // The lock as a docker.io job writes it (the loopback registry stands in for Docker Hub).
    const lockFile = path.join(dir, 'short.lock.json');
    const lock = JSON.parse(await readFile(lockFile, 'utf8')) as { images: { ref: string; source: string }[] };
    const names = ['docker.io/bitnami/redis:7.2.5', 'docker.io/library/memcached:1.6', 'docker.io/library/redis:7.2'];
    expect(lock.images).toHaveLength(names.length);
    lock.images.forEach((img, i) => Object.assign(img, { ref: names[i], source: names[i] }));
    await writeFile(lockFile, JSON.stringify(lock, null, 2) + '\n');
    const target = path.join(dir, 'site.yaml');
    await writeFile(target, ['apiVersion: ferry/v1alpha1', 'kind: MirrorTarget', 'metadata: { name: site }', 'registry:', '  url: http://127.0.0.1:5000', ''].join('\n'));
    const deployment = [
      'apiVersion: apps/v1',
      'kind: Deployment',
      'metadata: { name: web }',
      'spec:',
      '  template:',
      '    spec:',
      '      containers:',
      '        - name: cache',
      '          image: redis:7.2.5',
      '        - name: mc',
      '          image: bitnami/memcached:1.6',
      '        - name: other',
      '          image: valkey:8',
      '        - name: ok',
      '          image: memcached:1.6',
      '',
    ].join('\n');
    await writeFile(path.join(dir, 'k8s', 'web.yaml'), deployment);
    const r = await runFerry(['rewrite', 'manifests', path.join(dir, 'k8s'), '-t', target, '--lock', lockFile]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('redis:7.2.5  (tag 7.2.5 not in the lock for docker.io/library/redis; the lock has docker.io/bitnami/redis:7.2.5;');
    expect(r.stderr).toContain('bitnami/memcached:1.6  (repository docker.io/bitnami/memcached not in the lock; the lock has docker.io/library/memcached;');
    // Nothing of that name is locked: the bare fact.
    expect(r.stderr).toContain('valkey:8  (repository not in the lock;');
    // memcached:1.6 is covered: it is not in the list.
    expect(r.stderr).not.toMatch(/:15 {2}memcached:1\.6/);
    expect(await readFile(path.join(dir, 'k8s', 'web.yaml'), 'utf8')).toBe(deployment);
  });
});
