import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify as stringifyYaml } from 'yaml';
import { packageChart, startStaticServer, writeRepoIndex, type StaticServer } from '../support/chart-repo.js';
import { runFerry } from '../support/cli.js';
import type { AuditReport } from '../../src/audit/audit.js';

/**
 * `ferry audit` renders a chart the manifest names with the values files found in the scanned
 * tree (from the lock and the download cache, offline) and audits the rendered objects: an image
 * hard-coded in a template, never in the values, is found with the template's provenance. A chart
 * that cannot be rendered is reported, never skipped.
 */
let work: string;
let repo: StaticServer;
let manifest: string;
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRY_MIN_MS: '50', FERRY_RETRIES: '1' });

const JOB = `apiVersion: batch/v1
kind: Job
metadata:
  name: {{ .Release.Name }}-probe
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: app
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
{{- if .Values.probe.enabled }}
        - name: probe
          image: curlimages/curl:8.5.0
          args: ["-fsS", "{{ .Values.probe.url }}"]
{{- end }}
`;

type Report = AuditReport;

async function audit(args: string[], extraEnv: Record<string, string> = {}): Promise<{ code: number; report: Report; stderr: string }> {
  const r = await runFerry(['audit', ...args, '--json'], { cwd: work, env: { ...env(), ...extraEnv } });
  if (r.code !== 0 && r.code !== 5) throw new Error(`ferry audit exited ${r.code}\n${r.stderr}`);
  return { code: r.code, report: JSON.parse(r.stdout) as Report, stderr: r.stderr };
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-audit-render-'));
  const chartDir = path.join(work, 'src', 'probe-app');
  await mkdir(path.join(chartDir, 'templates'), { recursive: true });
  await writeFile(path.join(chartDir, 'Chart.yaml'), stringifyYaml({ apiVersion: 'v2', name: 'probe-app', version: '1.2.0' }));
  await writeFile(path.join(chartDir, 'values.yaml'), stringifyYaml({ image: { repository: 'registry.example.com/team/app', tag: '1.0' }, probe: { enabled: false, url: 'http://localhost' } }));
  await writeFile(path.join(chartDir, 'templates', 'job.yaml'), JOB);
  const stable = path.join(work, 'repo', 'stable');
  await mkdir(stable, { recursive: true });
  const pkg = await packageChart(chartDir, stable);
  await writeRepoIndex(stable, [pkg]);
  repo = await startStaticServer(path.join(work, 'repo'));

  // The deploy tree: values for probe-app that turn the probe on; the curl image is in the template only.
  await mkdir(path.join(work, 'deploy', 'probe-app'), { recursive: true });
  await writeFile(path.join(work, 'deploy', 'probe-app', 'values-prod.yaml'), 'image:\n  repository: registry.example.com/team/app\n  tag: "2.0"\nprobe:\n  enabled: true\n  url: http://app.example.com/health\n');
  // Not a values file of a manifest chart: scanned as usual, never rendered.
  await writeFile(path.join(work, 'deploy', 'other.yaml'), 'image: quay.io/acme/tool:1.0\n');
  manifest = path.join(work, 'site.yaml');
  await writeFile(
    manifest,
    stringifyYaml({
      apiVersion: 'ferry/v1alpha1',
      kind: 'Manifest',
      metadata: { name: 'site' },
      zones: [{ name: 'cluster', title: 'Cluster' }, { name: 'internet', title: 'Internet', external: true }],
      endpoints: [
        {
          name: 'docker-hub',
          title: 'Docker Hub',
          category: 'registry',
          hosts: ['docker.io'],
          from: 'cluster',
          to: 'internet',
          purpose: 'chart images',
          mitigation: { type: 'mirrored', description: 'mirror the images' },
        },
      ],
      charts: [{ name: 'probe-app', repo: `${repo.url}/stable`, version: '1.2.0', images: 'none' }],
    }),
  );
}, 60_000);

afterAll(async () => {
  await repo?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('ferry audit renders manifest charts with the scanned values', () => {
  it('reports the chart as not rendered (and fails --fail-on) while it is not locked', async () => {
    const { code, report, stderr } = await audit(['deploy', '--manifest', 'site.yaml', '--fail-on', 'unmapped']);
    expect(report.charts).toEqual([{ chart: 'probe-app', values: ['deploy/probe-app/values-prod.yaml'], status: 'not-rendered', reason: expect.stringMatching(/no lock file site\.lock\.json/), images: 0 }]);
    expect(report.summary.unrenderedCharts).toBe(1);
    expect(report.findings.some((f) => f.value.includes('curlimages/curl'))).toBe(false);
    expect(code).toBe(5);
    expect(stderr).toMatch(/chart probe-app with deploy\/probe-app\/values-prod\.yaml: not rendered/);
  });

  it('finds the image hard-coded in a template, with the template provenance, once the chart is locked and cached', async () => {
    const lock = await runFerry(['lock', manifest], { env: env() });
    expect(lock.code, lock.stderr).toBe(0);
    const { report } = await audit(['deploy', '--manifest', 'site.yaml']);
    expect(report.charts).toEqual([{ chart: 'probe-app', version: '1.2.0', values: ['deploy/probe-app/values-prod.yaml'], status: 'rendered', images: 2 }]);
    const curl = report.findings.filter((f) => f.value === 'curlimages/curl:8.5.0');
    expect(curl).toHaveLength(1);
    const line = JOB.split('\n').findIndex((l) => l.includes('curlimages/curl')) + 1;
    expect(curl[0]).toMatchObject({
      file: 'deploy/probe-app/values-prod.yaml',
      line,
      kind: 'image',
      keyPath: 'spec.template.spec.containers[1].image',
      // docker.io is declared and mirrored, but the manifest does not carry curl
      class: 'declared-unmitigated',
      declaredBy: 'docker-hub',
      template: 'probe-app/templates/job.yaml',
      resource: 'Job/release-name-probe',
      provenance: `rendered from chart probe-app 1.2.0 with values file deploy/probe-app/values-prod.yaml: template probe-app/templates/job.yaml line ${line}, resource Job/release-name-probe, spec.template.spec.containers[1].image`,
    });
    // The image the values file sets is reported once, at its values file line, not again from the render.
    expect(report.findings.filter((f) => f.value.includes('team/app')).map((f) => `${f.file}:${f.line} ${f.provenance ?? ''}`)).toEqual(['deploy/probe-app/values-prod.yaml:2 ']);
    // Files that are not values of a manifest chart are audited as before.
    expect(report.findings.find((f) => f.value === 'quay.io/acme/tool:1.0')).toMatchObject({ file: 'deploy/other.yaml', class: 'undeclared' });

    const md = await runFerry(['audit', 'deploy', '--manifest', 'site.yaml'], { cwd: work, env: env() });
    expect(md.stdout).toContain('rendered from chart probe-app 1.2.0 with values file deploy/probe-app/values-prod.yaml: template probe-app/templates/job.yaml');
    expect(md.stdout).toMatch(/\| probe-app \| 1\.2\.0 \| deploy\/probe-app\/values-prod\.yaml \| rendered \| 2 \|/);
  });

  it('ferry report --audit renders the chart the same way: the template-only image is in its findings as in ferry audit', async () => {
    const { report: audited } = await audit(['deploy', '--manifest', 'site.yaml']);
    const fromAudit = audited.findings.find((f) => f.value === 'curlimages/curl:8.5.0');
    expect(fromAudit).toBeDefined();
    const out = path.join(work, 'report.html');
    const r = await runFerry(['report', 'site.yaml', '--audit', 'deploy', '-o', out, '--json'], { cwd: work, env: env() });
    expect(r.code, r.stderr).toBe(0);
    const data = JSON.parse(r.stdout) as { audit: Report; warnings: string[] };
    expect(data.audit.charts).toEqual(audited.charts);
    expect(data.audit.findings.filter((f) => f.value === 'curlimages/curl:8.5.0')).toEqual([fromAudit]);
    expect(data.audit.findings).toEqual(audited.findings);
    const html = await readFile(out, 'utf8');
    expect(html).toContain('curlimages/curl:8.5.0');
    expect(html).toContain('rendered from chart probe-app 1.2.0 with values file deploy/probe-app/values-prod.yaml: template probe-app/templates/job.yaml');
    expect(html).toContain('<h3>Charts rendered with the audited values</h3>');

    // Without the archive in the cache the report says so, as the audit does.
    const cold = await runFerry(['report', 'site.yaml', '--audit', 'deploy', '--cache-dir', path.join(work, 'empty-cache'), '--json'], { cwd: work, env: env() });
    expect(cold.code, cold.stderr).toBe(0);
    const coldData = JSON.parse(cold.stdout) as { audit: Report };
    expect(coldData.audit.charts[0]).toMatchObject({ chart: 'probe-app', status: 'not-rendered' });
    expect(cold.stderr).toMatch(/warning: chart probe-app with deploy\/probe-app\/values-prod\.yaml: not rendered \(.*not in the download cache/);
  });

  it('on the air-gapped side, --bundle renders the chart from the bundle that carried it (its lock, its archive; no download cache)', async () => {
    const bundle = path.join(work, 'site.ferry.tar');
    const created = await runFerry(['bundle', 'create', manifest, '-o', bundle], { env: env() });
    expect(created.code, created.stderr).toBe(0);
    // Another host: an empty download cache and no lock beside the manifest.
    const site = path.join(work, 'airgap');
    await mkdir(site, { recursive: true });
    await writeFile(path.join(site, 'site.yaml'), await readFile(manifest, 'utf8'));
    const empty = { FERRY_CACHE_DIR: path.join(work, 'airgap-cache') };
    const r = await runFerry(['audit', path.join(work, 'deploy'), '--manifest', 'site.yaml', '--bundle', bundle, '--json'], { cwd: site, env: empty });
    expect([0, 5]).toContain(r.code);
    const report = JSON.parse(r.stdout) as Report;
    expect(report.charts).toMatchObject([{ chart: 'probe-app', version: '1.2.0', status: 'rendered', images: 2 }]);
    expect(report.findings.some((f) => f.value === 'curlimages/curl:8.5.0' && f.template === 'probe-app/templates/job.yaml')).toBe(true);
    // With only the bundle (no manifest on this side): the manifest it was made from, inside it, gives the same audit.
    const alone = await runFerry(['audit', path.join(work, 'deploy'), '--bundle', bundle, '--json'], { cwd: site, env: empty });
    expect(alone.code, alone.stderr).toBe(r.code);
    const aloneReport = JSON.parse(alone.stdout) as Report & { manifest?: string };
    expect(aloneReport.findings).toEqual(report.findings);
    expect(aloneReport.charts).toEqual(report.charts);
    // Neither a manifest nor a bundle: said what to give.
    const neither = await runFerry(['audit', path.join(work, 'deploy')], { cwd: site, env: empty });
    expect(neither.code).toBe(2);
    expect(neither.stderr).toContain('audit needs --manifest <manifest>, or --bundle <tar>');
    // report --bundle renders from the bundle too.
    const rep = await runFerry(['report', 'site.yaml', '--bundle', bundle, '--audit', path.join(work, 'deploy'), '--json'], { cwd: site, env: empty });
    expect(rep.code, rep.stderr).toBe(0);
    expect((JSON.parse(rep.stdout) as { audit: Report }).audit.charts).toMatchObject([{ chart: 'probe-app', status: 'rendered' }]);
  });

  it('reports a locked chart whose archive is not in the download cache as not rendered', async () => {
    const { report } = await audit(['deploy', '--manifest', 'site.yaml', '--cache-dir', path.join(work, 'empty-cache')]);
    expect(report.charts[0]).toMatchObject({ chart: 'probe-app', version: '1.2.0', status: 'not-rendered', reason: expect.stringMatching(/is not in the download cache/) });
    expect(report.findings.some((f) => f.value.includes('curlimages/curl'))).toBe(false);
  });
});
