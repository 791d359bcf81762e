import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { rewriteChart } from '../../src/rewrite/chart.js';
import { MIRROR, fixtureContext, scratch, write } from './rewrite/helpers.js';

describe('review5: rewrite chart -f values.yaml (the user file named like the chart own values.yaml)', () => {
  it('names the chart own values under the chart directory and the user file apart from it', async () => {
    const dir = await scratch();
    const chart = path.join(dir, 'src', 'app');
    await mkdir(path.join(chart, 'templates'), { recursive: true });
    await write(chart, 'Chart.yaml', 'apiVersion: v2\nname: app\nversion: 1.0.0\n');
    await write(chart, 'values.yaml', 'image:\n  repository: ghcr.io/example/app\n  tag: "2.0"\nsidecar:\n  image: docker.io/library/nginx:1.27\n');
    await write(
      chart,
      'templates/deploy.yaml',
      'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  template:\n    spec:\n      containers:\n        - name: a\n          image: {{ .Values.image.repository }}:{{ .Values.image.tag }}\n        - name: b\n          image: {{ .Values.sidecar.image }}\n',
    );
    const lab = path.join(dir, 'lab');
    await mkdir(lab);
    // The user's file sets only the sidecar; the app image comes from the chart's own values.yaml.
    await write(lab, 'values.yaml', '\n\nsidecar:\n  image: docker.io/library/redis:7.4\n');
    const prev = process.cwd();
    process.chdir(lab);
    try {
      const r = await rewriteChart(chart, await fixtureContext(), { values: ['values.yaml'] });
      const byWhere = Object.fromEntries(r.replacements.map((x) => [x.where, `${x.file}:${x.line}`]));
      expect(byWhere['image.repository']).toBe(`${path.join(chart, 'values.yaml')}:1`);
      expect(byWhere['sidecar.image']).toBe('./values.yaml:4');
      expect(r.overrideValues).toMatchObject({ sidecar: { image: `${MIRROR}/docker.io/library/redis:7.4` } });
    } finally {
      process.chdir(prev);
    }
  });
});
