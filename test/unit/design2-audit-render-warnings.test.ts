import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify as stringifyYaml } from 'yaml';
import { auditPaths, type ChartArchives } from '../../src/audit/charts.js';
import { buildConnectionModel } from '../../src/audit/model.js';
import { renderAuditMarkdown } from '../../src/audit/render-audit.js';
import { loadManifest, type Lock } from '../../src/kinds/schema.js';
import { packageChart, type PackagedChart } from '../support/chart-repo.js';

/**
 * DESIGN.md "Warnings are data": a chart the audit renders for a Kubernetes version it assumed (the
 * chart's kubeVersion refuses the default) found its images under that assumption; the audit's
 * render record carries the render's warnings (JSON), and the markdown prints them. A manifest
 * chart's `kubeVersion:` is the version the audit renders for, as `ferry lock` does.
 */
let work: string;
let pkg: PackagedChart;

const DEPLOY = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  template:
    spec:
      containers:
        - name: app
          image: "registry.example.com/team/app:k{{ .Capabilities.KubeVersion.Minor }}"
`;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-design2-warn-'));
  const chartDir = path.join(work, 'src', 'verapp');
  await mkdir(path.join(chartDir, 'templates'), { recursive: true });
  await writeFile(path.join(chartDir, 'Chart.yaml'), stringifyYaml({ apiVersion: 'v2', name: 'verapp', version: '1.0.0', kubeVersion: '>=1.31.0-0' }));
  await writeFile(path.join(chartDir, 'values.yaml'), 'replicas: 1\n');
  await writeFile(path.join(chartDir, 'templates', 'deploy.yaml'), DEPLOY);
  await mkdir(path.join(work, 'pkg'));
  pkg = await packageChart(chartDir, path.join(work, 'pkg'));
  // A kustomization inflating the same chart, vendored where kustomize looks.
  const kust = path.join(work, 'tree', 'kust');
  await mkdir(path.join(kust, 'charts', 'verapp', 'templates'), { recursive: true });
  await writeFile(path.join(kust, 'kustomization.yaml'), stringifyYaml({ helmCharts: [{ name: 'verapp', releaseName: 'v' }] }));
  await writeFile(path.join(kust, 'charts', 'verapp', 'Chart.yaml'), await readFile(path.join(chartDir, 'Chart.yaml')));
  await writeFile(path.join(kust, 'charts', 'verapp', 'templates', 'deploy.yaml'), DEPLOY);
  // Values for the manifest chart.
  await mkdir(path.join(work, 'tree', 'verapp'), { recursive: true });
  await writeFile(path.join(work, 'tree', 'verapp', 'values-prod.yaml'), 'replicas: 2\n');
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

async function audit(kubeVersion?: string) {
  const manifest = path.join(work, `site-${kubeVersion ?? 'none'}.yaml`);
  const chart: Record<string, unknown> = { name: 'verapp', repo: 'https://charts.example.com/stable', version: '1.0.0' };
  if (kubeVersion) chart.kubeVersion = kubeVersion;
  await writeFile(manifest, stringifyYaml({ apiVersion: 'ferry/v1alpha1', kind: 'Manifest', metadata: { name: 'site' }, charts: [chart] }));
  const loaded = await loadManifest(manifest);
  const lock = { charts: [{ name: 'verapp', repo: 'https://charts.example.com/stable', version: '1.0.0', digest: pkg.digest, size: pkg.size, url: 'https://charts.example.com/stable/verapp-1.0.0.tgz' }] } as unknown as Lock;
  const archives: ChartArchives = {
    where: 'the test',
    has: async (digest, size) => digest === pkg.digest && size === pkg.size,
    open: async () => createReadStream(pkg.file) as unknown as Readable,
    hint: 'none',
  };
  return auditPaths(loaded, buildConnectionModel(loaded), undefined, [path.join(work, 'tree')], { cwd: work, lock, lockFile: 'site.lock.json', archives, manifestFile: manifest });
}

describe('audit chart renders carry their warnings (design2)', () => {
  it('a render for an assumed Kubernetes version says so in the record and the markdown', async () => {
    const report = await audit();
    const manifestChart = report.charts.find((c) => c.values.includes('tree/verapp/values-prod.yaml'))!;
    const kustChart = report.charts.find((c) => c.values.some((v) => v.includes('helmCharts[0]')))!;
    for (const c of [manifestChart, kustChart]) {
      expect(c.status).toBe('rendered');
      expect(c.warnings).toHaveLength(1);
      expect(c.warnings![0]).toContain('rendered for Kubernetes v1.31.0');
    }
    // What to do is said the way each render is told its version, not a flag the audit lacks.
    expect(manifestChart.warnings![0]).toContain('set kubeVersion: on chart verapp in the manifest');
    expect(kustChart.warnings![0]).toContain('set kubeVersion: in tree/kust/kustomization.yaml helmCharts[0]');
    expect(report.charts.flatMap((c) => c.warnings ?? []).join('\n')).not.toContain('--kube-version');
    // The images were found under that assumption.
    expect(report.findings.some((f) => f.value === 'registry.example.com/team/app:k31')).toBe(true);
    const md = renderAuditMarkdown(report);
    expect(md).toContain('### Render warnings');
    expect(md).toMatch(/\| verapp \| 1\.0\.0 \| tree\/verapp\/values-prod\.yaml \| the chart requires kubeVersion: >=1\.31\.0-0, which the default Kubernetes v1\.29\.0 does not meet: rendered for Kubernetes v1\.31\.0/);
  });

  it("the manifest chart's kubeVersion is the version the audit renders it for, as ferry lock does", async () => {
    const report = await audit('v1.33.2');
    const manifestChart = report.charts.find((c) => c.values.includes('tree/verapp/values-prod.yaml'))!;
    expect(manifestChart.status).toBe('rendered');
    expect(manifestChart.warnings).toBeUndefined();
    const rendered = report.findings.filter((f) => f.value.startsWith('registry.example.com/team/app:') && f.file === 'tree/verapp/values-prod.yaml').map((f) => f.value);
    expect(rendered).toEqual(['registry.example.com/team/app:k33']);
  });
});
