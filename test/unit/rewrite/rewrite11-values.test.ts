import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRewriteContext } from '../../../src/rewrite/context.js';
import { rewriteChart } from '../../../src/rewrite/chart.js';
import { chartLock, fixtureTarget, lockRewriteRender, MIRROR, writeTree } from './helpers.js';

// The eleventh rewrite pass (the oracle passes 18-19 charts: TrueCharts, Wikimedia, Cortex, Milvus,
// StackStorm, …): each value set locked, rewritten by `rewrite chart` and `rewrite values`, rendered
// with the override by the independent Go renderer, every image on the mirror or named. Small charts
// reproduce what it found.
let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ferry-rewrite11-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const deployment = (name: string, image: string) =>
  `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ${name}\nspec:\n  template:\n    spec:\n      containers:\n        - name: c\n          image: ${image}\n`;

describe('rewrite values: image maps that name part of an image', () => {
  it('`{repository: nginx}` alone under an image key is the image the chart completes with its tag', async () => {
    const dir = await writeTree(tmp, 'bare-repo', {
      'Chart.yaml': 'apiVersion: v2\nname: web\nversion: 0.1.0\n',
      'values.yaml': 'image:\n  repository: nginx\n  tag: "1.27"\n',
      'templates/d.yaml': deployment('web', '"{{ .Values.image.repository }}:{{ .Values.image.tag }}"'),
    });
    const { r, text, upstream } = await lockRewriteRender(tmp, dir, 'image:\n  repository: nginx\n');
    expect(text).toContain(`repository: ${MIRROR}/docker.io/library/nginx`);
    expect(upstream).toEqual([]);
    expect(r.warnings).toEqual([]);
  });

  it("a subchart's map that sets only `registry:` moves the image the lock deploys from that key", async () => {
    const dir = await writeTree(tmp, 'sub-registry', {
      'Chart.yaml': 'apiVersion: v2\nname: app\nversion: 0.1.0\ndependencies:\n  - name: db\n    version: 0.1.0\n',
      'values.yaml': '{}\n',
      'charts/db/Chart.yaml': 'apiVersion: v2\nname: db\nversion: 0.1.0\n',
      'charts/db/values.yaml': 'image:\n  registry: docker.io\n  repository: bitnami/postgresql\n  tag: "16"\n',
      'charts/db/templates/d.yaml': deployment('db', '"{{ .Values.image.registry }}/{{ .Values.image.repository }}:{{ .Values.image.tag }}"'),
    });
    const { r, text, upstream } = await lockRewriteRender(tmp, dir, 'db:\n  image:\n    registry: docker.io\n');
    expect(text).toContain(`registry: ${MIRROR}/docker.io`);
    expect(upstream).toEqual([]);
    expect(r.warnings).toEqual([]);
  });
});

describe('rewrite chart: a custom resource whose image the values leave unset', () => {
  // wikimedia's flink-app: `FlinkDeployment.spec.image: {{ .Values.app.image }}:{{ .Values.app.version }}`
  // with no `app.image` in the defaults renders ":latest"; the proof saw no image and said nothing.
  it('is named with its resource, field and template', async () => {
    const dir = await writeTree(tmp, 'flink', {
      'Chart.yaml': 'apiVersion: v2\nname: flink-app\nversion: 0.4.35\n',
      'values.yaml': 'app:\n  version: latest\n',
      'templates/flink.yaml': 'apiVersion: flink.apache.org/v1beta1\nkind: FlinkDeployment\nmetadata:\n  name: app\nspec:\n  image: {{ .Values.app.image }}:{{ .Values.app.version }}\n',
    });
    const r = await rewriteChart(dir, createRewriteContext(await fixtureTarget(), chartLock([], {}, 'flink-app', '0.4.35')), { render: {} });
    const said = r.warnings.filter((w) => w.startsWith('FlinkDeployment app spec.image'));
    expect(said).toHaveLength(1);
    expect(said[0]).toContain('":latest", which is no image reference');
    expect(said[0]).toContain('flink-app/templates/flink.yaml');
  });
});

describe('rewrite chart: an image under a key with dots in it', () => {
  // wikimedia's spark-support: `config.spark: {"spark.kubernetes.container.image": …}`; discovery
  // wrote the key path as config.spark."spark.kubernetes.container.image" and the override refused it
  // (INTERNAL: cannot parse).
  it('sets that key in the override and proves it', async () => {
    const image = 'docker-registry.wikimedia.org/spark:3.4';
    const dir = await writeTree(tmp, 'spark', {
      'Chart.yaml': 'apiVersion: v2\nname: spark-support\nversion: 0.1.0\n',
      'values.yaml': `config:\n  spark:\n    spark.kubernetes.container.image: ${image}\n`,
      'templates/d.yaml': deployment('spark', `'{{ index .Values.config.spark "spark.kubernetes.container.image" }}'`),
    });
    const r = await rewriteChart(dir, createRewriteContext(await fixtureTarget(), chartLock([image], { [image]: [{ path: 'config.spark."spark.kubernetes.container.image"' }] }, 'spark-support', '0.1.0')), { render: {} });
    expect(r.unmapped).toEqual([]);
    expect((r.overrideValues.config as { spark: Record<string, string> }).spark['spark.kubernetes.container.image']).toBe(`${MIRROR}/docker-registry.wikimedia.org/spark:3.4`);
  });
});
