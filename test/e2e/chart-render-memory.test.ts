import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FERRY, runCommand } from '../support/cli.js';

/**
 * A chart whose templates hold a few MB of CRDs (kubeshop's testkube-operator: 1.2 MB of them)
 * through the built CLI: discovery renders it several times (the base render, a probe render with
 * the sidecar switched on), each parsing every CRD document. Before, each render deep-copied each
 * parsed document out of the parse cache and the young generation grew to 128 MB within one
 * render: peak RSS 290–340 MB. Measured with /usr/bin/time -v; the images found are the same.
 */
const MAX_RSS_KB = 256 * 1024;

/** Properties as controller-gen writes them: nested objects of described fields. */
function properties(depth: number, indent: string, width: number): string[] {
  const lines: string[] = [];
  for (let i = 0; i < width; i++) {
    lines.push(`${indent}field${depth}x${i}:`);
    lines.push(`${indent}  description: Field ${i} at depth ${depth} says what this setting of the workflow does when it is set.`);
    if (depth > 0) lines.push(`${indent}  type: object`, `${indent}  properties:`, ...properties(depth - 1, `${indent}    `, width));
    else lines.push(`${indent}  type: string`);
  }
  return lines;
}

let work: string;
let chart: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-chart-memory-'));
  chart = path.join(work, 'bigcrds');
  await mkdir(path.join(chart, 'templates'), { recursive: true });
  await writeFile(path.join(chart, 'Chart.yaml'), 'apiVersion: v2\nname: bigcrds\nversion: 1.0.0\n');
  await writeFile(path.join(chart, 'values.yaml'), 'image:\n  repository: example.org/app\n  tag: "1.0"\nsidecar:\n  enabled: false\n  image:\n    repository: example.org/sidecar\n    tag: "2.0"\n');
  await writeFile(
    path.join(chart, 'templates', 'deployment.yaml'),
    [
      'apiVersion: apps/v1',
      'kind: Deployment',
      'metadata:',
      '  name: {{ .Release.Name }}',
      'spec:',
      '  template:',
      '    spec:',
      '      containers:',
      '        - name: app',
      '          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"',
      '{{- if .Values.sidecar.enabled }}',
      '        - name: sidecar',
      '          image: "{{ .Values.sidecar.image.repository }}:{{ .Values.sidecar.image.tag }}"',
      '{{- end }}',
      '',
    ].join('\n'),
  );
  const body = properties(4, ' '.repeat(16), 5).join('\n');
  for (let f = 0; f < 4; f++) {
    const head = [
      'apiVersion: apiextensions.k8s.io/v1',
      'kind: CustomResourceDefinition',
      'metadata:',
      `  name: things${f}.example.org`,
      '  labels:',
      '    app: {{ .Release.Name }}',
      'spec:',
      '  group: example.org',
      `  names: {kind: Thing${f}, plural: things${f}}`,
      '  scope: Namespaced',
      '  versions:',
      '    - name: v1',
      '      served: true',
      '      storage: true',
      '      schema:',
      '        openAPIV3Schema:',
      '          type: object',
      '          properties:',
    ].join('\n');
    await writeFile(path.join(chart, 'templates', `crd${f}.yaml`), `${head}\n${body}\n`);
  }
});
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('charts images on a chart with megabytes of CRD templates', () => {
  it('finds the images (one only a probe render shows) within 256 MB peak RSS', async () => {
    const r = await runCommand('/usr/bin/time', ['-v', process.execPath, FERRY, 'charts', 'images', chart, '--json'], { timeoutMs: 120_000 });
    const rss = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr)?.[1]);
    console.log(`charts images (4 CRD templates of ${Math.round(properties(4, ' '.repeat(16), 5).join('\n').length / 1024)} KB): exit ${r.code}, peak RSS ${Math.round(rss / 1024)} MB`);
    expect(r.code, r.stderr).toBe(0);
    const images = (JSON.parse(r.stdout) as { charts: Array<{ images: Array<{ ref: string; certainty: string }> }> }).charts[0].images;
    expect(images.map((i) => [i.ref, i.certainty])).toEqual([
      ['example.org/app:1.0', 'certain'],
      ['example.org/sidecar:2.0', 'possible'],
    ]);
    expect(rss).toBeGreaterThan(0);
    expect(rss).toBeLessThanOrEqual(MAX_RSS_KB);
  });
});
