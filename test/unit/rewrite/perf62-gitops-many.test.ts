import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { Parser } from 'yaml';
import type { ChartArchives } from '../../../src/audit/charts.js';
import { LockSchema, type Lock } from '../../../src/kinds/schema.js';
import { createRewriteContext } from '../../../src/rewrite/context.js';
import { rewriteManifests } from '../../../src/rewrite/manifests.js';
import { packageChart, type PackagedChart } from '../../support/chart-repo.js';
import { fixtureTarget, MIRROR } from './helpers.js';

/**
 * `rewrite manifests` moves the images a GitOps-installed chart's defaults name into each
 * installing object's values, and reads each object back to prove it. A file of hundreds of Argo
 * CD Applications was parsed whole again after each object edited (and once more for its
 * read-back): quadratic. Now only the edited document is read again, so the YAML read in all is
 * linear in the file; and each object's edit is the one it gets when rewritten alone.
 */
const UP = 'docker.io/acme/web:1.0';
let work: string;
let pkg: PackagedChart;
let lock: Lock;
let archives: ChartArchives;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-perf62-'));
  const chart = path.join(work, 'src', 'web');
  await mkdir(path.join(chart, 'templates'), { recursive: true });
  await writeFile(path.join(chart, 'Chart.yaml'), 'apiVersion: v2\nname: web\nversion: 1.0.0\n');
  await writeFile(path.join(chart, 'values.yaml'), 'image:\n  repository: docker.io/acme/web\n  tag: "1.0"\n');
  await writeFile(
    path.join(chart, 'templates', 'deploy.yaml'),
    'apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: {{ .Release.Name }} }\nspec:\n  template:\n    spec:\n      containers:\n        - name: web\n          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"\n',
  );
  await mkdir(path.join(work, 'pkg'));
  pkg = await packageChart(chart, path.join(work, 'pkg'));
  const digest = `sha256:${pkg.digest}`;
  lock = LockSchema.parse({
    apiVersion: 'ferry/v1alpha1',
    kind: 'Lock',
    manifest: { name: 'x', digest },
    images: [{ source: UP, ref: UP, digest, mediaType: 'application/vnd.oci.image.index.v1+json', size: 1, manifests: [], blobs: [] }],
    charts: [{ name: 'web', version: '1.0.0', repo: 'https://charts.example', requested: '1.0.0', source: 'http', digest, size: pkg.size, images: [UP], imageValues: { [UP]: [{ path: 'image.repository' }] } }],
  });
  archives = { where: 'the test', has: async (d, s) => d === digest && s === pkg.size, open: async () => createReadStream(pkg.file) as unknown as Readable, hint: 'none' };
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

afterEach(() => {
  vi.restoreAllMocks();
});

/** Application `i`, with what a real file has around it: a comment, a ConfigMap after it, values of its own (some as a string). */
function application(i: number): string {
  const values = i % 3 === 0 ? `        values: |\n          replicas: ${i}\n` : i % 3 === 1 ? `        valuesObject:\n          replicas: ${i}  # kept\n` : '';
  return [
    `# app ${i}`,
    'apiVersion: argoproj.io/v1alpha1',
    'kind: Application',
    `metadata: { name: web-${i}, namespace: argocd }`,
    'spec:',
    '  source:',
    '    repoURL: https://charts.example',
    '    chart: web',
    '    targetRevision: 1.0.0',
    ...(values ? ['    helm:', values.trimEnd()] : []),
    '---',
    'apiVersion: v1',
    'kind: ConfigMap',
    `metadata: { name: cm-${i} }`,
    'data:',
    `  note: "object ${i}"`,
    '',
  ].join('\n');
}

async function rewrite(name: string, text: string) {
  const file = path.join(work, name);
  await writeFile(file, text);
  const ctx = createRewriteContext(await fixtureTarget(), lock);
  const r = await rewriteManifests([file], ctx, { archives, lockFile: 'm.lock.json' });
  return { r, after: await readFile(file, 'utf8') };
}

describe('rewrite manifests: many GitOps releases in one file (perf62)', () => {
  it('each of 150 Applications in one file is moved as it is when rewritten alone, comments and the other objects kept', async () => {
    const n = 150;
    const alone: string[] = [];
    for (const i of [0, 1, 2]) alone.push((await rewrite(`alone-${i}.yaml`, application(i))).after);
    const many = await rewrite('many.yaml', Array.from({ length: n }, (_v, i) => application(i)).join('---\n'));
    // Each: the chart source at the mirror, and the image its defaults name.
    expect(many.r.replacements.filter((x) => x.kind === 'chart-repo')).toHaveLength(n);
    expect(many.r.replacements.filter((x) => x.new === `${MIRROR}/docker.io/acme/web`)).toHaveLength(n);
    expect(many.r.warnings).toEqual([]);
    const docs = many.after.split('---\n');
    expect(docs).toHaveLength(2 * n);
    // The rewrite of object i alone, with i's own numbers: the same bytes.
    for (let i = 0; i < n; i++) {
      const want = alone[i % 3].split('---\n')[0].replaceAll(`app ${i % 3}`, `app ${i}`).replaceAll(`web-${i % 3}`, `web-${i}`).replaceAll(`replicas: ${i % 3}`, `replicas: ${i}`);
      expect(docs[2 * i]).toBe(want);
      expect(docs[2 * i + 1]).toBe(application(i).split('---\n')[1]);
    }
    expect(alone[1]).toContain(`repository: ${MIRROR}/docker.io/acme/web`);
    expect(alone[1]).toContain(`replicas: 1  # kept`);
  });

  it('the YAML read for them is linear in the file: each edited document is read again alone, not the whole file', async () => {
    const text = Array.from({ length: 120 }, (_v, i) => application(i)).join('---\n');
    const parse = vi.spyOn(Parser.prototype, 'parse');
    const { r } = await rewrite('count.yaml', text);
    expect(r.replacements.filter((x) => x.new === `${MIRROR}/docker.io/acme/web`)).toHaveLength(120);
    const read = parse.mock.calls.reduce((n, [source]) => n + source.length, 0);
    // The whole file a few times (rewriteManifests' scan, the chart-defaults view) plus each object's
    // values and documents: re-reading the whole file per object was over 200 times its size.
    expect(read).toBeLessThan(10 * text.length);
  });
});
