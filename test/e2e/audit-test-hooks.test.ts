import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify as stringifyYaml } from 'yaml';
import { packageChart, startStaticServer, writeRepoIndex, type StaticServer } from '../support/chart-repo.js';
import { runFerry } from '../support/cli.js';
import type { AuditReport } from '../../src/audit/audit.js';

/**
 * A chart's `helm test` hook pod pulls its image only when someone runs `helm test` at the site.
 * The lock keeps such images apart (testImages) and does not bundle them unless asked
 * (`testImages: carry`); the audit of the chart's values finds the image and says it is the test
 * hook's, so the site knows when that connection happens.
 */
let work: string;
let repo: StaticServer;
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRY_MIN_MS: '50', FERRY_RETRIES: '1' });

const TEST_POD = `apiVersion: v1
kind: Pod
metadata:
  name: "{{ .Release.Name }}-test-connection"
  annotations:
    "helm.sh/hook": test
spec:
  restartPolicy: Never
  containers:
    - name: wget
      image: registry.example.com/tools/busybox:1.36
      command: ["wget", "-qO-", "http://{{ .Release.Name }}:80"]
`;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-audit-test-hooks-'));
  const chartDir = path.join(work, 'src', 'web');
  await mkdir(path.join(chartDir, 'templates', 'tests'), { recursive: true });
  await writeFile(path.join(chartDir, 'Chart.yaml'), stringifyYaml({ apiVersion: 'v2', name: 'web', version: '0.3.0' }));
  await writeFile(path.join(chartDir, 'values.yaml'), stringifyYaml({ image: 'registry.example.com/team/web:1.0' }));
  await writeFile(path.join(chartDir, 'templates', 'pod.yaml'), 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n    - name: web\n      image: {{ .Values.image }}\n');
  await writeFile(path.join(chartDir, 'templates', 'tests', 'test-connection.yaml'), TEST_POD);
  const stable = path.join(work, 'repo', 'stable');
  await mkdir(stable, { recursive: true });
  await writeRepoIndex(stable, [await packageChart(chartDir, stable)]);
  repo = await startStaticServer(path.join(work, 'repo'));
  await mkdir(path.join(work, 'deploy', 'web'), { recursive: true });
  await writeFile(path.join(work, 'deploy', 'web', 'values-prod.yaml'), 'image: registry.example.com/team/web:1.1\n');
  await writeFile(path.join(work, 'site.yaml'), stringifyYaml({ apiVersion: 'ferry/v1alpha1', kind: 'Manifest', metadata: { name: 'site' }, charts: [{ name: 'web', repo: `${repo.url}/stable`, version: '0.3.0', images: 'none' }] }));
}, 60_000);

afterAll(async () => {
  await repo?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('audit of a chart with a helm test hook', () => {
  it("finds the test hook's image with the chart's render and says it is pulled when helm test runs", async () => {
    const lock = await runFerry(['lock', 'site.yaml'], { cwd: work, env: env() });
    expect(lock.code, lock.stderr).toBe(0);
    const r = await runFerry(['audit', 'deploy', '--manifest', 'site.yaml', '--json'], { cwd: work, env: env() });
    expect([0, 5]).toContain(r.code);
    const report = JSON.parse(r.stdout) as AuditReport;
    expect(report.charts).toMatchObject([{ chart: 'web', status: 'rendered', images: 2 }]);
    const busybox = report.findings.filter((f) => f.value === 'registry.example.com/tools/busybox:1.36');
    expect(busybox).toHaveLength(1);
    expect(busybox[0]).toMatchObject({ class: 'undeclared', template: 'web/templates/tests/test-connection.yaml' });
    expect(busybox[0].provenance).toContain('resource Pod/release-name-test-connection (a `helm test` hook: pulled when `helm test` runs)');
    // The workload's own image carries no such note.
    const web = report.findings.filter((f) => f.value.includes('team/web'));
    expect(web.every((f) => !(f.provenance ?? '').includes('helm test'))).toBe(true);
  });
});
