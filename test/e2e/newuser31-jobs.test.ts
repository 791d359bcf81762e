import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { runFerry } from '../support/cli.js';
import { listTree } from '../support/fs-tree.js';
import { offlineWork } from '../support/offline-lock.js';
import type { AuditReport, Finding } from '../../src/audit/audit.js';

/**
 * A GitOps repository moved inside (new-user round 31): an Argo CD site whose platform apps are
 * kustomizations with `helmCharts:` (Argo CD runs kustomize with `kustomize.buildOptions:
 * --enable-helm`; Flux's kustomize-controller never does), laid out as argocd-example-apps and
 * kustomize's examples/chart.md do: `infrastructure/<app>/kustomization.yaml`, the chart vendored
 * where kustomize looks for it (`charts/<name>-<version>/<name>` with `repo` and `version`, else
 * `charts/<name>`), base and overlays. The charts are the real ones of ../shared/corpus, copied into
 * the test's temporary repository as `helm pull --untar` would lay them out. The engineer ran `ferry
 * audit <repo>`, `ferry rewrite manifests <repo>`, then audit again.
 *
 * What tripped (kustomize's HelmChartInflationGenerator: api/types/helmchartargs.go and
 * plugin/builtin/helmchartinflationgenerator in kubernetes-sigs/kustomize, read for where the chart
 * is looked for and how values are passed; helm is not installed here, so `--enable-helm` was not run):
 * - audit did not render the inflated chart: the controller image it deploys was no finding (only the
 *   kustomization's `images:` entry was), and nothing said the chart was not looked at. It now renders
 *   a vendored chart with ferry's renderer, with `valuesFile`/`valuesInline`/`valuesMerge`/
 *   `additionalValuesFiles`, `releaseName`, `namespace`, and applies the kustomization's `images:`
 *   (and an overlay's) to what it inflates; a chart not vendored is "not rendered" (unknown, and
 *   `--fail-on` fails), with the `helm pull` that vendors it.
 * - the vendored chart's own files were audited line by line: 1 006 "undeclared" findings (changelog
 *   and README URLs, the chart's CI values) for one ingress-nginx. A rendered chart is audited by its render.
 * - a vendored chart's `repo:` was "undeclared" egress, though kustomize never pulls a chart it finds.
 * - `rewrite manifests <repo>` stopped at the first Helm template of the vendored chart ("not valid
 *   YAML", nothing written), and refused the vendored chart's `repo:` as not in the lock.
 */

let work: string;
const CORPUS = path.resolve(__dirname, '../../../shared/corpus/charts');
const CONTROLLER = 'registry.k8s.io/ingress-nginx/controller:v1.15.1';
const EXTERNAL_DNS = 'registry.k8s.io/external-dns/external-dns:v0.21.0';
const IMAGES = [CONTROLLER, EXTERNAL_DNS, 'docker.io/bitnami/kubectl:1.31'];
const MIRROR = 'registry.site.internal/ferry';

const INGRESS = `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - namespace.yaml
helmCharts:
  - name: ingress-nginx
    repo: https://kubernetes.github.io/ingress-nginx
    version: 4.15.1
    releaseName: ingress-nginx
    namespace: ingress-nginx
    valuesInline:
      controller:
        admissionWebhooks:
          enabled: false
  - name: nats
    repo: https://nats-io.github.io/k8s/helm/charts/
    version: 2.14.2
    releaseName: nats
    namespace: messaging
images:
  - name: registry.k8s.io/ingress-nginx/controller
    newTag: v1.15.1
`;

/** external-dns: chart without version (kustomize looks in charts/external-dns), a values file the inline values merge into. */
const DNS_BASE = `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
helmCharts:
  - name: external-dns
    releaseName: external-dns
    namespace: external-dns
    valuesFile: values.yaml
    valuesMerge: merge
    valuesInline:
      image:
        repository: quay.io/acme/not-used
        tag: v0.0.1
      provider:
        name: rfc2136
    additionalValuesFiles:
      - site-values.yaml
`;
const DNS_VALUES = `image:
  repository: registry.k8s.io/external-dns/external-dns
`;
const DNS_SITE_VALUES = `image:
  tag: v0.21.0
`;
const DNS_OVERLAY = `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../../base
images:
  - name: registry.k8s.io/external-dns/external-dns
    newName: docker.io/acme/external-dns
`;

async function writeRepo(root: string): Promise<void> {
  const files: Record<string, string> = {
    'apps/ingress-nginx.yaml': `apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: { name: ingress-nginx, namespace: argocd }
spec:
  project: default
  source:
    repoURL: https://git.site.internal/platform/fleet.git
    targetRevision: main
    path: infrastructure/ingress-nginx
  destination: { server: https://kubernetes.default.svc, namespace: ingress-nginx }
`,
    'infrastructure/ingress-nginx/kustomization.yaml': INGRESS,
    'infrastructure/ingress-nginx/namespace.yaml': 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ingress-nginx\n',
    'infrastructure/external-dns/base/kustomization.yaml': DNS_BASE,
    'infrastructure/external-dns/base/values.yaml': DNS_VALUES,
    'infrastructure/external-dns/base/site-values.yaml': DNS_SITE_VALUES,
    'infrastructure/external-dns/overlays/prod/kustomization.yaml': DNS_OVERLAY,
  };
  for (const [f, t] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(root, f)), { recursive: true });
    await writeFile(path.join(root, f), t);
  }
  // As `helm pull --untar --untardir charts/ingress-nginx-4.15.1` leaves it (repo and version written).
  await cp(path.join(CORPUS, 'ingress-nginx'), path.join(root, 'infrastructure/ingress-nginx/charts/ingress-nginx-4.15.1/ingress-nginx'), { recursive: true });
  await cp(path.join(CORPUS, 'external-dns'), path.join(root, 'infrastructure/external-dns/base/charts/external-dns'), { recursive: true });
}

async function audit(dir: string, extra: string[] = []): Promise<{ code: number; report: AuditReport }> {
  const r = await runFerry(['audit', dir, '--manifest', 'm.yaml', '--target', 't.yaml', '--format', 'json', ...extra], { cwd: work });
  return { code: r.code, report: JSON.parse(r.stdout) as AuditReport };
}
const rendered = (fs: Finding[], file: string) => fs.filter((f) => f.file === file && f.kind === 'image' && /as kustomize inflates/.test(f.provenance ?? ''));

beforeAll(async () => {
  work = await offlineWork('ferry-newuser31-', IMAGES);
}, 60_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('new user 31: a GitOps repository whose kustomizations inflate Helm charts', () => {
  it('audit renders a vendored chart as kustomize inflates it, applies images: to it, and calls an absent one unknown', async () => {
    const repo = path.join(work, 'audit');
    await writeRepo(repo);
    const { code, report } = await audit('audit', ['--fail-on', 'unmapped']);
    const ingress = 'audit/infrastructure/ingress-nginx/kustomization.yaml';
    // The controller the chart deploys, pulled as the kustomization's images: says (newTag drops the chart's digest).
    const ctl = rendered(report.findings, ingress);
    expect(ctl.map((f) => [f.value, f.class])).toEqual([[CONTROLLER, 'mirrored']]);
    expect(ctl[0].provenance).toContain('resource Deployment/ingress-nginx-controller');
    expect(ctl[0].provenance).toContain(`@sha256:594ceea76b01c592858f803f9ff4d2cb40542cae2060410b2c95f75907d659e1, pulled as ${ingress} images[0] says`);
    // valuesInline took the admission webhook (and its kube-webhook-certgen Jobs) away.
    expect(report.findings.some((f) => /kube-webhook-certgen/.test(f.value))).toBe(false);
    // The vendored chart's own files (changelog, README, CI values) are the chart, audited by its render.
    expect(report.findings.filter((f) => f.file.includes('/charts/'))).toEqual([]);
    // kustomize uses the vendored chart and never pulls from repo:.
    const repoRef = report.findings.find((f) => f.file === ingress && f.keyPath === 'helmCharts[0].repo')!;
    expect(repoRef.class).toBe('internal');
    expect(repoRef.note).toContain('vendored at audit/infrastructure/ingress-nginx/charts/ingress-nginx-4.15.1/ingress-nginx');
    // nats is not vendored: kustomize pulls it at build time; what it deploys is unknown, not clean.
    const nats = report.charts.find((c) => c.chart === 'nats')!;
    expect(nats.status).toBe('not-rendered');
    expect(nats.reason).toContain('not vendored at audit/infrastructure/ingress-nginx/charts/nats-2.14.2/nats');
    expect(nats.reason).toContain('helm pull --untar --untardir charts/nats-2.14.2 nats --repo https://nats-io.github.io/k8s/helm/charts/ --version 2.14.2');
    expect(report.summary.unrenderedCharts).toBe(1);
    expect(report.findings.find((f) => f.file === ingress && f.keyPath === 'helmCharts[1].repo')!.class).toBe('undeclared');
    expect(code).not.toBe(0);

    // external-dns: values.yaml (repository) merged over valuesInline (valuesMerge: merge, the file
    // wins), then site-values.yaml (tag); the base's chart at charts/external-dns (no version written).
    const base = 'audit/infrastructure/external-dns/base/kustomization.yaml';
    const dns = rendered(report.findings, base);
    // The overlay that includes the base renames it: pulled as the overlay says.
    expect(dns.map((f) => f.value)).toEqual(['docker.io/acme/external-dns:v0.21.0']);
    expect(dns[0].provenance).toContain(`${EXTERNAL_DNS}, pulled as audit/infrastructure/external-dns/overlays/prod/kustomization.yaml images[0] says`);
    expect(dns[0].class).toBe('undeclared');
    expect(report.charts.find((c) => c.chart === 'external-dns')).toMatchObject({ status: 'rendered', version: '1.21.1' });
  }, 120_000);

  it('a helmCharts entry whose chartHome, name or values file leads out of the kustomization is not followed', async () => {
    const dir = path.join(work, 'hostile');
    await mkdir(path.join(dir, 'a'), { recursive: true });
    await writeFile(
      path.join(dir, 'a/kustomization.yaml'),
      `helmGlobals:\n  chartHome: ../../..\nhelmCharts:\n  - name: etc\n`,
    );
    await mkdir(path.join(dir, 'b/charts/x'), { recursive: true });
    await writeFile(path.join(dir, 'b/charts/x/Chart.yaml'), 'apiVersion: v2\nname: x\nversion: 1.0.0\n');
    await writeFile(path.join(dir, 'b/kustomization.yaml'), `helmCharts:\n  - name: x\n    valuesFile: ../../../../../../etc/passwd\n  - name: ../x\n`);
    const { report } = await audit('hostile');
    const reasons = report.charts.map((c) => c.reason ?? '');
    expect(report.charts.map((c) => c.status)).toEqual(['not-rendered', 'not-rendered', 'not-rendered']);
    expect(reasons[0]).toContain('helmGlobals.chartHome "../../.." leads outside the kustomization\'s directory');
    expect(reasons[1]).toContain('valuesFile "../../../../../../etc/passwd" leads outside');
    expect(reasons[2]).toContain('no plain directory name');
  }, 60_000);

  it('rewrite manifests leaves the vendored chart as it is, points images: at the mirror, and audit then finds the inflated controller on the mirror', async () => {
    const repo = path.join(work, 'rewrite');
    await writeRepo(repo);
    const chartDir = path.join(repo, 'infrastructure/ingress-nginx/charts/ingress-nginx-4.15.1/ingress-nginx');
    const before = await Promise.all((await listTree(chartDir)).map((f) => readFile(path.join(chartDir, f), 'utf8').catch(() => '')));
    const r = await runFerry(['rewrite', 'manifests', 'rewrite', '-t', 't.yaml', '--lock', 'm.lock.json', '--allow-unmapped'], { cwd: work });
    expect(r.stderr + r.stdout).not.toContain('not valid YAML');
    expect(r.code).toBe(0);
    // Only nats (not vendored, not carried) is left unmapped; the vendored ingress-nginx repo is not demanded.
    expect(r.stdout + r.stderr).toContain('chart nats 2.14.2');
    expect(r.stdout + r.stderr).not.toContain('chart ingress-nginx 4.15.1 from');
    const after = await Promise.all((await listTree(chartDir)).map((f) => readFile(path.join(chartDir, f), 'utf8').catch(() => '')));
    expect(after).toEqual(before);
    const k = await readFile(path.join(repo, 'infrastructure/ingress-nginx/kustomization.yaml'), 'utf8');
    const images = (parseAllDocuments(k)[0].toJS() as { images: Array<Record<string, string>> }).images;
    expect(images).toEqual([{ name: 'registry.k8s.io/ingress-nginx/controller', newName: `${MIRROR}/registry.k8s.io/ingress-nginx/controller`, newTag: 'v1.15.1' }]);
    const { report } = await audit('rewrite');
    const ctl = rendered(report.findings, 'rewrite/infrastructure/ingress-nginx/kustomization.yaml');
    expect(ctl.map((f) => [f.value, f.class])).toEqual([[`${MIRROR}/registry.k8s.io/ingress-nginx/controller:v1.15.1`, 'internal']]);
  }, 120_000);
});
