import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { type StaticServer } from '../support/chart-repo.js';
import { serveDefaultImageCharts } from '../support/gitops-charts.js';
import { mustRun, mustRunFerry, runFerry } from '../support/cli.js';
import { gitopsTreeProblems } from '../support/gitops-validate.js';
import { BASE_FILES, pushLayoutImage, writeOciLayout } from '../support/images.js';
import { skopeoEnv, startRegistry, type RunningRegistry } from '../support/registry.js';

/**
 * newuser53: a GitOps repository (Argo CD Applications, Flux HelmRepository/OCIRepository/
 * HelmRelease, a kustomize overlay's `images:`) installing two charts, `web` from an HTTP chart
 * repository (nginx) and `api` from an OCI registry, both deploying images through their own
 * default values. Carried with lock, bundle create, import into a registry that holds the OCI
 * charts and into charts.dir served by nginx; then `rewrite manifests` and the README's step for
 * the images the charts deploy themselves: `rewrite chart` on the mirror's copy of each chart
 * with the object's values, the override merged into the object's values, and `charts images`
 * of the mirror's chart with those values as the proof.
 *
 * What tripped: the README's GitOps paragraph stopped at `rewrite manifests`, which moves the
 * chart sources and the images written in the objects, never the images a chart's defaults name
 * (nothing said so); and `rewrite chart oci://…` (the reference the rewritten object names)
 * answered only "no such chart directory or archive", with nothing to do.
 */
let work: string;
let up: RunningRegistry;
let site: RunningRegistry;
let repo: StaticServer;
let siteCharts: StaticServer;
let SITE: string; // the mirror registry as the target names it (localhost:<port>)
let U: string; // the upstream registry (127.0.0.1:<port>)
let repoUrl: string;
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRIES: '0', FERRY_RETRY_MIN_MS: '10' });
const ferry = (args: string[]) => mustRunFerry(args, { cwd: work, env: env() });
const mirrorOf = (p: string) => `${SITE}/mirror/${U.replace(':', '-')}/${p}`;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-nu53-'));
  up = await startRegistry({ mode: 'http' });
  site = await startRegistry({ mode: 'http' });
  U = up.host;
  SITE = `localhost:${site.host.split(':')[1]}`;
  const layout = path.join(work, 'imgs');
  const names = ['web', 'api', 'sidecar', 'worker', 'kustom'];
  await writeOciLayout(layout, names.map((n) => ({ name: n, platforms: [{ architecture: 'amd64', layers: [{ files: BASE_FILES }, { files: { [`app/${n}`]: n } }] }] })));
  for (const n of names) await pushLayoutImage(up, layout, n, `acme/${n}:1.0`);

  ({ repo, repoUrl, siteCharts } = await serveDefaultImageCharts(work, U));

  await mkdir(path.join(work, 'values'));
  await writeFile(path.join(work, 'values', 'web.yaml'), 'sidecar:\n  enabled: true\n');
  await writeFile(
    path.join(work, 'manifest.yaml'),
    [
      'apiVersion: ferry/v1alpha1',
      'kind: Manifest',
      'metadata: { name: gitops }',
      'images:',
      `  - ref: ${U}/acme/kustom:1.0`,
      'charts:',
      `  - { name: web, repo: "${repoUrl}", version: "1.2.x", values: [values/web.yaml] }`,
      `  - { name: api, repo: "oci://${U}/charts", version: "0.5.0" }`,
      '',
    ].join('\n'),
  );
  await writeFile(
    path.join(work, 'site.yaml'),
    [
      'apiVersion: ferry/v1alpha1',
      'kind: MirrorTarget',
      'metadata: { name: site }',
      'registry:',
      `  url: http://${SITE}`,
      '  prefix: mirror',
      `charts: { dir: ./site-charts, baseUrl: "http://localhost:${siteCharts.port}" }`,
      '',
    ].join('\n'),
  );
  const files: Record<string, string> = {
    'apps/argo/web.yaml': `apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: { name: web, namespace: argocd }\nspec:\n  project: default\n  source:\n    repoURL: ${repoUrl}\n    chart: web\n    targetRevision: 1.2.0\n    helm:\n      valuesObject:\n        sidecar:\n          enabled: true\n  destination: { server: https://kubernetes.default.svc, namespace: web }\n`,
    'apps/argo/api.yaml': `apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: { name: api, namespace: argocd }\nspec:\n  project: default\n  source:\n    repoURL: ${U}/charts\n    chart: api\n    targetRevision: 0.5.0\n  destination: { server: https://kubernetes.default.svc, namespace: api }\n`,
    'apps/flux/sources.yaml': `apiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata: { name: stable, namespace: flux-system }\nspec:\n  interval: 10m\n  url: ${repoUrl}\n---\napiVersion: source.toolkit.fluxcd.io/v1beta2\nkind: OCIRepository\nmetadata: { name: api-chart, namespace: flux-system }\nspec:\n  interval: 10m\n  url: oci://${U}/charts/api\n  ref:\n    tag: 0.5.0\n`,
    'apps/flux/releases.yaml': `apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: { name: web, namespace: flux-system }\nspec:\n  interval: 10m\n  chart:\n    spec:\n      chart: web\n      version: 1.2.x\n      sourceRef: { kind: HelmRepository, name: stable }\n  values:\n    sidecar:\n      enabled: true\n---\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: { name: api, namespace: flux-system }\nspec:\n  interval: 10m\n  chartRef: { kind: OCIRepository, name: api-chart }\n  values:\n    worker:\n      image:\n        repository: ${U}/acme/worker\n        tag: "1.0"\n`,
    'base/deploy.yaml': 'apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: kustom }\nspec:\n  selector: { matchLabels: { app: kustom } }\n  template:\n    metadata: { labels: { app: kustom } }\n    spec:\n      containers:\n        - name: kustom\n          image: acme/kustom\n',
    'base/kustomization.yaml': 'resources: [deploy.yaml]\n',
    'overlays/prod/kustomization.yaml': `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [../../base]\nimages:\n  - name: acme/kustom\n    newName: ${U}/acme/kustom\n    newTag: "1.0"\n`,
  };
  for (const [f, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(work, 'gitops', f)), { recursive: true });
    await writeFile(path.join(work, 'gitops', f), text);
  }
  await ferry(['lock', 'manifest.yaml']);
  await ferry(['bundle', 'create', 'manifest.yaml', '-o', 'gitops.ferry.tar']);
  await ferry(['import', 'gitops.ferry.tar', '--target', 'site.yaml']);
}, 240_000);

afterAll(async () => {
  await repo?.stop();
  await siteCharts?.stop();
  await up?.stop();
  await site?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

/** The images `charts images` finds in `chart` with these values files, certain ones. */
async function certainImages(chart: string, values: string[]): Promise<string[]> {
  const r = await ferry(['charts', 'images', chart, ...values.flatMap((v) => ['-f', v]), '--json']);
  const report = JSON.parse(r.stdout) as { charts: Array<{ images: Array<{ ref: string; certainty: string }> }> };
  return report.charts.flatMap((c) => c.images.filter((i) => i.certainty === 'certain').map((i) => i.ref)).sort();
}

describe('newuser53: a GitOps repository moved to the mirror, its charts proved from the mirror', () => {
  it('rewrite manifests points every source at the mirror; the rewritten repository audits with nothing going out', async () => {
    const before = await runFerry(['audit', 'gitops', '--manifest', 'manifest.yaml', '-t', 'site.yaml', '--fail-on', 'unmapped'], { cwd: work, env: env() });
    expect(before.code, before.stdout).toBe(5);
    const rewrote = await ferry(['rewrite', 'manifests', 'gitops', '-t', 'site.yaml', '--lock', 'gitops.lock.json']);
    // The charts' own default images are moved in the objects' values too (gitops-chart-defaults.test.ts): nothing left to warn about.
    expect(rewrote.stderr).not.toMatch(/not checked or moved|were not moved/);
    const read = (f: string) => readFile(path.join(work, 'gitops', f), 'utf8');
    // The edited objects stay valid for their controllers (Argo CD's and Flux's published schemas).
    const schema = await gitopsTreeProblems(path.join(work, 'gitops'));
    expect(schema.problems).toEqual([]);
    expect(schema.judged).toBeGreaterThan(0);
    expect(await read('apps/argo/web.yaml')).toContain(`repoURL: http://localhost:${siteCharts.port}\n`);
    expect(await read('apps/argo/api.yaml')).toContain(`repoURL: ${mirrorOf('charts')}\n`);
    expect(await read('apps/flux/sources.yaml')).toContain(`url: oci://${mirrorOf('charts/api')}\n`);
    expect(await read('overlays/prod/kustomization.yaml')).toContain(`newName: ${mirrorOf('acme/kustom')}\n`);
    const after = await runFerry(['audit', 'gitops', '--manifest', 'manifest.yaml', '-t', 'site.yaml', '--fail-on', 'unmapped', '--json'], { cwd: work, env: env() });
    const findings = (JSON.parse(after.stdout) as { findings: Array<{ class: string; value: string }> }).findings;
    expect(findings.filter((f) => f.class === 'undeclared'), after.stderr).toEqual([]);
    expect(after.code).toBe(0);
  });

  it("the images each chart's defaults name: rewrite chart on the mirror's copy with the object's values gives the override that puts every image on the mirror", async () => {
    // The HTTP chart as Argo CD / Flux fetch it from the mirror: index.yaml on charts.dir's nginx, then its url.
    const index = parseYaml(await (await fetch(`${siteCharts.url}/index.yaml`)).text()) as { entries: Record<string, Array<{ version: string; urls: string[] }>> };
    const webUrl = index.entries.web.find((e) => e.version === '1.2.0')!.urls[0];
    const webTgz = path.join(work, 'web-1.2.0.tgz');
    await writeFile(webTgz, Buffer.from(await (await fetch(webUrl.replace(`localhost:${siteCharts.port}`, `127.0.0.1:${siteCharts.port}`))).arrayBuffer()));
    // The OCI chart from the mirror registry, as the rewritten OCIRepository names it (rendered from there below, and pulled here to compare).
    const apiRef = mirrorOf('charts/api:0.5.0');
    const pulled = path.join(work, 'api-pulled');
    await mustRun('skopeo', ['copy', '--src-tls-verify=false', `docker://${site.host}/mirror/${U.replace(':', '-')}/charts/api:0.5.0`, `oci:${pulled}:api`], { env: skopeoEnv() });
    const idx = JSON.parse(await readFile(path.join(pulled, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
    const blob = (d: string) => path.join(pulled, 'blobs', 'sha256', d.slice(7));
    const m = JSON.parse(await readFile(blob(idx.manifests[0].digest), 'utf8')) as { layers: Array<{ mediaType: string; digest: string }> };
    const apiTgz = path.join(work, 'api-0.5.0.tgz');
    await writeFile(apiTgz, await readFile(blob(m.layers.find((l) => l.mediaType === 'application/vnd.cncf.helm.chart.content.v1.tar+gzip')!.digest)));

    // Each object's values as a file (Argo CD's helm.valuesObject, Flux's spec.values).
    const objects = parseYaml(await readFile(path.join(work, 'gitops/apps/argo/web.yaml'), 'utf8')) as { spec: { source: { helm: { valuesObject: unknown } } } };
    await writeFile(path.join(work, 'argo-web.values.yaml'), JSON.stringify(objects.spec.source.helm.valuesObject));
    const fluxApi = (await readFile(path.join(work, 'gitops/apps/flux/releases.yaml'), 'utf8')).split('\n---\n')[1];
    await writeFile(path.join(work, 'flux-api.values.yaml'), JSON.stringify((parseYaml(fluxApi) as { spec: { values: unknown } }).spec.values));

    // rewrite manifests already merged what the charts' defaults name into the objects' values: the mirror's charts run only mirror images with them.
    expect(await certainImages(webTgz, ['argo-web.values.yaml'])).toEqual([`${mirrorOf('acme/sidecar')}:1.0`, `${mirrorOf('acme/web')}:1.0`]);
    expect(await certainImages(apiTgz, ['flux-api.values.yaml'])).toEqual([`${mirrorOf('acme/api')}:1.0`, `${mirrorOf('acme/worker')}:1.0`]);

    await ferry(['rewrite', 'chart', webTgz, '-f', 'argo-web.values.yaml', '-t', 'site.yaml', '--lock', 'gitops.lock.json', '-o', 'web.override.yaml']);
    await ferry(['rewrite', 'chart', apiTgz, '-f', 'flux-api.values.yaml', '-t', 'site.yaml', '--lock', 'gitops.lock.json', '-o', 'api.override.yaml']);
    // The same chart named as the OCIRepository names it on the mirror: fetched, verified, the same override.
    await ferry(['rewrite', 'chart', `oci://${apiRef}`, '-f', 'flux-api.values.yaml', '-t', 'site.yaml', '--lock', 'gitops.lock.json', '-o', 'api-direct.override.yaml']);
    expect(await readFile(path.join(work, 'api-direct.override.yaml'), 'utf8')).toBe(await readFile(path.join(work, 'api.override.yaml'), 'utf8'));
    expect(await certainImages(webTgz, ['argo-web.values.yaml', 'web.override.yaml'])).toEqual([`${mirrorOf('acme/sidecar')}:1.0`, `${mirrorOf('acme/web')}:1.0`]);
    expect(await certainImages(apiTgz, ['flux-api.values.yaml', 'api.override.yaml'])).toEqual([`${mirrorOf('acme/api')}:1.0`, `${mirrorOf('acme/worker')}:1.0`]);
    // Every one of them is on the mirror registry (skopeo, an independent client).
    for (const n of ['web', 'sidecar', 'api', 'worker']) {
      await mustRun('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${site.host}/mirror/${U.replace(':', '-')}/acme/${n}:1.0`], { env: skopeoEnv() });
    }
  });
});
