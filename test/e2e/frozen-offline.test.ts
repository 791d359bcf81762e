import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify as stringifyYaml } from 'yaml';
import { mustRun, runFerry } from '../support/cli.js';
import { packageChart, writeRepoIndex } from '../support/chart-repo.js';
import { startStaticServer, type StaticServer } from '../support/static-http.js';
import { downloadDebs, makeGpgKey, publishWithAptly, startNginx, type Nginx } from '../support/apt-repo.js';
import { seedImages, type SeededImages } from '../support/images.js';
import { skopeoEnv, skopeoTlsArgs, startRegistry, type RunningRegistry } from '../support/registry.js';

/**
 * A frozen build with a complete cache needs nobody: build once against real upstreams (a
 * registry, an HTTP chart repository, a file server, a signed APT repository), stop every one
 * of them, build again with `--frozen` and the same cache: it succeeds and the bundle is the
 * same, byte for byte.
 */
let work: string;
let reg: RunningRegistry | undefined;
let web: StaticServer | undefined;
let apt: Nginx | undefined;
let seeded: SeededImages;
let manifest: string;
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRIES: '0', FERRY_RETRY_MIN_MS: '10' });
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-frozen-'));
  const webRoot = path.join(work, 'web');
  await mkdir(path.join(webRoot, 'charts'), { recursive: true });
  await mkdir(path.join(webRoot, 'files'), { recursive: true });
  const debs = await downloadDebs(['tree']);
  const key = await makeGpgKey(work, 'vendor');
  const aptly = await publishWithAptly(work, debs, key, { distribution: 'bookworm', prefixes: ['debian'] });
  [reg, web, apt] = await Promise.all([startRegistry({ mode: 'http' }), startStaticServer(webRoot), startNginx(aptly.publicDir)]);
  seeded = await seedImages(reg);
  // A second copy of the two-platform index, locked with a platform filter (ferry stores a filtered index).
  await mustRun('skopeo', ['copy', '--all', ...skopeoTlsArgs(reg, 'src'), ...skopeoTlsArgs(reg, 'dest'), `docker://${seeded.refs.multi}`, `docker://${reg.host}/ferry-test/multi-arm:1`], { env: skopeoEnv() });

  // A chart whose values name one of the registry's images (discovered at lock time).
  const chartDir = path.join(work, 'src', 'hello');
  await mkdir(path.join(chartDir, 'templates'), { recursive: true });
  await writeFile(path.join(chartDir, 'Chart.yaml'), stringifyYaml({ apiVersion: 'v2', name: 'hello', version: '1.2.3' }));
  const [repoAndTag] = seeded.refs.app.split('/').slice(1).join('/').split('@');
  await writeFile(path.join(chartDir, 'values.yaml'), `image:\n  registry: ${reg.host}\n  repository: ${repoAndTag.split(':')[0]}\n  tag: "1"\n`);
  await writeFile(
    path.join(chartDir, 'templates', 'deploy.yaml'),
    'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: hello\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: "{{ .Values.image.registry }}/{{ .Values.image.repository }}:{{ .Values.image.tag }}"\n',
  );
  const chart = await packageChart(chartDir, path.join(webRoot, 'charts'));
  await writeRepoIndex(path.join(webRoot, 'charts'), [chart]);

  // A file pinned by a checksum file.
  const tool = Buffer.from('#!/bin/sh\necho tool 1.0\n'.repeat(1000));
  await writeFile(path.join(webRoot, 'files', 'tool-1.0.sh'), tool);
  await writeFile(path.join(webRoot, 'files', 'SHA256SUMS'), `${sha256(tool)}  tool-1.0.sh\n`);

  await writeFile(path.join(work, 'vendor.asc'), await readFile(key.publicKey));
  manifest = path.join(work, 'app.yaml');
  await writeFile(
    manifest,
    stringifyYaml({
      apiVersion: 'ferry/v1alpha1',
      kind: 'Manifest',
      metadata: { name: 'app' },
      images: [{ ref: seeded.refs.base }, { ref: seeded.refs.multi }, { ref: seeded.refs.docker }, { ref: `${reg.host}/ferry-test/multi-arm:1`, platforms: ['linux/arm64'] }],
      charts: [{ name: 'hello', repo: `${web.url}/charts`, version: '1.2.3' }],
      files: [{ name: 'tool', url: `${web.url}/files/tool-1.0.sh`, checksums: { url: `${web.url}/files/SHA256SUMS` } }],
      apt: [{ name: 'debian', url: `${apt.url}/debian`, suites: ['bookworm'], components: ['main'], architectures: ['amd64'], packages: ['tree'], keys: ['vendor.asc'] }],
    }),
  );
}, 600_000);

afterAll(async () => {
  await reg?.stop();
  await web?.close();
  await apt?.stop();
  if (work && !process.env.FERRY_TEST_KEEP) await rm(work, { recursive: true, force: true });
});

describe('bundle create --frozen with a complete cache', () => {
  it('builds again with every upstream stopped, and the bundle is byte-identical', async () => {
    const first = path.join(work, 'first.ferry.tar');
    const r1 = await runFerry(['bundle', 'create', manifest, '-o', first, '--insecure-registry', reg!.host], { env: env() });
    expect(r1.stderr + r1.stdout).toMatch(/wrote/);
    expect(r1.code).toBe(0);
    // Progress (off a TTY: a line per artifact) names what is fetched, never a blob digest.
    expect(r1.stderr).toMatch(new RegExp(`^${seeded.refs.multi.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: fetched [\\d.]+ [KM]?B$`, 'm'));
    expect(r1.stderr).toMatch(/^chart hello 1\.2\.3: (fetched|cached)/m);
    // One line per chart while locking, not also one from the archive's download.
    expect(r1.stderr).toMatch(/^chart hello 1\.2\.3: resolved 1\.2\.3$/m);
    expect(r1.stderr).not.toMatch(/^hello 1\.2\.3: resolved$/m);
    expect(r1.stderr).toContain(`${web!.url}/files/tool-1.0.sh: `);
    // The .deb is small: fetched by the pack among the other blobs (and kept in the cache too).
    expect(r1.stderr).toMatch(/^apt\[debian\] bookworm: 1 package \([\d.]+ [KM]?B\) to stream into the bundle$/m);
    for (const line of r1.stderr.trim().split('\n')) expect(line).not.toMatch(/^(…\s*)?(sha256:)?[0-9a-f]{12}/);
    const lock = JSON.parse(await readFile(path.join(work, 'app.lock.json'), 'utf8'));
    // Everything the bundle carries came from somewhere: the chart's image was discovered.
    expect(lock.images.map((i: { ref: string }) => i.ref)).toContain(seeded.refs.app);
    expect(lock.charts).toHaveLength(1);
    expect(lock.files).toHaveLength(1);
    expect(lock.apt).toHaveLength(1);
    expect(lock.images.find((i: { ref: string }) => i.ref.endsWith('/multi-arm:1')).storedDigest).toMatch(/^sha256:/);

    // Nothing upstream answers any more.
    const seen = web!.requests.length;
    await Promise.all([reg!.stop(), web!.close(), apt!.stop()]);
    reg = undefined;
    web = undefined;
    apt = undefined;

    const second = path.join(work, 'second.ferry.tar');
    const r2 = await runFerry(['bundle', 'create', manifest, '-o', second, '--frozen'], { env: env() });
    expect(r2.stderr).not.toMatch(/error/);
    expect(r2.code).toBe(0);
    expect(r2.stdout).toContain('used as is');
    expect(seen).toBeGreaterThan(0);
    const [a, b] = await Promise.all([readFile(first), readFile(second)]);
    expect(b.length).toBe(a.length);
    expect(sha256(b)).toBe(sha256(a));

    // And it still verifies.
    const v = await runFerry(['bundle', 'verify', second], { env: env() });
    expect(v.code).toBe(0);
  });
});
