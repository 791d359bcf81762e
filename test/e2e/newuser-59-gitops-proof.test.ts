import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, parseAllDocuments, stringify as stringifyYaml } from 'yaml';
import { packageChart, startStaticServer, writeHelmLayout, writeRepoIndex, type StaticServer } from '../support/chart-repo.js';
import { deploymentChart, lockBundleImport } from '../support/gitops-charts.js';
import { mustRun, mustRunFerry, runFerry } from '../support/cli.js';
import { gitopsTreeProblems } from '../support/gitops-validate.js';
import { BASE_FILES, pushLayoutImage, writeOciLayout } from '../support/images.js';
import { skopeoEnv, startRegistry, type RunningRegistry } from '../support/registry.js';

/**
 * newuser59: a GitOps repository (an Argo CD Application with `valuesObject`, one with a `values`
 * string from an OCI source, a Flux HelmRelease from an OCIRepository, a k3s HelmChart) installing
 * charts whose own defaults name images in three registries; lock, bundle create, import into a
 * Distribution registry and a charts.dir served by nginx; `rewrite manifests --bundle`, then the
 * proof the README gives: `audit --bundle --fail-on unmapped` and `charts images oci://<mirror>/…
 * --version … -f <the object's values>`. And oc-mirror: an ImageSetConfiguration chart with
 * `imagePaths`, converted, locked, bundled, imported: the image at that path is on the mirror.
 *
 * What tripped: after the rewrite, the audit reported the address inside the mirror path ferry itself
 * wrote (`<mirror>/mirror/10.1.2.3-5000`, the nested place of a registry at an IP address) as a host,
 * so `--fail-on unmapped` failed on a repository with nothing going out; and `charts images` given
 * the chart reference `ferry map` prints (no `oci://`) said only "no such chart directory".
 */
let work: string;
const regs: RunningRegistry[] = [];
let site: RunningRegistry;
let repo: StaticServer;
let siteCharts: StaticServer;
let SITE: string;
let U1: string;
let U2: string;
let U3: string;
let repoUrl: string;
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRIES: '0', FERRY_RETRY_MIN_MS: '10' });
const ferry = (args: string[], cwd = work) => mustRunFerry(args, { cwd, env: env() });
const nested = (u: string) => `${SITE}/mirror/${u.replace(':', '-')}`;

type Finding = { class: string; kind: string; value: string; file?: string; line?: number; keyPath?: string };
async function audit(dir: string, failOn = true): Promise<{ code: number; findings: Finding[]; stderr: string }> {
  const r = await runFerry(['audit', dir, '--bundle', 'gitops.ferry.tar', '-t', 'site.yaml', '--json', ...(failOn ? ['--fail-on', 'unmapped'] : [])], { cwd: work, env: env() });
  expect(r.code === 0 || r.code === 5, r.stderr).toBe(true);
  return { code: r.code, findings: (JSON.parse(r.stdout) as { findings: Finding[] }).findings, stderr: r.stderr };
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-nu59-'));
  for (let i = 0; i < 3; i++) regs.push(await startRegistry({ mode: 'http' }));
  site = await startRegistry({ mode: 'http' });
  [U1, U2, U3] = regs.map((r) => r.host);
  SITE = `localhost:${site.host.split(':')[1]}`;
  const images: Array<[RunningRegistry, string]> = [
    [regs[0], 'acme/web:1.0'],
    [regs[1], 'lib/sidecar:1.0'],
    [regs[2], 'team/api:1.0'],
    [regs[1], 'team/worker:1.0'],
    [regs[2], 'ops/agent:2.0'],
    [regs[1], 'ops/init:1.0'],
    [regs[2], 'rancher/klipper-helm:v0.9.4'],
    [regs[0], 'ops/operand:3.1'],
  ];
  const layout = path.join(work, 'imgs');
  await writeOciLayout(layout, images.map((_, i) => ({ name: `i${i}`, platforms: [{ architecture: 'amd64', layers: [{ files: BASE_FILES }, { files: { [`app/i${i}`]: `i${i}` } }] }] })));
  for (const [i, [reg, ref]] of images.entries()) await pushLayoutImage(reg, layout, `i${i}`, ref);

  const web = await deploymentChart(
    work,
    'web',
    '1.2.0',
    `image:\n  registry: ${U1}\n  repository: acme/web\n  tag: "1.0"\nsidecar:\n  enabled: false\n  image: ${U2}/lib/sidecar:1.0\n`,
    `        - name: web\n          image: "{{ .Values.image.registry }}/{{ .Values.image.repository }}:{{ .Values.image.tag }}"\n{{- if .Values.sidecar.enabled }}\n        - name: sidecar\n          image: {{ .Values.sidecar.image | quote }}\n{{- end }}\n`,
  );
  const api = await deploymentChart(
    work,
    'api',
    '0.5.0',
    `image:\n  repository: ${U3}/team/api\n  tag: "1.0"\nworker:\n  image:\n    repository: ${U2}/team/worker\n    tag: "1.0"\n`,
    `        - name: api\n          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"\n        - name: worker\n          image: "{{ .Values.worker.image.repository }}:{{ .Values.worker.image.tag }}"\n`,
  );
  const agent = await deploymentChart(
    work,
    'agent',
    '0.3.0',
    `global:\n  imageRegistry: ""\nagent:\n  image: { registry: ${U3}, repository: ops/agent, tag: "2.0" }\ninit:\n  image: { registry: ${U2}, repository: ops/init, tag: "1.0" }\n`,
    `        - name: agent\n          image: "{{ default .Values.agent.image.registry .Values.global.imageRegistry }}/{{ .Values.agent.image.repository }}:{{ .Values.agent.image.tag }}"\n        - name: init\n          image: "{{ default .Values.init.image.registry .Values.global.imageRegistry }}/{{ .Values.init.image.repository }}:{{ .Values.init.image.tag }}"\n`,
  );
  // An operator chart handing its operand over in a custom resource field no image rule reads.
  const op = path.join(work, 'src', 'op');
  await mkdir(path.join(op, 'templates'), { recursive: true });
  await writeFile(path.join(op, 'Chart.yaml'), 'apiVersion: v2\nname: op\nversion: 1.0.0\n');
  await writeFile(path.join(op, 'values.yaml'), `operand:\n  location: ${U1}/ops/operand:3.1\n`);
  await writeFile(path.join(op, 'templates', 'cr.yaml'), 'apiVersion: example.com/v1\nkind: Engine\nmetadata: { name: {{ .Release.Name }} }\nspec:\n  artifact:\n    location: {{ .Values.operand.location }}\n');

  const stable = path.join(work, 'repo', 'stable');
  await writeRepoIndex(stable, [await packageChart(web, stable), await packageChart(agent, stable), await packageChart(op, stable)]);
  repo = await startStaticServer(path.join(work, 'repo'));
  repoUrl = `${repo.url}/stable`;
  await writeHelmLayout(path.join(work, 'hl'), await packageChart(api, path.join(work, 'oci')), 'api');
  await mustRun('skopeo', ['copy', '--dest-tls-verify=false', `oci:${path.join(work, 'hl')}:api`, `docker://${U1}/charts/api:0.5.0`], { env: skopeoEnv() });
  await mkdir(path.join(work, 'site-charts'));
  siteCharts = await startStaticServer(path.join(work, 'site-charts'));

  await mkdir(path.join(work, 'values'));
  await writeFile(path.join(work, 'values', 'web.yaml'), 'sidecar:\n  enabled: true\n');
  await writeFile(
    path.join(work, 'manifest.yaml'),
    [
      'apiVersion: ferry/v1alpha1',
      'kind: Manifest',
      'metadata: { name: gitops }',
      'images:',
      `  - ref: ${U3}/rancher/klipper-helm:v0.9.4`,
      'charts:',
      `  - { name: web, repo: "${repoUrl}", version: "1.2.x", values: [values/web.yaml] }`,
      `  - { name: api, repo: "oci://${U1}/charts", version: "0.5.0" }`,
      `  - { name: agent, repo: "${repoUrl}", version: "0.3.0" }`,
      '',
    ].join('\n'),
  );
  const app = (name: string, source: string[]) =>
    ['apiVersion: argoproj.io/v1alpha1', 'kind: Application', 'metadata:', `  name: ${name}`, '  namespace: argocd', 'spec:', '  project: default', '  source:', ...source, `  destination: { server: https://kubernetes.default.svc, namespace: ${name} }`, ''].join('\n');
  const tree: Record<string, string> = {
    'argo/web.yaml': app('web', [`    repoURL: ${repoUrl}`, '    chart: web', '    targetRevision: 1.2.0', '    helm:', '      # turn the sidecar on', '      valuesObject:', '        sidecar:', '          enabled: true']),
    'argo/api.yaml': app('api', [`    repoURL: ${U1}/charts`, '    chart: api', '    targetRevision: 0.5.0', '    helm:', '      values: |', '        # replicas', '        replicaCount: 2']),
    'flux/api.yaml': [
      'apiVersion: source.toolkit.fluxcd.io/v1beta2',
      'kind: OCIRepository',
      'metadata: { name: api, namespace: flux-system }',
      'spec:',
      '  interval: 10m',
      `  url: oci://${U1}/charts/api`,
      '  ref: { tag: 0.5.0 }',
      '---',
      'apiVersion: helm.toolkit.fluxcd.io/v2',
      'kind: HelmRelease',
      'metadata: { name: api2, namespace: flux-system }',
      'spec:',
      '  interval: 10m',
      '  chartRef: { kind: OCIRepository, name: api }',
      '  values:',
      '    replicaCount: 3',
      '',
    ].join('\n'),
    'k3s/agent.yaml': [
      'apiVersion: helm.cattle.io/v1',
      'kind: HelmChart',
      'metadata: { name: agent, namespace: kube-system }',
      'spec:',
      `  repo: ${repoUrl}`,
      '  chart: agent',
      '  version: 0.3.0',
      '  targetNamespace: agent',
      `  jobImage: ${U3}/rancher/klipper-helm:v0.9.4`,
      '  valuesContent: |-',
      '    agent:',
      '      image:',
      '        tag: "2.0"',
      '',
    ].join('\n'),
  };
  for (const [f, text] of Object.entries(tree)) {
    await mkdir(path.dirname(path.join(work, 'gitops', f)), { recursive: true });
    await writeFile(path.join(work, 'gitops', f), text);
  }
  await lockBundleImport(work, SITE, siteCharts.port, (args) => ferry(args));
}, 300_000);

afterAll(async () => {
  await repo?.stop();
  await siteCharts?.stop();
  for (const r of regs) await r.stop();
  await site?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('newuser59: GitOps objects whose charts name images in three registries, moved and proven', () => {
  it('rewrite manifests --bundle puts every source and chart default on the mirror; audit --bundle --fail-on unmapped passes with no host read out of a mirror path', async () => {
    const before = await audit('gitops', false);
    expect(before.findings.filter((f) => f.class === 'undeclared').map((f) => f.value).sort()).toEqual(
      [`${U1}/charts`, `oci://${U1}/charts/api`, repoUrl, repoUrl].sort(),
    );
    await ferry(['rewrite', 'manifests', 'gitops', '-t', 'site.yaml', '--bundle', 'gitops.ferry.tar']);
    const webValues = (parseYaml(await readFile(path.join(work, 'gitops/argo/web.yaml'), 'utf8')) as { spec: { source: { helm: { valuesObject: Record<string, any> } } } }).spec.source.helm.valuesObject;
    expect(webValues.image.registry).toBe(nested(U1));

    const after = await audit('gitops');
    expect(after.code, after.stderr).toBe(0);
    const rendered = after.findings.filter((f) => f.kind === 'image' && f.keyPath?.startsWith('spec.template.spec.containers'));
    expect(rendered).toHaveLength(8);
    for (const f of rendered) expect(f.value.startsWith(`${SITE}/mirror/`), f.value).toBe(true);
    // The registry and repository values written into the objects name the mirror; the upstream's
    // address inside their path (`…/mirror/127.0.0.1-44105`) is no host of its own.
    expect(after.findings.filter((f) => f.kind === 'host' && f.value === '127.0.0.1')).toEqual([]);
    // A registry at a routable address: its nested place on the mirror is internal too, not an undeclared host.
    await mkdir(path.join(work, 'by-ip'));
    await writeFile(
      path.join(work, 'by-ip', 'app.yaml'),
      (await readFile(path.join(work, 'gitops/argo/web.yaml'), 'utf8')).replace(`registry: ${nested(U1)}`, `registry: ${SITE}/mirror/10.1.2.3-5000`),
    );
    const byIp = await audit('by-ip');
    expect(byIp.findings.filter((f) => f.value === '10.1.2.3')).toEqual([]);
    expect(byIp.code, byIp.stderr).toBe(0);
  });

  it("charts images oci://<mirror>/… --version … -f <the object's values>: every certain image names the mirror, and the mirror holds it", async () => {
    const read = (f: string) => readFile(path.join(work, 'gitops', f), 'utf8');
    // The edited objects stay valid for their controllers (Argo CD's and Flux's published schemas).
    const schema = await gitopsTreeProblems(path.join(work, 'gitops'));
    expect(schema.problems).toEqual([]);
    expect(schema.judged).toBeGreaterThan(0);
    const argoApi = (parseYaml(await read('argo/api.yaml')) as { spec: { source: { repoURL: string; helm: { values: string } } } }).spec.source;
    const flux = parseAllDocuments(await read('flux/api.yaml')).map((d) => d.toJS() as { spec: { url?: string; values?: unknown } });
    const k3s = parseYaml(await read('k3s/agent.yaml')) as { spec: { valuesContent: string; jobImage: string } };
    expect(k3s.spec.jobImage).toBe(`${nested(U3)}/rancher/klipper-helm:v0.9.4`);
    const webObj = (parseYaml(await read('argo/web.yaml')) as { spec: { source: { helm: { valuesObject: unknown } } } }).spec.source.helm.valuesObject;
    await writeFile(path.join(work, 'web.values.yaml'), stringifyYaml(webObj));
    await writeFile(path.join(work, 'api.values.yaml'), argoApi.helm.values);
    await writeFile(path.join(work, 'api2.values.yaml'), stringifyYaml(flux[1].spec.values));
    await writeFile(path.join(work, 'agent.values.yaml'), k3s.spec.valuesContent);
    const checks: Array<[string, string, string]> = [
      [`oci://${nested(repo.url.replace('http://', ''))}/stable/web`, '1.2.0', 'web.values.yaml'],
      [`oci://${argoApi.repoURL}/api`, '0.5.0', 'api.values.yaml'],
      [flux[0].spec.url!, '0.5.0', 'api2.values.yaml'],
      [`oci://${nested(repo.url.replace('http://', ''))}/stable/agent`, '0.3.0', 'agent.values.yaml'],
    ];
    for (const [ref, version, values] of checks) {
      const r = await ferry(['charts', 'images', ref, '--version', version, '-f', values, '--json']);
      const certain = (JSON.parse(r.stdout) as { charts: Array<{ images: Array<{ ref: string; certainty: string }> }> }).charts[0].images
        .filter((i) => i.certainty === 'certain')
        .map((i) => i.ref);
      expect(certain, ref).toHaveLength(2);
      for (const image of certain) {
        expect(image.startsWith(`${SITE}/mirror/`), image).toBe(true);
        await mustRun('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${image}`], { env: skopeoEnv() });
      }
    }
  });

  it('the chart reference ferry map prints, given without oci://, is refused with the oci:// form to write', async () => {
    const map = await ferry(['map', 'gitops.ferry.tar', '--target', 'site.yaml']);
    const printed = new RegExp(`(${SITE.replace('.', '\\.')}/mirror/\\S+/api):0\\.5\\.0`).exec(map.stdout);
    expect(printed, map.stdout).not.toBeNull();
    const r = await runFerry(['charts', 'images', `${printed![1]}:0.5.0`], { cwd: work, env: env() });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`oci://${printed![1]} --version 0.5.0`);
    const rc = await runFerry(['rewrite', 'chart', `${printed![1]}:0.5.0`, '-t', 'site.yaml', '--bundle', 'gitops.ferry.tar', '-o', 'x.yaml'], { cwd: work, env: env() });
    expect(rc.code).toBe(2);
    expect(rc.stderr).toContain(`oci://${printed![1]} --version 0.5.0`);
  });

  it('oc-mirror: a repository chart with imagePaths, converted, locked, bundled and imported: the image at that path is on the mirror', async () => {
    const dir = path.join(work, 'ocm');
    await mkdir(dir);
    await writeFile(
      path.join(dir, 'imageset-config.yaml'),
      [
        'kind: ImageSetConfiguration',
        'apiVersion: mirror.openshift.io/v2alpha1',
        'mirror:',
        '  helm:',
        '    repositories:',
        '      - name: stable',
        `        url: ${repoUrl}`,
        '        charts:',
        '          - name: op',
        '            version: 1.0.0',
        '            imagePaths:',
        '              - "{.spec.artifact.location}"',
        '',
      ].join('\n'),
    );
    await ferry(['convert', 'oc-mirror', 'imageset-config.yaml', '-o', 'manifest.yaml'], dir);
    await ferry(['lock', 'manifest.yaml'], dir);
    const lock = JSON.parse(await readFile(path.join(dir, 'imageset-config.lock.json'), 'utf8')) as { charts: Array<{ name: string; imagePathImages?: string[] }> };
    expect(lock.charts.find((c) => c.name === 'op')?.imagePathImages).toEqual([`${U1}/ops/operand:3.1`]);
    await ferry(['bundle', 'create', 'manifest.yaml', '-o', 'ocm.ferry.tar'], dir);
    await ferry(['import', 'ocm.ferry.tar', '--target', '../site.yaml'], dir);
    await mustRun('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${nested(U1)}/ops/operand:3.1`], { env: skopeoEnv() });
  });
});
