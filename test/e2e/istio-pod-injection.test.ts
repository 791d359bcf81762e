import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../support/cli.js';
import { writeTree } from '../support/fs-tree.js';
import { imagesLock, imagesManifest, NESTED_SITE_TARGET } from '../support/offline-lock.js';
import type { AuditReport } from '../../src/audit/audit.js';

/**
 * A pod labelled `sidecar.istio.io/inject: "true"` gets Istio's proxy container from the webhook
 * (which selects such pods by that label, whatever their namespace's labels): an image pulled there
 * though no file of the workload names it. Audit now reports it as the namespace label was reported
 * (here with no istiod in the lock: unknown, undeclared, said so). The annotation of that name acts
 * only in a namespace the webhook already selects, so alone it is not counted.
 */

let work: string;
const deployment = (name: string, where: 'labels' | 'annotations') => `apiVersion: apps/v1
kind: Deployment
metadata: { name: ${name}, namespace: plain }
spec:
  selector: { matchLabels: { app: ${name} } }
  template:
    metadata:
      ${where}:
        sidecar.istio.io/inject: "true"
      ${where === 'labels' ? '' : 'labels: { app: x }'}
    spec:
      containers:
        - name: app
          image: docker.io/library/nginx:1.25
`;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-istio-pod-'));
  await writeFile(path.join(work, 'm.yaml'), imagesManifest('m', ['docker.io/library/nginx:1.25']));
  await writeFile(path.join(work, 'm.lock.json'), imagesLock('m', ['docker.io/library/nginx:1.25']));
  await writeFile(path.join(work, 't.yaml'), NESTED_SITE_TARGET);
  await writeTree(path.join(work, 'apps'), {
    'web.yaml': deployment('web', 'labels'),
    'api.yaml': deployment('api', 'annotations'),
    'cron.yaml': `apiVersion: batch/v1\nkind: CronJob\nmetadata: { name: nightly }\nspec:\n  schedule: "0 1 * * *"\n  jobTemplate:\n    spec:\n      template:\n        metadata:\n          labels: { sidecar.istio.io/inject: "true" }\n        spec:\n          restartPolicy: Never\n          containers:\n            - { name: job, image: docker.io/library/nginx:1.25 }\n`,
  });
});
afterAll(() => rm(work, { recursive: true, force: true }));

describe('Istio injection asked for by a pod label', () => {
  it("each labelled pod template is a finding for the proxy the injector adds; the annotation alone is not", async () => {
    const r = await runFerry(['audit', 'apps', '--manifest', 'm.yaml', '--target', 't.yaml', '--format', 'json'], { cwd: work });
    const report = JSON.parse(r.stdout) as AuditReport;
    const injected = report.findings.filter((f) => f.keyPath?.endsWith('labels.sidecar.istio.io/inject'));
    expect(injected.map((f) => [f.file, f.keyPath]).sort()).toEqual([
      ['apps/cron.yaml', 'spec.jobTemplate.spec.template.metadata.labels.sidecar.istio.io/inject'],
      ['apps/web.yaml', 'spec.template.metadata.labels.sidecar.istio.io/inject'],
    ]);
    for (const f of injected) {
      expect(f.class).toBe('undeclared');
      expect(f.note).toContain("Istio's sidecar injector adds its proxy container at admission to the pods of");
      expect(f.note).toContain('which proxy image is unknown');
    }
    expect(report.findings.filter((f) => f.file === 'apps/api.yaml' && f.value !== 'docker.io/library/nginx:1.25')).toEqual([]);
  });
});

describe('a pod label in a namespace labelled istio-injection: disabled', () => {
  it('is no finding: no webhook of Istio selects that namespace (the pod-label webhook requires it to have no istio-injection label); other namespaces still are', async () => {
    await writeTree(path.join(work, 'off'), {
      'ns.yaml': 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: plain\n  labels:\n    istio-injection: disabled\n',
      'web.yaml': deployment('web', 'labels'),
      'other.yaml': deployment('other', 'labels').replace('namespace: plain', 'namespace: shop'),
      'unset.yaml': deployment('unset', 'labels').replace(', namespace: plain', ''),
    });
    const r = await runFerry(['audit', 'off', '--manifest', 'm.yaml', '--target', 't.yaml', '--format', 'json'], { cwd: work });
    const report = JSON.parse(r.stdout) as AuditReport;
    const injected = report.findings.filter((f) => f.value === 'auto' || f.keyPath?.endsWith('sidecar.istio.io/inject') || f.keyPath?.endsWith('istio-injection'));
    // shop is not labelled, and unset's namespace is chosen at apply time: both may be injected.
    expect(injected.map((f) => f.file).sort()).toEqual(['off/other.yaml', 'off/unset.yaml']);
  });
});
