import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discoverChartImages } from '../../../src/kinds/chart/discover.js';
import { loadChart } from '../../../src/kinds/chart/load.js';
import { LockSchema } from '../../../src/kinds/schema.js';
import { rewriteChart } from '../../../src/rewrite/chart.js';
import { createRewriteContext } from '../../../src/rewrite/context.js';
import { fixtureTarget } from '../rewrite/helpers.js';
import { writeChart } from './helpers.js';

// Istio's gateway chart: `image: auto` on a pod that asks for sidecar injection is filled in by
// the webhook at admission; it is not docker.io/library/auto:latest.
const sha = (s: string) => 'sha256:' + createHash('sha256').update(s).digest('hex');
let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ferry-charts4-inj-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const deployment = (meta: string) =>
  `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: gw\nspec:\n  template:\n    metadata:\n${meta}    spec:\n      containers:\n      - name: istio-proxy\n        image: auto\n`;

async function chartDir(name: string, meta: string) {
  return writeChart(path.join(tmp, name), { chart: { name, version: '1.0.0' }, values: 'x: 1\n', files: { 'templates/deployment.yaml': deployment(meta) } });
}
const chart = async (name: string, meta: string) => loadChart(await chartDir(name, meta), { allFiles: true });

describe('image: auto, injected at admission', () => {
  it.each([
    ['templates annotation', '      annotations:\n        inject.istio.io/templates: gateway\n'],
    ['inject label', '      labels:\n        sidecar.istio.io/inject: "true"\n'],
  ])('with the %s it is reported as injected, not as an image', async (_n, meta) => {
    const d = discoverChartImages(await chart(`gw${_n.length}`, meta));
    expect(d.images.map((i) => i.ref)).toEqual([]);
    expect(d.injected).toHaveLength(1);
    expect(d.injected![0].fieldPath).toBe('spec.template.spec.containers[0].image');
  });

  it('without an injection request `auto` is an ordinary image (docker.io/library/auto:latest)', async () => {
    const d = discoverChartImages(await chart('plain', '      labels:\n        sidecar.istio.io/inject: "false"\n'));
    expect(d.images.map((i) => i.ref)).toEqual(['docker.io/library/auto:latest']);
    expect(d.injected).toBeUndefined();
  });

  it('rewrite chart succeeds and says the proxy image comes from istiod', async () => {
    const dir = await chartDir('gateway', '      annotations:\n        inject.istio.io/templates: gateway\n');
    const lock = LockSchema.parse({ apiVersion: 'ferry/v1alpha1', kind: 'Lock', manifest: { name: 'g', digest: sha('g') }, images: [] });
    const r = await rewriteChart(dir, createRewriteContext(await fixtureTarget(), lock), {});
    expect(r.unmapped).toEqual([]);
    expect(r.warnings.join('\n')).toMatch(/image: auto.*injected|sidecar injector.*istiod/s);
  });
});
