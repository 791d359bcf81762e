import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify as stringifyYaml } from 'yaml';
import { writeHelloChartRepo } from '../support/chart-repo.js';
import { runFerry } from '../support/cli.js';
import { CraftedBundle, type Desc } from '../support/craft-bundle.js';
import { startServe } from '../support/craft-serve.js';
import { seedImages, type SeededImages } from '../support/images.js';
import { writeDirectoryTarget } from '../support/offline-lock.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';
import { startStaticServer, type StaticServer } from '../support/static-http.js';

/**
 * Hostile inputs, round 34: what a crafted bundle can still change that import or serve trusts
 * without the lock pinning it (an HTTP chart's config and manifest fields, an image's
 * platform-filtered annotation), with ferry/checksums.sha256 recomputed so only ferry's own
 * checks against the lock can refuse it; and serve's manifests under If-None-Match.
 */
let work: string;
let http: StaticServer;
let upstream: RunningRegistry;
let seeded: SeededImages;
let bundle: string;
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRIES: '1', FERRY_RETRY_MIN_MS: '20' });

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-hostile34-'));
  const pub = path.join(work, 'public');
  await writeHelloChartRepo(work, pub);
  http = await startStaticServer(pub);
  upstream = await startRegistry({ mode: 'http' });
  seeded = await seedImages(upstream);
  await writeFile(
    path.join(work, 'manifest.yaml'),
    stringifyYaml({
      apiVersion: 'ferry/v1alpha1',
      kind: 'Manifest',
      metadata: { name: 'h34' },
      images: [{ ref: seeded.refs.app, extras: false }],
      charts: [{ repo: `${http.url}/charts`, name: 'hello', version: '1.0.0', images: [] }],
    }),
  );
  bundle = path.join(work, 'h34.ferry.tar');
  const r = await runFerry(['bundle', 'create', 'manifest.yaml', '-o', bundle], { cwd: work, env: env() });
  expect(r.code, r.stderr).toBe(0);
}, 300_000);

afterAll(async () => {
  await http?.close();
  await upstream?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

async function filesUnder(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => [])).filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name)));
}

/** Import into a fresh directory target, `bundle verify` and `serve`: each refuses `out` naming `named`; import writes nothing. */
async function refusedEverywhere(out: string, name: string, named: RegExp): Promise<void> {
  const root = path.join(work, name);
  const t = await writeDirectoryTarget(root, name);
  const r = await runFerry(['import', out, '--target', t], { env: env() });
  expect(r.code, r.stderr).not.toBe(0);
  expect(r.stderr).toMatch(named);
  expect(r.stderr).toMatch(/bundle's lock/);
  expect(await filesUnder(root)).toEqual(['target.yaml']);
  const v = await runFerry(['bundle', 'verify', out]);
  expect(v.code, v.stdout + v.stderr).not.toBe(0);
  expect(v.stdout + v.stderr).toMatch(named);
  const s = await runFerry(['serve', out, '--listen', '127.0.0.1:0'], { timeoutMs: 60_000 });
  expect(s.code, s.stdout + s.stderr).not.toBe(0);
  expect(s.stderr).toMatch(named);
}

const isChart = (d: Desc) => d.annotations?.['io.ferry.kind'] === 'chart';

describe('what an HTTP chart carries besides the archive the lock pins', () => {
  it('the unchanged bundle imports into a chart repository whose index.yaml lists what the archive says', { timeout: 120_000 }, async () => {
    const root = path.join(work, 'clean');
    const t = await writeDirectoryTarget(root, 'clean');
    const r = await runFerry(['import', bundle, '--target', t], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    expect(await readFile(path.join(root, 'charts', 'index.yaml'), 'utf8')).toMatch(/name: hello[\s\S]*version: 1\.0\.0/);
  });

  it("a config whose appVersion is not the archive's: refused by import, verify and serve, naming the field; no index.yaml written", { timeout: 180_000 }, async () => {
    const b = await CraftedBundle.load(bundle);
    b.editArtifact(isChart, ({ config }) => {
      config.appVersion = '6.6.6-evil';
      config.home = 'https://evil.example/';
    });
    const out = await b.write(path.join(work, 'chart-config.ferry.tar'));
    await refusedEverywhere(out, 'chart-config', /chart .*hello.*config is not the one made from the archive[\s\S]*appVersion/);
  });

  it("a manifest whose description annotation is not the archive's Chart.yaml description: refused", { timeout: 180_000 }, async () => {
    const b = await CraftedBundle.load(bundle);
    b.editArtifact(isChart, ({ manifest }) => {
      manifest.annotations = { ...(manifest.annotations as Record<string, string>), 'org.opencontainers.image.description': 'install https://evil.example/x.sh' };
    });
    const out = await b.write(path.join(work, 'chart-manifest.ferry.tar'));
    await refusedEverywhere(out, 'chart-manifest', /chart .*hello.*manifest .* is not the one made from the archive/);
  });
});

describe('an image index.json marks as a platform-filtered copy', () => {
  it('the upstream-digest annotation on an image the lock pins as the upstream manifest itself: refused', { timeout: 180_000 }, async () => {
    const b = await CraftedBundle.load(bundle);
    const index = b.index;
    const image = index.manifests.find((d) => (d.annotations?.['io.ferry.kind'] ?? 'image') === 'image')!;
    image.annotations = { ...image.annotations, 'io.ferry.upstream-digest': `sha256:${'e'.repeat(64)}` };
    b.index = index;
    const out = await b.write(path.join(work, 'image-upstream.ferry.tar'));
    await refusedEverywhere(out, 'image-upstream', /platform-filtered copy of sha256:eeee/);
  });
});

describe('serve: conditional manifest requests', () => {
  it('If-None-Match naming the manifest digest is 304 with no body, as for blobs; If-Match naming another is 412', { timeout: 120_000 }, async () => {
    const s = await startServe([bundle, '--listen', '127.0.0.1:0']);
    try {
      const repo = new URL(`http://${seeded.refs.app}`).pathname.slice(1).replace(/:.*/, '');
      const tag = seeded.refs.app.replace(/.*:/, '');
      const u = `${s.url}/v2/${new URL(`http://${seeded.refs.app}`).host.replace(':', '-')}/${repo}/manifests/${tag}`;
      const accept = 'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json';
      const first = await fetch(u, { headers: { accept } });
      expect(first.status, await first.clone().text()).toBe(200);
      const etag = first.headers.get('etag')!;
      expect(etag).toBe(`"${first.headers.get('docker-content-digest')}"`);
      await first.arrayBuffer();
      for (const method of ['GET', 'HEAD']) {
        const again = await fetch(u, { method, headers: { accept, 'if-none-match': etag } });
        expect(again.status, method).toBe(304);
        expect((await again.arrayBuffer()).byteLength).toBe(0);
        expect(again.headers.get('etag')).toBe(etag);
      }
      expect((await fetch(u, { headers: { accept, 'if-none-match': '"sha256:other"' } })).status).toBe(200);
      expect((await fetch(u, { headers: { accept, 'if-match': '"sha256:other"' } })).status).toBe(412);
    } finally {
      await s.stop();
    }
  });
});

