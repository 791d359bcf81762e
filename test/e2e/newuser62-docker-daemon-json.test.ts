import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../support/cli.js';
import { seedImages } from '../support/images.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';

/**
 * newuser62 (Debian VMs running docker compose): `ferry mirror-config docker -o /etc/docker` on a
 * host whose daemon.json already set the log driver replaced the file with one holding
 * registry-mirrors alone — the VMs' log rotation (and any data-root, proxy or DNS setting) gone at
 * the next dockerd restart, although the note said "merge into /etc/docker/daemon.json". Now the
 * daemon.json found in -o is merged: every other key kept in order, the mirror first in
 * registry-mirrors (mirrors already listed kept after it, named), the host added to
 * insecure-registries; a file dockerd could not read either is refused, naming it, and nothing
 * is written. Locked from a real docker-registry on loopback.
 */
let work: string;
let upstream: RunningRegistry;
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRIES: '0', FERRY_RETRY_MIN_MS: '10' });
const M = '127.0.0.1:5000';

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-newuser62-'));
  upstream = await startRegistry({ mode: 'http' });
  const seeded = await seedImages(upstream);
  await writeFile(path.join(work, 'vms.yaml'), ['apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata: { name: vms }', 'images:', `  - ref: ${seeded.refs.base}`, ''].join('\n'));
  const locked = await runFerry(['lock', path.join(work, 'vms.yaml')], { env: env() });
  if (locked.code !== 0) throw new Error(locked.stderr);
  // The lock as the upstream job writes it: the loopback registry stands in for Docker Hub.
  const lockFile = path.join(work, 'vms.lock.json');
  const lock = JSON.parse(await readFile(lockFile, 'utf8')) as { images: { ref: string; source: string }[] };
  Object.assign(lock.images[0], { ref: 'docker.io/library/postgres:16', source: 'docker.io/library/postgres:16' });
  await writeFile(lockFile, JSON.stringify(lock, null, 2) + '\n');
  await writeFile(path.join(work, 'site.yaml'), ['apiVersion: ferry/v1alpha1', 'kind: MirrorTarget', 'metadata: { name: site }', 'registry:', `  url: http://${M}`, '  layout: flat', ''].join('\n'));
}, 180_000);

afterAll(async () => {
  await upstream?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

const docker = (dir: string, ...extra: string[]) =>
  runFerry(['mirror-config', 'docker', '-o', dir, '-t', path.join(work, 'site.yaml'), '--lock', path.join(work, 'vms.lock.json'), ...extra], { env: env() });

describe('mirror-config docker -o a directory holding daemon.json', () => {
  it("keeps the host's other settings and mirrors, adds the mirror first, and is idempotent", async () => {
    const dir = path.join(work, 'etc-docker');
    await mkdir(dir, { recursive: true });
    const host = { 'log-driver': 'json-file', 'log-opts': { 'max-size': '10m', 'max-file': '3' }, 'data-root': '/srv/docker', 'registry-mirrors': ['https://mirror.factory.internal'], 'insecure-registries': ['legacy.factory.internal:5000'], dns: ['10.60.0.2'] };
    await writeFile(path.join(dir, 'daemon.json'), JSON.stringify(host, null, 2) + '\n');
    const r = await docker(dir);
    expect(r.code, r.stderr).toBe(0);
    const written = JSON.parse(await readFile(path.join(dir, 'daemon.json'), 'utf8')) as Record<string, unknown>;
    expect(written).toEqual({ ...host, 'registry-mirrors': [`http://${M}`, 'https://mirror.factory.internal'], 'insecure-registries': ['legacy.factory.internal:5000', M] });
    expect(Object.keys(written)).toEqual(Object.keys(host));
    expect(r.stdout + r.stderr).toContain(`registry-mirrors: https://mirror.factory.internal kept after http://${M}`);
    const before = await readFile(path.join(dir, 'daemon.json'), 'utf8');
    const again = await docker(dir, '--dry-run');
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).not.toContain('+++');
    expect(await readFile(path.join(dir, 'daemon.json'), 'utf8')).toBe(before);
  });

  it('refuses a daemon.json dockerd could not read, naming it, and writes nothing', async () => {
    const dir = path.join(work, 'etc-docker-bad');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'daemon.json'), '{ "log-driver": "json-file", }\n');
    const r = await docker(dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${path.join(dir, 'daemon.json')}: not valid JSON`);
    expect(await readFile(path.join(dir, 'daemon.json'), 'utf8')).toBe('{ "log-driver": "json-file", }\n');
  });
});
