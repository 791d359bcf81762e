import { cp, mkdir, mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { mustRun } from '../../support/cli.js';
import { rewriteChart } from '../../../src/rewrite/chart.js';
import { FIXTURES, MIRROR, fixtureContext, scratch, write } from './helpers.js';

const CHART = path.join(FIXTURES, 'chart');
const EXPECTED = {
  // The subchart's keys sit under its alias, as Helm scopes them.
  cache: { image: { registry: `${MIRROR}/docker.io`, repository: 'library/redis' } },
  app: { image: { repository: `${MIRROR}/ghcr.io/example/app` } },
  // Helm replaces lists wholesale: the whole list, only the image changed.
  sidecars: [{ name: 'tool', image: `${MIRROR}/registry.example.com-5000/team/tool:1` }],
};

describe('rewrite chart (fixture chart with an aliased subchart)', () => {
  it('scopes subchart keys under the alias, carries lists whole; an image written literally in a template fails the proof by rendering', async () => {
    const dir = await scratch();
    const out = path.join(dir, 'override.yaml');
    // The override is rendered: the pinned image no value can move still points upstream, so the
    // command fails naming the resource, the field and the template line, and writes nothing.
    const err = await rewriteChart(CHART, await fixtureContext(), { output: out }).catch((e) => e);
    expect(err.code).toBe('CONFLICT');
    expect(err.details.join('\n')).toContain('templates/deploy.yaml:12  quay.io/jetstack/cert-manager-controller:v1.16.0');
    expect(err.details.join('\n')).toContain('Deployment release-name spec.template.spec.containers[1].image');
    expect(err.details.join('\n')).toContain('still points upstream in the render with the override');
    const r = await rewriteChart(CHART, await fixtureContext(), { output: out, allowUnmapped: true });
    expect(parse(await readFile(out, 'utf8'))).toEqual(EXPECTED);
    expect(r.unmapped).toEqual([expect.objectContaining({ ref: 'quay.io/jetstack/cert-manager-controller:v1.16.0', line: 12, where: 'Deployment release-name spec.template.spec.containers[1].image' })]);
    expect(r.chartRepos).toEqual([
      { dependency: 'sub', chart: 'demo', upstream: 'oci://ghcr.io/example/charts', mirror: `oci://${MIRROR}/ghcr.io/example/charts`, vendored: true },
    ]);
  });

  it('chooses the registry key the templates read, found by rendering (global.imageRegistry here), and proves it', async () => {
    const dir = await scratch();
    const chart = path.join(dir, 'reg');
    await mkdir(path.join(chart, 'templates'), { recursive: true });
    await write(chart, 'Chart.yaml', 'apiVersion: v2\nname: reg\nversion: 1.0.0\n');
    // the values spell the image without a registry; the template adds one from global.imageRegistry
    await write(chart, 'values.yaml', 'global:\n  imageRegistry: ""\nimage:\n  repository: jetstack/cert-manager-controller\n  tag: v1.16.0\n');
    await write(
      chart,
      'templates/deploy.yaml',
      'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: reg\nspec:\n  template:\n    spec:\n      containers:\n        - name: c\n          image: {{ .Values.global.imageRegistry | default "quay.io" }}/{{ .Values.image.repository }}:{{ .Values.image.tag }}\n',
    );
    const r = await rewriteChart(chart, await fixtureContext(), {});
    expect(r.overrideValues).toEqual({ global: { imageRegistry: `${MIRROR}/quay.io` } });
    expect(r.replacements).toEqual([expect.objectContaining({ kind: 'registry', where: 'global.imageRegistry', new: `${MIRROR}/quay.io`, line: 10 })]);
  });

  it('the same override from a packaged .tgz', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-chart-tgz-'));
    await cp(CHART, path.join(dir, 'demo'), { recursive: true });
    await mustRun('tar', ['-czf', path.join(dir, 'demo-1.0.0.tgz'), '-C', dir, 'demo']);
    const r = await rewriteChart(path.join(dir, 'demo-1.0.0.tgz'), await fixtureContext(), { allowUnmapped: true });
    expect(r.overrideValues).toEqual(EXPECTED);
  });

  it('user values are merged first: a tag the lock lacks is unmapped, naming the values path', async () => {
    const dir = await scratch();
    const values = await write(dir, 'mine.yaml', 'cache:\n  image:\n    tag: "9.9"\n');
    const err = await rewriteChart(CHART, await fixtureContext(), { values: [values] }).catch((e) => e);
    expect(err.code).toBe('CONFLICT');
    expect(err.details.join('\n')).toContain('docker.io/library/redis:9.9');
    expect(err.details.join('\n')).toContain('cache.image');
  });
});

describe('rewrite chart --chart-yaml', () => {
  it("points the chart directory's Chart.yaml dependency repositories at the mirror, keeping every other byte", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-chart-yaml-'));
    await cp(CHART, path.join(dir, 'demo'), { recursive: true });
    const chartYaml = path.join(dir, 'demo', 'Chart.yaml');
    const before = await readFile(chartYaml, 'utf8');
    const r = await rewriteChart(path.join(dir, 'demo'), await fixtureContext(), { chartYaml: true, allowUnmapped: true });
    const after = await readFile(chartYaml, 'utf8');
    expect(after).toBe(before.replace('repository: oci://ghcr.io/example/charts', `repository: oci://${MIRROR}/ghcr.io/example/charts`));
    expect(after).not.toBe(before);
    expect(r.replacements).toContainEqual(expect.objectContaining({ file: chartYaml, kind: 'chart-repo', where: 'dependencies[0].repository', new: `oci://${MIRROR}/ghcr.io/example/charts` }));
    // Twice changes nothing.
    const again = await rewriteChart(path.join(dir, 'demo'), await fixtureContext(), { chartYaml: true, allowUnmapped: true });
    expect(again.replacements.filter((x) => x.kind === 'chart-repo')).toEqual([]);
    expect(await readFile(chartYaml, 'utf8')).toBe(after);
  });

  it('a packaged chart: left as it is, with a warning saying so (was an error: its Chart.yaml read as a path under the .tgz)', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-chart-yaml-tgz-'));
    await cp(CHART, path.join(dir, 'demo'), { recursive: true });
    await mustRun('tar', ['-czf', path.join(dir, 'demo-1.0.0.tgz'), '-C', dir, 'demo']);
    const tgz = path.join(dir, 'demo-1.0.0.tgz');
    const bytes = await readFile(tgz);
    const r = await rewriteChart(tgz, await fixtureContext(), { chartYaml: true, allowUnmapped: true });
    expect(r.warnings.join('\n')).toContain("--chart-yaml edits a chart directory's Chart.yaml; a packaged chart is left as it is");
    expect(r.replacements.filter((x) => x.kind === 'chart-repo')).toEqual([]);
    expect(await readFile(tgz)).toEqual(bytes);
  });
});
