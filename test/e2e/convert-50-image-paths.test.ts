import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../support/cli.js';
import { packageChart, startStaticServer, writeRepoIndex, type StaticServer } from '../support/chart-repo.js';
import { writeTree } from '../support/convert-output.js';
import { pushLayoutImage, writeOciLayout } from '../support/images.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';

/**
 * convert50: an oc-mirror repository chart's `imagePaths` (oc-mirror's docs: "imagePaths:
 * - {.spec.template.spec.containers[*].env[*].value}") become the chart entry's `imagePaths:`,
 * and `ferry lock` reads them in the chart it renders: a chart served by a real nginx whose
 * operator hands an image over in a custom resource field no image rule names, the image in a
 * real registry. A path ferry does not evaluate is named at convert and refused in a manifest.
 *
 * The sweep, field → outcome, against the upstream types (openshift/oc-mirror
 * internal/pkg/api/v2alpha1 and v1/pkg/api/v1alpha2, hauler-dev/hauler pkg/apis/hauler.cattle.io/v1,
 * helmfile/helmfile pkg/state ReleaseSpec/HelmSpec/RepositorySpec, zarf-dev/zarf src/api/v1alpha1 and
 * v1beta1). converted = in the manifest; named = in the report (not carried / carried differently);
 * quiet = deploy-time only, carries nothing.
 *
 * | format    | field                                                    | outcome                                  |
 * |-----------|----------------------------------------------------------|------------------------------------------|
 * | oc-mirror | additionalImages name, platforms                         | converted (images ref, platforms)        |
 * | oc-mirror | additionalImages targetRepo/targetTag                    | named (the target's mapping)             |
 * | oc-mirror | operators catalog, platforms                             | converted (catalog image)                |
 * | oc-mirror | operators packages/channels/min/maxVersion, full         | named (bundles not resolved)             |
 * | oc-mirror | operators targetCatalog/targetTag/targetName/template    | named                                    |
 * | oc-mirror | helm.repositories url/name, charts name/version          | converted (charts)                       |
 * | oc-mirror | helm.repositories charts imagePaths                      | converted (chart imagePaths) — convert50 |
 * | oc-mirror | helm.repositories charts platforms/path                  | named                                    |
 * | oc-mirror | helm.local name/path/imagePaths/platforms                | converted (rendered images)              |
 * | oc-mirror | helm / repository unknown keys                           | named — convert50                        |
 * | oc-mirror | platform (channels, release, graph, kubeVirtContainer)   | named                                    |
 * | oc-mirror | blockedImages                                            | applied to the above, named              |
 * | oc-mirror | archiveSize, storageConfig, samples                      | named                                    |
 * | hauler    | Images name/platform/key/exclude-extras                  | converted                                |
 * | hauler    | Images keyless, tlog, rewrite, local, TLS fields         | named                                    |
 * | hauler    | Charts name/repoURL/version/valuesFiles                  | converted                                |
 * | hauler    | Charts add-images/add-dependencies not true              | named (ferry carries more) — convert50   |
 * | hauler    | Charts rewrite/platform/exclude-extras/verify/keyring/creds/TLS | named                             |
 * | hauler    | Files path/name; TLS fields                              | converted; named                         |
 * | helmfile  | release chart/version/values/installed/kubeVersion       | converted                                |
 * | helmfile  | release set/setString/secrets/…Template/patches/hooks    | named                                    |
 * | helmfile  | release devel                                            | named — convert50                        |
 * | helmfile  | release wait/atomic/trackMode/kubedogQPS/deleteWait… | quiet (deploy only) — convert50 (were "unknown") |
 * | helmfile  | helmDefaults args/postRenderer/templateArgs              | named                                    |
 * | helmfile  | helmDefaults verify/keyring/insecureSkipTLSVerify/plainHttp/devel | named — convert50               |
 * | zarf      | images, charts (url/helmRepository/oci/local), files     | converted                                |
 * | zarf      | repos, manifests, actions, dataInjections, imageArchives, chart variables/values | named            |
 * | zarf      | only.localOS, only.cluster.distros, chart namespace/releaseName, file target/symlinks | quiet (README Known limits) |
 */

let work: string;
let repo: StaticServer;
let reg: RunningRegistry;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-convert50-'));
  const stable = path.join(work, 'repo');
  await mkdir(stable, { recursive: true });
  [repo, reg] = await Promise.all([startStaticServer(stable), startRegistry({ mode: 'http' })]);
  // The operator's own image in its container; the plugin it runs only in a custom resource's spec.artifact.location.
  const src = await writeTree(path.join(work, 'src', 'operator'), {
    'Chart.yaml': 'apiVersion: v2\nname: operator\nversion: 1.0.0\n',
    'values.yaml': `manager: ${reg.host}/acme/manager:2.1.0\nplugin:\n  location: ${reg.host}/acme/plugin:1.4.0\n  logLevel: debug\n`,
    'templates/deployment.yaml':
      'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: manager\nspec:\n  template:\n    spec:\n      containers:\n        - name: manager\n          image: {{ .Values.manager }}\n',
    'templates/plugin.yaml':
      'apiVersion: acme.io/v1\nkind: Plugin\nmetadata:\n  name: default\nspec:\n  artifact:\n    location: {{ .Values.plugin.location }}\n  logLevel: {{ .Values.plugin.logLevel }}\n',
  });
  const pkg = await packageChart(src, stable);
  await writeRepoIndex(stable, [pkg]);
  const layout = path.join(work, 'layout');
  await writeOciLayout(layout, [
    { name: 'manager', platforms: [{ architecture: 'amd64', layers: [{ files: { 'manager': 'm\n' } }] }] },
    { name: 'plugin', platforms: [{ architecture: 'amd64', layers: [{ files: { 'plugin': 'p\n' } }] }] },
  ]);
  await pushLayoutImage(reg, layout, 'manager', 'acme/manager:2.1.0');
  await pushLayoutImage(reg, layout, 'plugin', 'acme/plugin:1.4.0');
});

afterAll(async () => {
  await Promise.all([repo?.stop(), reg?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
});

interface ChartLockEntry { name: string; images: string[]; imagePathImages?: string[]; possibleImages?: string[] }

describe('oc-mirror repository chart imagePaths, converted and read at lock', () => {
  it('convert writes them on the chart; lock finds the images at them in the rendered chart and pins them', async () => {
    const dir = await writeTree(path.join(work, 'oc'), {
      'imageset-config.yaml': `kind: ImageSetConfiguration
apiVersion: mirror.openshift.io/v2alpha1
mirror:
  helm:
    repositories:
      - name: acme
        url: ${repo.url}
        charts:
          - name: operator
            version: 1.0.0
            imagePaths:
              - "{.spec.artifact.location}"
              - "{.spec.logLevel}"
              - "{range .spec.template.spec.containers[*]}{.image}{end}"
`,
    });
    const c = await runFerry(['convert', 'oc-mirror', 'imageset-config.yaml', '-o', 'manifest.yaml', '--json'], { cwd: dir });
    expect(c.code, c.stderr).toBe(0);
    const conv = JSON.parse(c.stdout) as { manifest: { charts: unknown[] }; notCarried: Array<{ item: string; why: string }> };
    expect(conv.manifest.charts).toEqual([{ name: 'operator', repo: repo.url, version: '1.0.0', imagePaths: ['{.spec.artifact.location}', '{.spec.logLevel}'] }]);
    // The {range} path is one the chart kind does not evaluate: named, the others kept.
    expect(conv.notCarried.some((n) => n.item === 'helm chart operator imagePaths: {range .spec.template.spec.containers[*]}{.image}{end}' && n.why.startsWith('not evaluated'))).toBe(true);
    expect(conv.notCarried.some((n) => n.item.includes('{.spec.artifact.location}'))).toBe(false);

    const l = await runFerry(['lock', 'manifest.yaml', '--insecure-registry', reg.host], { cwd: dir, env: { FERRY_CACHE_DIR: path.join(work, 'cache') } });
    expect(l.code, l.stderr).toBe(0);
    const lock = JSON.parse(await readFile(path.join(dir, 'imageset-config.lock.json'), 'utf8')) as { charts: ChartLockEntry[]; images: Array<{ ref: string; digest: string }> };
    const chart = lock.charts.find((e) => e.name === 'operator')!;
    expect(chart.images).toEqual([`${reg.host}/acme/manager:2.1.0`, `${reg.host}/acme/plugin:1.4.0`]);
    expect(chart.imagePathImages).toEqual([`${reg.host}/acme/plugin:1.4.0`]);
    // Pinned from the registry like any chart image.
    expect(lock.images.find((i) => i.ref === `${reg.host}/acme/plugin:1.4.0`)?.digest).toMatch(/^sha256:[a-f0-9]{64}$/);
    // The log level is a bare word: warned, not carried as docker.io/library/debug:latest.
    expect(l.stderr).toContain('imagePaths {.spec.logLevel} finds debug');
    expect(JSON.stringify(lock)).not.toContain('library/debug');
  });

  it('a manifest whose imagePaths ferry cannot evaluate, or that does not discover, is refused naming the place', async () => {
    const dir = await writeTree(path.join(work, 'bad'), {
      'm.yaml': `apiVersion: ferry/v1alpha1
kind: Manifest
metadata: { name: bad }
charts:
  - name: operator
    repo: ${repo.url}
    version: 1.0.0
    imagePaths: ["{range .items[*]}{.image}{end}"]
  - name: operator
    repo: ${repo.url}
    version: 1.0.0
    images: none
    imagePaths: ["{.spec.artifact.location}"]
`,
    });
    const r = await runFerry(['lock', 'm.yaml'], { cwd: dir });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('charts[0].imagePaths[0]');
    expect(r.stderr).toContain('is not a JSONPath ferry evaluates');
    expect(r.stderr).toContain('charts[1].imagePaths');
    expect(r.stderr).toContain('only images: discover renders');
  });
});

describe('what the sweep of upstream fields names', () => {
  it('oc-mirror helm and repository fields it does not know, helmfile helmDefaults trust and devel, Hauler charts stored alone', async () => {
    const dir = await writeTree(path.join(work, 'sweep'), {
      'isc.yaml': `kind: ImageSetConfiguration
apiVersion: mirror.openshift.io/v2alpha1
mirror:
  helm:
    chartsDir: ./charts
    repositories:
      - name: acme
        url: https://charts.acme.example
        caFile: /etc/ssl/acme.pem
        charts:
          - name: app
            version: 1.0.0
`,
      'helmfile.yaml': `helmDefaults:
  verify: true
  devel: true
  trackMode: kubedog
repositories:
  - name: acme
    url: https://charts.acme.example
releases:
  - name: app
    chart: acme/app
    version: ~1.0.0
    trackMode: kubedog
    deleteWait: true
`,
      'hauler.yaml': `apiVersion: content.hauler.cattle.io/v1
kind: Charts
metadata:
  name: charts
spec:
  charts:
    - name: rancher
      repoURL: https://releases.rancher.com/server-charts/stable
      version: 2.10.1
    - name: longhorn
      repoURL: https://charts.longhorn.io
      version: 1.7.2
      add-images: true
      add-dependencies: true
`,
    });
    const run = async (args: string[]) => {
      const r = await runFerry(['convert', ...args, '--json'], { cwd: dir });
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as { notCarried: Array<{ place: string; item: string; why: string }>; changed: Array<{ place: string; item: string; why: string }> };
    };
    const oc = await run(['oc-mirror', 'isc.yaml']);
    expect(oc.notCarried.some((n) => n.place === 'isc.yaml:5' && n.item === 'helm chartsDir: ./charts')).toBe(true);
    expect(oc.notCarried.some((n) => n.place === 'isc.yaml:9' && n.item === 'helm repository acme caFile: /etc/ssl/acme.pem')).toBe(true);

    const hf = await run(['helmfile', 'helmfile.yaml']);
    expect(hf.notCarried.some((n) => n.place === 'helmfile.yaml:2' && n.item === 'helmDefaults.verify: true' && n.why.includes('provenance'))).toBe(true);
    expect(hf.changed.some((n) => n.place === 'helmfile.yaml:3' && n.item === 'helmDefaults.devel: true' && n.why.includes('pre-releases'))).toBe(true);
    // Deploy-time tracking is no unknown field.
    expect([...hf.notCarried, ...hf.changed].some((n) => n.item.includes('trackMode') || n.item.includes('deleteWait'))).toBe(false);

    const ha = await run(['hauler', 'hauler.yaml']);
    const rancher = ha.changed.find((n) => n.item === 'charts: rancher');
    expect(rancher?.why).toContain('without its images (add-images) or the dependency charts it does not vendor (add-dependencies)');
    expect(ha.changed.some((n) => n.item === 'charts: longhorn')).toBe(false);
  });
});
