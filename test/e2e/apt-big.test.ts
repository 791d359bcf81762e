import { mkdir, mkdtemp, readdir, readFile, rm, writeFile, cp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../support/cli.js';
import { startFerryServe } from '../support/static-http.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';
import { mapAptRepo } from '../../src/mapping/index.js';
import { aptGet, buildDebs, makeGpgKey, publishWithAptly, siteAptMirror, startNginx, type GpgKey, type Nginx } from '../support/apt-repo.js';
import { indexTar } from '../../src/store/tar-index.js';
import { BundleReader } from '../../src/store/bundle-reader.js';

/**
 * An APT repository with more packages than one manifest holds: the artifact becomes an OCI
 * index of manifests (each with a slice of the layers). The per-manifest count is lowered to 5
 * through FERRY_APT_PACKAGES_PER_MANIFEST so 23 tiny packages (built with dpkg-deb, published
 * and signed by aptly, served by nginx) make 5 parts. The bundle verifies, imports into an APT
 * directory target that the real apt-get installs from (packages of the first and of the last
 * part), is served by `ferry serve` to apt-get, and goes to a registry with `bundle push`.
 */

const NAMES = Array.from({ length: 23 }, (_, i) => `ferry-big-${String(i).padStart(2, '0')}`);
const PER_MANIFEST = '5';

let work: string;
let vendor: GpgKey;
let site: GpgKey;
let upstream: Nginx;
let mirror: Nginx | undefined;
let registry: RunningRegistry | undefined;
let dir: string;
let bundle: string;
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRIES: '1', FERRY_RETRY_MIN_MS: '50', FERRY_APT_PACKAGES_PER_MANIFEST: PER_MANIFEST });

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-apt-big-'));
  const debs = await buildDebs(path.join(work, 'debs'), NAMES);
  vendor = await makeGpgKey(work, 'vendor');
  site = await makeGpgKey(work, 'site');
  const repo = await publishWithAptly(work, debs, vendor, { distribution: 'bookworm', prefixes: ['big'] });
  upstream = await startNginx(repo.publicDir);
  dir = path.join(work, 'project');
  await mkdir(dir, { recursive: true });
  await cp(vendor.publicKey, path.join(dir, 'vendor.asc'));
  await cp(site.secretKey, path.join(dir, 'site.secret.asc'));
  const entry = (name: string, packages?: string[]) => [
    `  - name: ${name}`,
    `    url: ${upstream.url}/big`,
    '    suites: [bookworm]',
    '    components: [main]',
    '    architectures: [amd64]',
    ...(packages ? [`    packages: [${packages.join(', ')}]`] : []),
    '    keys: [vendor.asc]',
  ];
  await writeFile(
    path.join(dir, 'manifest.yaml'),
    ['apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata: { name: apt-big }', 'apt:', ...entry('whole'), ''].join('\n'),
  );
  bundle = path.join(dir, 'apt-big.ferry.tar');
}, 300_000);

afterAll(async () => {
  await mirror?.stop();
  await upstream?.stop();
  await registry?.stop();
  if (work && !process.env.FERRY_TEST_KEEP) await rm(work, { recursive: true, force: true });
});

/** The real apt-get updates from `repo` (vendor-signed) with no warning and downloads `names` from it. */
async function aptInstalls(repo: string, root: string, names: string[]): Promise<void> {
  const sources = `deb [signed-by=${path.join(dir, 'vendor.asc')}] ${repo} bookworm main`;
  const aptRoot = path.join(dir, root);
  const update = await aptGet(aptRoot, sources, ['update']);
  expect(update.code, update.stdout + update.stderr).toBe(0);
  expect(update.stdout + update.stderr).not.toMatch(/NO_PUBKEY|not signed|insecure|W: |E: /);
  const install = await aptGet(aptRoot, sources, ['install', '--download-only', ...names]);
  expect(install.code, install.stdout + install.stderr).toBe(0);
  const archives = await readdir(path.join(aptRoot, 'var/cache/apt/archives'));
  for (const name of names) expect(archives, name).toContain(`${name}_1.0_all.deb`);
}

describe('apt: a repository bigger than one manifest', () => {
  it('is bundled as an index of manifests, verifies, imports, and apt-get installs from the imported tree', async () => {
    const lock = await runFerry(['lock', 'manifest.yaml'], { cwd: dir, env: env() });
    expect(lock.code, lock.stderr).toBe(0);
    const create = await runFerry(['bundle', 'create', 'manifest.yaml', '-o', bundle, '--frozen'], { cwd: dir, env: env() });
    expect(create.code, create.stderr).toBe(0);

    // The APT artifact's top is an index (kind apt, as before) of ceil(23 / 5) = 5 manifests.
    const reader = await BundleReader.open(bundle);
    try {
      const index = await reader.readIndex();
      const top = index.manifests.find((m) => m.annotations?.['io.ferry.kind'] === 'apt')!;
      expect(top.mediaType).toBe('application/vnd.oci.image.index.v1+json');
      expect(top.artifactType).toBe('application/vnd.ferry.apt.v1');
      const apt = JSON.parse((await reader.readBlob(top.digest)).toString('utf8'));
      expect(apt.manifests).toHaveLength(5);
      const parts = await Promise.all(apt.manifests.map(async (d: { digest: string }) => JSON.parse((await reader.readBlob(d.digest)).toString('utf8'))));
      const roles = parts.map((p) => p.layers.map((l: { annotations: Record<string, string> }) => l.annotations['io.ferry.role']));
      // Release and indexes in the first part, then packages: 5 per part, 23 in all.
      expect(roles[0]).toContain('release');
      expect(roles.slice(1).every((r) => r.every((x: string) => x === 'package'))).toBe(true);
      expect(roles.map((r) => r.filter((x: string) => x === 'package').length)).toEqual([5, 5, 5, 5, 3]);
      expect(new Set(parts.map((p) => p.config.digest)).size).toBe(1);
    } finally {
      await reader.close();
    }
    expect((await indexTar(bundle)).entries.length).toBeGreaterThan(23);

    // The same lock gives the same bundle bytes.
    const again = await runFerry(['bundle', 'create', 'manifest.yaml', '-o', path.join(dir, 'again.ferry.tar'), '--frozen'], { cwd: dir, env: env() });
    expect(again.code, again.stderr).toBe(0);
    const idx = async (f: string) => (await BundleReader.open(f).then(async (r) => [await r.readFile('index.json'), await r.close()]))[0] as Buffer;
    expect((await idx(path.join(dir, 'again.ferry.tar'))).equals(await idx(bundle))).toBe(true);

    const verify = await runFerry(['bundle', 'verify', bundle, '--json'], { cwd: dir, env: env() });
    expect(verify.code, verify.stderr + verify.stdout).toBe(0);
    expect(JSON.parse(verify.stdout).ok).toBe(true);

    const served = await siteAptMirror(dir);
    mirror = served.mirror;
    const mirrorDir = served.mirrorDir;
    const imp = await runFerry(['import', bundle, '-t', 'target.yaml', '--json'], { cwd: dir, env: env() });
    expect(imp.code, imp.stderr).toBe(0);
    const loc = (JSON.parse(imp.stdout).results as Array<{ location: string }>)[0].location.split(' ')[0];

    // A package of the first part and one of the last.
    await aptInstalls(loc, 'apt-root', ['ferry-big-00', 'ferry-big-22']);
    const pool = await readdir(path.join(mirrorDir, new URL(loc).pathname, 'pool/main/f'), { recursive: true });
    expect(pool.filter((f) => String(f).endsWith('.deb'))).toHaveLength(23);
  });

  it('ferry serve serves it to apt-get', async () => {
    const serve = await startFerryServe([bundle], { cwd: dir });
    try {
      const at = mapAptRepo(`${upstream.url}/big`, { baseUrl: `${serve.url}/apt` }).url;
      await aptInstalls(at, 'apt-root-serve', ['ferry-big-01', 'ferry-big-21']);
    } finally {
      await serve.stop();
    }
  });

  it('bundle push puts it in a registry (index and child manifests accepted), and verify reads it from there', async () => {
    registry = await startRegistry({ mode: 'http' });
    const ref = `oci://${registry.host}/bundles/apt-big:v1`;
    const pushed = await runFerry(['bundle', 'push', bundle, ref, '--json'], { cwd: dir, env: env() });
    expect(pushed.code, pushed.stderr).toBe(0);
    const verify = await runFerry(['bundle', 'verify', ref, '--json'], { cwd: dir, env: env() });
    expect(verify.code, verify.stderr + verify.stdout).toBe(0);
    expect(JSON.parse(verify.stdout).ok).toBe(true);
    // The APT index is a manifest of the repository, by digest.
    const reader = await BundleReader.open(bundle);
    const top = (await reader.readIndex()).manifests.find((m) => m.annotations?.['io.ferry.kind'] === 'apt')!;
    await reader.close();
    const res = await fetch(`http://${registry.host}/v2/bundles/apt-big/manifests/${top.digest}`, { headers: { accept: 'application/vnd.oci.image.index.v1+json' } });
    expect(res.status).toBe(200);
    expect(JSON.parse(await res.text()).manifests).toHaveLength(5);
    expect(await readFile(bundle).then((b) => b.length)).toBeGreaterThan(0);
  });
});
