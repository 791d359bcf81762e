import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chartKind } from '../../../src/kinds/chart/index.js';
import type { ChartLock } from '../../../src/kinds/chart/lock.js';
import { resolveChart } from '../../../src/kinds/chart/resolve.js';
import { ChartSpecSchema } from '../../../src/kinds/chart/spec.js';
import { LockSchema } from '../../../src/kinds/schema.js';
import { createRewriteContext } from '../../../src/rewrite/context.js';
import { rewriteValues } from '../../../src/rewrite/values.js';
import { packageChart, startStaticServer, writeRepoIndex, type StaticServer } from '../../support/chart-repo.js';
import { loopbackKindContext } from '../../support/kind-context.js';
import { fixtureTarget, MIRROR, writeTree } from '../rewrite/helpers.js';

// Pass 10 found `rewrite values` leaving `helm test` images unnamed: the lock did not record the
// images of test hooks (they were lumped with the possible ones), so nothing after `lock` knew a
// chart had them. A site that runs `helm test` pulled them from upstream in silence.
const APP = 'docker.io/acme/app:1.0';
const TEST = 'docker.io/library/busybox:1.36';

const CHART = {
  'Chart.yaml': 'apiVersion: v2\nname: tested\nversion: 1.0.0\n',
  'values.yaml': ['image: docker.io/acme/app:1.0', 'test:', '  image: docker.io/library/busybox:1.36', ''].join('\n'),
  'templates/deploy.yaml': [
    'apiVersion: apps/v1',
    'kind: Deployment',
    'metadata:',
    '  name: app',
    'spec:',
    '  template:',
    '    spec:',
    '      containers:',
    '        - name: app',
    '          image: {{ .Values.image }}',
    '',
  ].join('\n'),
  'templates/tests/connection.yaml': [
    'apiVersion: v1',
    'kind: Pod',
    'metadata:',
    '  name: app-test',
    '  annotations:',
    '    helm.sh/hook: test',
    'spec:',
    '  restartPolicy: Never',
    '  containers:',
    '    - name: wget',
    '      image: {{ .Values.test.image }}',
    '',
  ].join('\n'),
};

let tmp: string;
let server: StaticServer;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ferry-oracle11-tests-'));
  const src = await writeTree(tmp, 'tested', CHART);
  const repoDir = path.join(tmp, 'repo');
  const pkg = await packageChart(src, repoDir);
  await writeRepoIndex(repoDir, [pkg]);
  server = await startStaticServer(repoDir);
});
afterAll(async () => {
  await server?.stop();
  await rm(tmp, { recursive: true, force: true });
});

async function lockChart(extra: Record<string, unknown> = {}): Promise<ChartLock> {
  const ctx = await loopbackKindContext('ferry-oracle11-store-');
  const spec = ChartSpecSchema.parse({ name: 'tested', repo: server.url, version: '1.0.0', ...extra });
  return (await resolveChart(spec, ctx)).entries[0];
}

const sha = (s: string) => 'sha256:' + createHash('sha256').update(s).digest('hex');
function lockWith(entry: ChartLock) {
  const images = chartKind.contributes.from(entry).specs.map((s) => s.ref);
  return LockSchema.parse({
    apiVersion: 'ferry/v1alpha1',
    kind: 'Lock',
    manifest: { name: 'x', digest: sha('x') },
    images: images.map((r) => ({ source: r, ref: r, digest: sha(r), mediaType: 'application/vnd.oci.image.index.v1+json', size: 1, manifests: [], blobs: [] })),
    charts: [entry],
  });
}

describe('the lock records the images `helm test` runs', () => {
  it('apart from the images it carries, with the values keys that set them', async () => {
    const entry = await lockChart();
    expect(entry.images).toEqual([APP]);
    expect(entry.testImages).toEqual([TEST]);
    expect(entry.possibleImages).toBeUndefined();
    expect(entry.imageValues).toEqual({ [APP]: [{ path: 'image' }], [TEST]: [{ path: 'test.image' }] });
    // not carried: the bundle's image list is the chart's deployed images only
    expect(chartKind.contributes.from(entry).specs.map((s) => s.ref)).toEqual([APP]);
  });

  it('carries them with `testImages: carry`', async () => {
    const entry = await lockChart({ testImages: 'carry' });
    expect(entry.images).toEqual([TEST, APP].sort());
    expect(entry.testImages).toEqual([TEST]);
    expect(chartKind.contributes.from(entry).specs.map((s) => s.ref).sort()).toEqual([APP, TEST].sort());
  });

  it('a lock written before the field still loads', () => {
    const entry = { name: 'tested', repo: 'https://charts.example', version: '1.0.0', requested: '1.0.0', source: 'http', digest: sha('c'), size: 1, images: [APP], possibleImages: [TEST] };
    expect(LockSchema.parse({ apiVersion: 'ferry/v1alpha1', kind: 'Lock', manifest: { name: 'x', digest: sha('x') }, images: [], charts: [entry] }).charts![0].testImages).toBeUndefined();
  });
});

describe('rewrite values names the `helm test` images it leaves upstream', () => {
  it('when the bundle does not carry them: helm test at the site pulls them from upstream', async () => {
    const ctx = createRewriteContext(await fixtureTarget(), lockWith(await lockChart()));
    // the chart's own values run the test image: the file moves the app only
    const file = path.join(await writeTree(tmp, 'v1', { 'values.yaml': `image: ${APP}\n` }), 'values.yaml');
    const r = await rewriteValues([file], ctx, {});
    expect(r.override).toContain(`image: ${MIRROR}/docker.io/acme/app:1.0`);
    expect(r.warnings.filter((w) => w.includes(TEST))).toEqual([
      `chart tested 1.0.0: an image only \`helm test\` runs (test hooks) is not carried, so \`helm test\` at the site pulls it from upstream: ${TEST}; set \`testImages: carry\` on the chart in the manifest and lock again to carry it, or do not run \`helm test\` at the site`,
    ]);
  });

  it('when the bundle carries them and the file does not move them', async () => {
    const ctx = createRewriteContext(await fixtureTarget(), lockWith(await lockChart({ testImages: 'carry' })));
    const file = path.join(await writeTree(tmp, 'v2', { 'values.yaml': `image: ${APP}\n` }), 'values.yaml');
    const r = await rewriteValues([file], ctx, {});
    expect(r.warnings.filter((w) => w.includes(TEST)).map((w) => w.split(': ').slice(1, 3).join(': '))).toEqual([
      `1 of the images the lock pins for it is not moved by values.yaml (it comes from values keys the file does not set, the chart's own values, a subchart or its templates) and still comes from upstream after this rewrite: ${TEST} (from test.image); run \`ferry rewrite chart <the tested chart directory or .tgz> -f values.yaml\` instead`,
    ]);
  });

  it('and says nothing of them once the file moves them too', async () => {
    const ctx = createRewriteContext(await fixtureTarget(), lockWith(await lockChart({ testImages: 'carry' })));
    const file = path.join(await writeTree(tmp, 'v3', { 'values.yaml': `image: ${APP}\ntest:\n  image: ${TEST}\n` }), 'values.yaml');
    const r = await rewriteValues([file], ctx, {});
    expect(r.override).toContain(`image: ${MIRROR}/docker.io/library/busybox:1.36`);
    expect(r.warnings).toEqual([]);
  });
});
