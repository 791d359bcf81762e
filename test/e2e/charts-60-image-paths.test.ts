import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../support/cli.js';
import { packageChart, startStaticServer, writeRepoIndex, type StaticServer } from '../support/chart-repo.js';
import { writeTree } from '../support/convert-output.js';
import { pushLayoutImage, writeOciLayout } from '../support/images.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';

/**
 * charts60: a chart entry's `imagePaths:` (JSONPath in the rendered objects) are read by `ferry
 * charts images` as lock reads them (same images, same warnings), and `--image-path` does the same
 * for a chart named directly; `rewrite chart` and `rewrite values` name each image only imagePaths
 * found (no values key is known to set it), with the paths, instead of leaving it upstream in
 * silence. The chart is served by a real nginx and on disk; its images are in a Distribution registry.
 */

let work: string;
let repo: StaticServer;
let up: RunningRegistry;
let chartDir: string;

const PLUGIN_PATH = '{.spec.artifact.location}';
const LEVEL_PATH = '{.spec.logLevel}';

interface Source { kind: string; imagePath?: string; file?: string }
interface Image { ref: string; certainty: string; sources: Source[] }
interface Report { charts: Array<{ chart: { name: string }; images: Image[]; rendered?: { warnings: string[] } }> }

const plugin = () => `${up.host}/acme/plugin:1.4.0`;
const manager = () => `${up.host}/acme/manager:2.1.0`;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-charts60-'));
  const served = path.join(work, 'repo');
  await mkdir(served, { recursive: true });
  [repo, up] = await Promise.all([startStaticServer(served), startRegistry({ mode: 'http' })]);
  // The operator's own image in its container; the plugin it runs only in a custom resource's
  // spec.artifact.location, composed by the template (no values key spells it).
  chartDir = await writeTree(path.join(work, 'src', 'operator'), {
    'Chart.yaml': 'apiVersion: v2\nname: operator\nversion: 1.0.0\n',
    'values.yaml': `image: ${up.host}/acme/manager:2.1.0\nplugin:\n  registry: ${up.host}\n  version: 1.4.0\n  logLevel: debug\n`,
    'templates/deployment.yaml':
      'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: manager\nspec:\n  template:\n    spec:\n      containers:\n        - name: manager\n          image: {{ .Values.image }}\n',
    'templates/plugin.yaml':
      'apiVersion: acme.io/v1\nkind: Plugin\nmetadata:\n  name: default\nspec:\n  artifact:\n    location: {{ .Values.plugin.registry }}/acme/plugin:{{ .Values.plugin.version }}\n  logLevel: {{ .Values.plugin.logLevel }}\n',
  });
  await writeRepoIndex(served, [await packageChart(chartDir, served)]);
  const layout = path.join(work, 'layout');
  await writeOciLayout(layout, [
    { name: 'manager', platforms: [{ architecture: 'amd64', layers: [{ files: { manager: 'm\n' } }] }] },
    { name: 'plugin', platforms: [{ architecture: 'amd64', layers: [{ files: { plugin: 'p\n' } }] }] },
  ]);
  await pushLayoutImage(up, layout, 'manager', 'acme/manager:2.1.0');
  await pushLayoutImage(up, layout, 'plugin', 'acme/plugin:1.4.0');
  await writeTree(path.join(work, 'job'), {
    'manifest.yaml': `apiVersion: ferry/v1alpha1
kind: Manifest
metadata: { name: ops }
charts:
  - name: operator
    repo: ${repo.url}
    version: 1.0.0
    imagePaths: ["${PLUGIN_PATH}", "${LEVEL_PATH}"]
`,
    'site.yaml': 'apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: site }\nregistry:\n  url: http://mirror.site.internal:5000\n  prefix: mirror\n',
    'values-manager.yaml': `image: ${up.host}/acme/manager:2.1.0\n`,
    'values-rules.yaml': 'rules:\n  - alert: PluginDown\n',
  });
});

afterAll(async () => {
  await Promise.all([repo?.stop(), up?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
});

const job = () => path.join(work, 'job');
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache') });

describe('charts images reads imagePaths', () => {
  it('a manifest entry\'s imagePaths: its images listed with the path as their source, and lock\'s warnings', async () => {
    const r = await runFerry(['charts', 'images', 'manifest.yaml', '--json'], { cwd: job(), env: env() });
    expect(r.code, r.stderr).toBe(0);
    const chart = (JSON.parse(r.stdout) as Report).charts[0];
    const found = chart.images.find((i) => i.ref === plugin());
    expect(found?.certainty).toBe('certain');
    expect(found?.sources).toEqual([expect.objectContaining({ kind: 'image-path', imagePath: PLUGIN_PATH, file: 'manifest.yaml' })]);
    expect(chart.images.find((i) => i.ref === manager())?.certainty).toBe('certain');
    // The log level is a bare word: warned as lock warns it, not listed as docker.io/library/debug.
    expect(chart.rendered?.warnings).toContain(`chart operator 1.0.0: imagePaths ${LEVEL_PATH} finds debug: a bare word (no registry path, tag or digest) is not carried as an image; list it under images: with its full reference if it is one`);
    expect(r.stdout).not.toContain('library/debug');

    const why = await runFerry(['charts', 'images', 'manifest.yaml', '--why'], { cwd: job(), env: env() });
    expect(why.code, why.stderr).toBe(0);
    expect(why.stdout).toContain(`    ${plugin()}  (imagePaths ${PLUGIN_PATH})`);
    expect(why.stdout).toContain(`operator  manifest.yaml  imagePaths ${PLUGIN_PATH}`);
    expect(why.stdout).toContain(`warning: chart operator 1.0.0: imagePaths ${LEVEL_PATH} finds debug`);
  });

  it('--image-path on a chart directory means the same; a path ferry does not evaluate is refused, naming it', async () => {
    const r = await runFerry(['charts', 'images', chartDir, '--image-path', PLUGIN_PATH, '--image-path', '{.spec.nothing}', '--json'], { cwd: job() });
    expect(r.code, r.stderr).toBe(0);
    const chart = (JSON.parse(r.stdout) as Report).charts[0];
    const found = chart.images.find((i) => i.ref === plugin());
    // Deployed after all (the path reads it in what the values render), as lock counts it.
    expect(found?.certainty).toBe('certain');
    expect(found?.sources).toEqual([expect.objectContaining({ kind: 'image-path', imagePath: PLUGIN_PATH, file: '--image-path' })]);
    expect(chart.rendered?.warnings).toContain('chart operator 1.0.0: imagePaths {.spec.nothing} finds no image in the chart rendered with the values given');

    // Without it, the plugin is not listed (nothing in the chart says it is an image).
    const plain = await runFerry(['charts', 'images', chartDir, '--json'], { cwd: job() });
    expect(plain.code, plain.stderr).toBe(0);
    expect((JSON.parse(plain.stdout) as Report).charts[0].images.some((i) => i.ref === plugin())).toBe(false);

    const bad = await runFerry(['charts', 'images', chartDir, '--image-path', '{range .items[*]}{.image}{end}'], { cwd: job() });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--image-path "{range .items[*]}{.image}{end}": not a JSONPath ferry evaluates');

    const onManifest = await runFerry(['charts', 'images', 'manifest.yaml', '--image-path', PLUGIN_PATH], { cwd: job() });
    expect(onManifest.code).toBe(2);
    expect(onManifest.stderr).toContain('--image-path is for a chart named directly');
  });
});

describe('rewrite names the images only imagePaths found', () => {
  it('lock records the paths; rewrite chart and rewrite values say each such image is not moved, with its path', async () => {
    const l = await runFerry(['lock', 'manifest.yaml', '--insecure-registry', up.host], { cwd: job(), env: env() });
    expect(l.code, l.stderr).toBe(0);
    const lock = JSON.parse(await readFile(path.join(job(), 'ops.lock.json'), 'utf8')) as { charts: Array<{ name: string; imagePathImages?: string[]; imagePathSources?: Record<string, string[]> }> };
    const entry = lock.charts.find((c) => c.name === 'operator')!;
    expect(entry.imagePathImages).toEqual([plugin()]);
    expect(entry.imagePathSources).toEqual({ [plugin()]: [PLUGIN_PATH] });

    const said = `${plugin()} was found only by the chart entry's imagePaths ${PLUGIN_PATH} and is NOT moved by`;
    const rc = await runFerry(['rewrite', 'chart', chartDir, '-t', 'site.yaml', '--lock', 'ops.lock.json', '-o', 'override.yaml'], { cwd: job(), env: env() });
    expect(rc.code, rc.stderr).toBe(0);
    expect(rc.stderr).toContain(`${said} this override`);
    expect(rc.stderr).toContain(`at mirror.site.internal:5000/mirror/`);
    // The manager moves (its values key is known); the plugin stays as the chart has it, and is said so.
    const override = await readFile(path.join(job(), 'override.yaml'), 'utf8');
    expect(override).toContain('image: mirror.site.internal:5000/mirror/');
    expect(override).not.toContain('plugin');

    const rv = await runFerry(['rewrite', 'values', 'values-manager.yaml', '-t', 'site.yaml', '--lock', 'ops.lock.json', '-o', 'values-override.yaml'], { cwd: job(), env: env() });
    expect(rv.code, rv.stderr).toBe(0);
    expect(rv.stderr).toContain(`chart operator 1.0.0: ${said} values-manager.yaml`);
    // A file that names none of the chart's images: the list says which ones only imagePaths found.
    const none = await runFerry(['rewrite', 'values', 'values-rules.yaml', '-t', 'site.yaml', '--lock', 'ops.lock.json', '-o', 'rules-override.yaml'], { cwd: job(), env: env() });
    expect(none.code, none.stderr).toBe(0);
    expect(none.stderr).toContain(`${plugin()} (found only by the chart entry's imagePaths ${PLUGIN_PATH})`);
  });
});
