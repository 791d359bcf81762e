import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ajv } from 'ajv';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { packageChart, startStaticServer, writeHelmLayout, writeRepoIndex, type StaticServer } from '../support/chart-repo.js';
import { mustRun, runCommand, runFerry } from '../support/cli.js';
import { imagesLock } from '../support/offline-lock.js';
import type { Finding } from '../../src/audit/audit.js';
import { skopeoEnv, startRegistry, type RunningRegistry } from '../support/registry.js';

/**
 * An edge site on k3s (new-user round 29): air-gapped boxes running k3s, apps deployed the k3s way,
 * as `HelmChart` resources (`helm.cattle.io/v1`) and a `HelmChartConfig` for the packaged traefik,
 * dropped into /var/lib/rancher/k3s/server/manifests/. The engineer knew Rancher's air-gap docs
 * (registries.yaml, system-default-registry, k3s-images.txt, INSTALL_K3S_SKIP_DOWNLOAD): the k3s
 * system images and the apps' images in the manifest, the k3s binary and its airgap tarball as
 * files checked against the release's sha256sum-amd64.txt, the apps' charts (nats from an HTTP
 * chart repository, external-dns from an OCI registry: the real charts of ../shared/corpus).
 *
 * What tripped (ferry knew nothing of helm.cattle.io):
 * - `audit` classed a HelmChart's `spec.repo` (and an `oci://` `spec.chart`) of a carried chart as
 *   "mirrored", though the helm-controller's install Job fetches the chart from it as written; k3s's
 *   own `https://%{KUBERNETES_API}%/static/charts/…` was an undeclared host `https://%{KUBERNETES_API`.
 *   A HelmChart's source is now a chart source like an Argo CD or Flux one (audit/chart-sources.ts).
 * - `spec.valuesContent` (values as a YAML string) was read line by line: an image map
 *   `{repository: ghcr.io/…, tag}` gave the host only, `{repository: rancher/…, tag}` nothing at all;
 *   `spec.set` (`image.repository: …`) a host. They are read as values now, at their file lines, and
 *   the chart a HelmChart installs is rendered with them (as its Job runs helm install).
 * - `rewrite manifests` left every HelmChart as it was and said "0 replacements": it now points
 *   `spec.repo`/`spec.chart` at where import put the chart and moves the images in `valuesContent`
 *   (inside the string, the rest of it byte for byte) and `spec.set`, refusing a chart the lock lacks.
 * - the install Job's own image (rancher/klipper-helm, a system image) was never mentioned.
 * - a box's registries.yaml gave no finding that said whether k3s still falls back to docker.io (the
 *   README's claim held only beside a kubeadm config), and `system-default-registry: <mirror>` was
 *   "internal" even when no registries.yaml rewrote rancher/<name> to where the mirror holds it.
 */

let work: string;
let up: StaticServer;
let reg: RunningRegistry;
let site: RunningRegistry;
let R: string; // upstream registry host:port
let U: string; // upstream web server
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRIES: '0', FERRY_RETRY_MIN_MS: '10' });
const M = 'registry.plant.internal/ferry';
const CHARTS = 'https://charts.plant.internal/helm';
const CORPUS = path.resolve(__dirname, '../../../shared/corpus/charts');
const RELEASE = 'k3s-io/k3s/releases/download/v1.31.4%2Bk3s1';

/** k3s-images.txt of the release (the k3s v1.31 line's system images). */
const K3S_IMAGES = [
  'docker.io/rancher/klipper-helm:v0.9.3-build20241008',
  'docker.io/rancher/klipper-lb:v0.4.9',
  'docker.io/rancher/local-path-provisioner:v0.0.30',
  'docker.io/rancher/mirrored-coredns-coredns:1.11.3',
  'docker.io/rancher/mirrored-library-busybox:1.36.1',
  'docker.io/rancher/mirrored-library-traefik:2.11.10',
  'docker.io/rancher/mirrored-metrics-server:v0.7.2',
  'docker.io/rancher/mirrored-pause:3.6',
];
const APP_IMAGES = ['docker.io/library/nats:2.14.2-alpine', 'docker.io/natsio/nats-server-config-reloader:0.23.0', 'ghcr.io/acme/sensor:1.4.2', 'registry.k8s.io/external-dns/external-dns:v0.21.0'];


/** The site's server/manifests directory: the apps as HelmCharts, traefik configured, k3s's own traefik.yaml. */
function serverManifests(): Record<string, string> {
  return {
    'nats.yaml': `# the message bus, from the HTTP chart repository
apiVersion: helm.cattle.io/v1
kind: HelmChart
metadata:
  name: nats
  namespace: kube-system
spec:
  repo: ${U}/stable
  chart: nats
  version: 2.14.2
  targetNamespace: edge
  valuesContent: |-
    # keep this comment
    config:
      jetstream:
        enabled: true   # and this one
    container:
      image:
        repository: nats
        tag: 2.14.2-alpine
    natsBox:
      enabled: false
---
apiVersion: helm.cattle.io/v1
kind: HelmChart
metadata:
  name: external-dns
  namespace: kube-system
spec:
  chart: oci://${R}/charts/external-dns
  version: 1.21.1
  targetNamespace: edge
  set:
    image.repository: registry.k8s.io/external-dns/external-dns
    image.tag: "v0.21.0"
    sidecars[0].name: none
`,
    'sensor.yaml': `apiVersion: helm.cattle.io/v1
kind: HelmChartConfig
metadata:
  name: nats
  namespace: kube-system
spec:
  valuesContent: "sensor: {image: ghcr.io/acme/sensor:1.4.2}"
`,
    'traefik-config.yaml': `apiVersion: helm.cattle.io/v1
kind: HelmChartConfig
metadata:
  name: traefik
  namespace: kube-system
spec:
  valuesContent: |-
    image:
      repository: docker.io/rancher/mirrored-library-traefik
      tag: 2.11.10
    logs:
      access:
        enabled: true
`,
    // As k3s writes it (pkg/deploy stages manifests/traefik.yaml; klipper-helm fills in %{KUBERNETES_API}%).
    'traefik.yaml': `---
apiVersion: helm.cattle.io/v1
kind: HelmChart
metadata:
  name: traefik-crd
  namespace: kube-system
spec:
  chart: https://%{KUBERNETES_API}%/static/charts/traefik-crd-27.0.201+up27.0.2.tgz
---
apiVersion: helm.cattle.io/v1
kind: HelmChart
metadata:
  name: traefik
  namespace: kube-system
spec:
  chart: https://%{KUBERNETES_API}%/static/charts/traefik-27.0.201+up27.0.2.tgz
  set:
    global.systemDefaultRegistry: ""
  valuesContent: |-
    deployment:
      podAnnotations:
        prometheus.io/port: "8082"
    image:
      repository: "rancher/mirrored-library-traefik"
      tag: "2.11.10"
`,
  };
}

async function writeTree(dir: string, files: Record<string, string>): Promise<void> {
  for (const [name, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await writeFile(path.join(dir, name), text);
  }
}

async function audit(paths: string[], extra: string[] = []): Promise<{ code: number; stderr: string; findings: Finding[]; report: { charts: Array<{ chart: string; status: string; values: string[]; reason?: string }> } }> {
  const r = await runFerry(['audit', ...paths, '--manifest', 'site/edge.yaml', '--target', 'site.yaml', '--format', 'json', ...extra], { cwd: work, env: env() });
  const report = JSON.parse(r.stdout) as { findings: Finding[]; charts: Array<{ chart: string; status: string; values: string[]; reason?: string }> };
  return { code: r.code, stderr: r.stderr, findings: report.findings, report };
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-newuser29-'));
  reg = await startRegistry({ mode: 'http' });
  site = await startRegistry({ mode: 'http' });
  R = reg.host;
  // Upstream: nats in an HTTP chart repository, the k3s release's files.
  const stable = path.join(work, 'up', 'stable');
  const nats = await packageChart(path.join(CORPUS, 'nats'), stable);
  await writeRepoIndex(stable, [nats]);
  const rel = path.join(work, 'up', decodeURIComponent(RELEASE));
  await mkdir(rel, { recursive: true });
  const k3s = Buffer.from('#!/bin/sh\necho k3s v1.31.4+k3s1\n');
  const tarball = Buffer.alloc(64 * 1024, 7);
  await writeFile(path.join(rel, 'k3s'), k3s);
  await writeFile(path.join(rel, 'k3s-airgap-images-amd64.tar.zst'), tarball);
  await writeFile(path.join(rel, 'k3s-images.txt'), K3S_IMAGES.join('\n') + '\n');
  const hex = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
  await writeFile(path.join(rel, 'sha256sum-amd64.txt'), `${hex(k3s)}  k3s\n${hex(tarball)}  k3s-airgap-images-amd64.tar.zst\n${hex(K3S_IMAGES.join('\n') + '\n')}  k3s-images.txt\n`);
  await mkdir(path.join(work, 'up', 'install'), { recursive: true });
  await writeFile(path.join(work, 'up', 'install', 'install.sh'), '#!/bin/sh\n# k3s installer\n[ "$INSTALL_K3S_SKIP_DOWNLOAD" = true ] || exit 1\n');
  up = await startStaticServer(path.join(work, 'up'));
  U = up.url;
  // external-dns pushed to the upstream registry as helm push lays it out.
  const ed = await packageChart(path.join(CORPUS, 'external-dns'), path.join(work, 'oci'));
  await writeHelmLayout(path.join(work, 'layout'), ed, 'external-dns');
  await mustRun('skopeo', ['copy', '--dest-tls-verify=false', `oci:${path.join(work, 'layout')}:external-dns`, `docker://${R}/charts/external-dns:1.21.1`], { env: skopeoEnv() });

  // The connected side locks and bundles the charts and files (the images too, at a real site: here
  // docker.io is out of reach, so their lock entries are written as `ferry lock` writes them).
  const charts = [`  - { name: nats, repo: "${U}/stable", version: 2.14.2, images: none }`, `  - { name: external-dns, repo: "oci://${R}/charts", version: 1.21.1, images: none }`];
  const files = [
    `  - { name: k3s, url: "${U}/${RELEASE}/k3s", checksums: { url: "${U}/${RELEASE}/sha256sum-amd64.txt" } }`,
    `  - { name: k3s-airgap-images, url: "${U}/${RELEASE}/k3s-airgap-images-amd64.tar.zst", checksums: { url: "${U}/${RELEASE}/sha256sum-amd64.txt" } }`,
    `  - { name: k3s-install, url: "${U}/install/install.sh" }`,
  ];
  const head = ['apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata: { name: edge }'];
  await mkdir(path.join(work, 'conn'));
  await writeFile(path.join(work, 'conn', 'edge.yaml'), [...head, 'charts:', ...charts, 'files:', ...files, ''].join('\n'));
  const lock = await runFerry(['lock', 'conn/edge.yaml', '--insecure-registry', R], { cwd: work, env: env() });
  expect(lock.code, lock.stderr).toBe(0);
  await mkdir(path.join(work, 'site'));
  const images = [...K3S_IMAGES, ...APP_IMAGES];
  await writeFile(path.join(work, 'site', 'edge.yaml'), [...head, 'images:', ...images.map((i) => `  - ref: ${i}`), 'charts:', ...charts, 'files:', ...files, ''].join('\n'));
  const locked = JSON.parse(await readFile(path.join(work, 'conn', 'edge.lock.json'), 'utf8')) as Record<string, unknown>;
  await writeFile(path.join(work, 'site', 'edge.lock.json'), JSON.stringify({ ...locked, images: (JSON.parse(imagesLock('edge', images)) as { images: unknown[] }).images }));
  await writeFile(path.join(work, 'site.yaml'), ['apiVersion: ferry/v1alpha1', 'kind: MirrorTarget', 'metadata: { name: plant }', 'registry:', '  url: https://registry.plant.internal', '  prefix: ferry', 'charts:', `  dir: ./mirror-charts`, `  baseUrl: ${CHARTS}`, ''].join('\n'));
  await writeTree(path.join(work, 'box', 'var', 'lib', 'rancher', 'k3s', 'server', 'manifests'), serverManifests());
}, 180_000);

afterAll(async () => {
  await up?.stop();
  await reg?.stop();
  await site?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

const MANIFESTS = 'box/var/lib/rancher/k3s/server/manifests';

describe('an edge site on k3s: HelmCharts, registries.yaml, system-default-registry', () => {
  it('carries the k3s binary and airgap tarball checked against sha256sum-amd64.txt, and the install script, onto the site', async () => {
    const b = await runFerry(['bundle', 'create', 'conn/edge.yaml', '-o', 'edge.ferry.tar', '--frozen', '--insecure-registry', R], { cwd: work, env: env() });
    expect(b.code, b.stderr).toBe(0);
    await writeFile(path.join(work, 'real.yaml'), ['apiVersion: ferry/v1alpha1', 'kind: MirrorTarget', 'metadata: { name: plant }', 'registry:', `  url: http://${site.host}`, '  prefix: ferry', 'charts:', '  dir: ./mirror-charts', `  baseUrl: ${CHARTS}`, 'files:', '  dir: ./mirror-files', '  baseUrl: https://files.plant.internal', ''].join('\n'));
    const i = await runFerry(['import', 'edge.ferry.tar', '--target', 'real.yaml'], { cwd: work, env: env() });
    expect(i.code, i.stderr).toBe(0);
    const dir = path.join(work, 'mirror-files', up.url.replace(/^http:\/\//, '').replace(':', '-'));
    // The release's sums list more files than a site carries: --ignore-missing, as Rancher's docs check them.
    const check = await runCommand('sha256sum', ['-c', '--ignore-missing', 'sha256sum-amd64.txt'], { cwd: path.join(dir, decodeURIComponent(RELEASE)) });
    expect(check.code, check.stdout + check.stderr).toBe(0);
    expect(check.stdout).toContain('k3s: OK');
    expect(check.stdout).toContain('k3s-airgap-images-amd64.tar.zst: OK');
    const install = await runCommand('sh', [path.join(dir, 'install', 'install.sh')], { env: { ...process.env, INSTALL_K3S_SKIP_DOWNLOAD: 'true' } });
    expect(install.code).toBe(0);
  }, 120_000);

  it('audit of server/manifests: a HelmChart source goes out until rewritten, its values are read as values, its chart rendered with them', async () => {
    const { code, findings, report } = await audit([MANIFESTS], ['--fail-on', 'unmapped']);
    expect(code).toBe(5);
    const at = (file: string, keyPath: string) => findings.filter((f) => f.file.endsWith(`/${file}`) && f.keyPath === keyPath);
    // The chart sources: carried, but fetched as written by the install Job.
    const repo = at('nats.yaml', 'spec.repo')[0];
    expect(repo).toMatchObject({ kind: 'url', value: `${U}/stable`, class: 'undeclared', line: 8 });
    expect(repo.note).toContain('chart nats 2.14.2 is carried (on the mirror: https://charts.plant.internal/helm');
    expect(repo.note).toContain('helm-controller HelmChart/nats fetches the chart from this URL as written');
    const oci = at('nats.yaml', 'spec.chart').find((f) => f.kind === 'oci')!;
    expect(oci).toMatchObject({ value: `oci://${R}/charts/external-dns`, class: 'undeclared', line: 30 });
    expect(oci.note).toContain(`oci://${M}/${R.replace(':', '-')}/charts/external-dns:1.21.1`);
    // k3s's own packaged charts come from the server itself.
    const packaged = at('traefik.yaml', 'spec.chart');
    expect(packaged.map((f) => [f.value, f.class])).toEqual([
      ['https://%{KUBERNETES_API}%/static/charts/traefik-crd-27.0.201+up27.0.2.tgz', 'internal'],
      ['https://%{KUBERNETES_API}%/static/charts/traefik-27.0.201+up27.0.2.tgz', 'internal'],
    ]);
    expect(packaged[0].note).toContain('the k3s/RKE2 server itself');
    // valuesContent and set, as values: image maps are images, at the line they are written on.
    expect(at('nats.yaml', 'spec.valuesContent.container.image')).toEqual([expect.objectContaining({ kind: 'image', value: 'nats:2.14.2-alpine', class: 'mirrored', line: 19 })]);
    expect(at('nats.yaml', 'spec.set.image')).toEqual([expect.objectContaining({ kind: 'image', value: 'registry.k8s.io/external-dns/external-dns:v0.21.0', class: 'mirrored', line: 34 })]);
    expect(at('traefik-config.yaml', 'spec.valuesContent.image')).toEqual([expect.objectContaining({ kind: 'image', value: 'docker.io/rancher/mirrored-library-traefik:2.11.10', class: 'mirrored', line: 9 })]);
    expect(at('traefik.yaml', 'spec.valuesContent.image')).toEqual([expect.objectContaining({ value: 'rancher/mirrored-library-traefik:2.11.10', class: 'mirrored', line: 24 })]);
    expect(at('sensor.yaml', 'spec.valuesContent.sensor.image')).toEqual([expect.objectContaining({ value: 'ghcr.io/acme/sensor:1.4.2', class: 'mirrored', line: 7 })]);
    // An annotation key inside valuesContent is no host.
    expect(findings.filter((f) => f.value === 'prometheus.io')).toEqual([]);
    // The charts rendered as the install Jobs run helm install: nats with its HelmChartConfig, the
    // reloader image only the chart's defaults name, nats-box switched off by the values.
    const renders = report.charts.map((c) => [c.chart, c.status, c.values.map((v) => `${path.basename(v.split(' ')[0])} ${v.split(' ')[1]}`)]);
    expect(renders).toEqual([
      ['nats', 'rendered', ['nats.yaml HelmChart/nats', 'sensor.yaml HelmChartConfig/nats']],
      ['external-dns', 'rendered', ['nats.yaml HelmChart/external-dns']],
    ]);
    const reloader = findings.find((f) => f.value.includes('nats-server-config-reloader'))!;
    expect(reloader).toMatchObject({ class: 'mirrored', value: 'natsio/nats-server-config-reloader:0.23.0' });
    expect(reloader.provenance).toContain('rendered from chart nats 2.14.2 as');
    expect(reloader.provenance).toContain('HelmChart/nats installs it');
    expect(findings.some((f) => f.value.includes('nats-box'))).toBe(false);
    // The install Job's image: carried, but its tag is the k3s release's and no runtime mirror config was scanned.
    const job = at('nats.yaml', 'spec.jobImage')[0];
    expect(job).toMatchObject({ value: 'docker.io/rancher/klipper-helm', class: 'undeclared' });
    expect(job.note).toContain('the lock carries docker.io/rancher/klipper-helm at v0.9.3-build20241008');
    expect(job.note).toContain('no scanned runtime mirror config');
  }, 60_000);

  it('rewrite manifests points each HelmChart at the mirror, moves valuesContent and set images in place, and the objects stay valid', async () => {
    const dir = path.join(work, 'rw');
    await cp(path.join(work, 'box'), dir, { recursive: true });
    const md = path.join(dir, 'var/lib/rancher/k3s/server/manifests');
    const read = async () => Object.fromEntries(await Promise.all(Object.keys(serverManifests()).map(async (f) => [f, await readFile(path.join(md, f), 'utf8')] as const))) as Record<string, string>;
    const before = await read();
    const r = await runFerry(['rewrite', 'manifests', md, '-t', 'site.yaml', '--lock', 'site/edge.lock.json'], { cwd: work, env: env() });
    expect(r.code, r.stderr).toBe(0);
    const after = await read();
    // Only these lines change; every other byte (comments, the block's indentation, quoting) stays.
    const changed = (f: string, text = after[f]) => {
      const a = before[f].split('\n');
      const b = text.split('\n');
      expect(b.length).toBe(a.length);
      return a.flatMap((l, i) => (l === b[i] ? [] : [[l, b[i]]]));
    };
    const hub = `${M}/docker.io`;
    // The reloader image only the chart's defaults name (natsio/nats-server-config-reloader): its key merged into valuesContent, after the block's last line.
    const reloader = ['    reloader:', '      image:', `        registry: ${hub}`].join('\n');
    expect(after['nats.yaml']).toContain(`    natsBox:\n      enabled: false\n${reloader}\n---\n`);
    expect(changed('nats.yaml', after['nats.yaml'].replace(`\n${reloader}`, ''))).toEqual([
      [`  repo: ${U}/stable`, `  repo: ${CHARTS}`],
      ['        repository: nats', `        repository: ${hub}/library/nats`],
      [`  chart: oci://${R}/charts/external-dns`, `  chart: oci://${M}/${R.replace(':', '-')}/charts/external-dns`],
      ['    image.repository: registry.k8s.io/external-dns/external-dns', `    image.repository: ${M}/registry.k8s.io/external-dns/external-dns`],
    ]);
    expect(changed('sensor.yaml')).toEqual([['  valuesContent: "sensor: {image: ghcr.io/acme/sensor:1.4.2}"', `  valuesContent: "sensor: {image: ${M}/ghcr.io/acme/sensor:1.4.2}"`]]);
    expect(changed('traefik-config.yaml')).toEqual([['      repository: docker.io/rancher/mirrored-library-traefik', `      repository: ${hub}/rancher/mirrored-library-traefik`]]);
    // k3s's own packaged HelmChart is left (the server writes it again), and said so; klipper-helm is carried: no word on it.
    expect(after['traefik.yaml']).toBe(before['traefik.yaml']);
    expect(r.stderr).toContain('HelmChart/traefik installs a chart packaged in k3s/RKE2');
    expect(r.stderr).not.toContain('klipper-helm');
    // A HelmChartConfig's values go to a chart the rewrite did not see: how that chart composes them is said.
    expect(r.stderr).toContain('HelmChartConfig/traefik adds values to the HelmChart of its name');
    // Valid against helm-controller's CRDs (unknown fields would be pruned: refused here).
    const validators = await crdValidators();
    for (const f of Object.keys(after)) {
      for (const d of parseAllDocuments(after[f])) {
        const obj = d.toJS() as { kind: string };
        const validate = validators.get(obj.kind)!;
        expect(validate(obj), `${f} ${obj.kind}: ${JSON.stringify(validate.errors)}`).toBe(true);
      }
    }
    // What the rewritten sources name is where import put the charts (the first test imported them).
    const index = parseYaml(await readFile(path.join(work, 'mirror-charts', 'index.yaml'), 'utf8')) as { entries: Record<string, Array<{ version: string; urls: string[] }>> };
    expect(index.entries.nats.map((e) => [e.version, e.urls])).toEqual([['2.14.2', [`${CHARTS}/nats-2.14.2.tgz`]]]);
    const ociPath = `ferry/${R.replace(':', '-')}/charts/external-dns`;
    const inspect = await runCommand('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${site.host}/${ociPath}:1.21.1`], { env: skopeoEnv() });
    expect(inspect.code, inspect.stderr).toBe(0);
    expect(JSON.parse(inspect.stdout).config.mediaType).toBe('application/vnd.cncf.helm.config.v1+json');
    // Idempotent: a second run changes nothing.
    const again = await runFerry(['rewrite', 'manifests', md, '-t', 'site.yaml', '--lock', 'site/edge.lock.json'], { cwd: work, env: env() });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('0 replacements');
  }, 60_000);

  it('mirror-config k3s for the box: audit of /etc/rancher/k3s says per registry whether k3s still falls back, and checks system-default-registry', async () => {
    const etc = path.join(work, 'box', 'etc', 'rancher', 'k3s');
    const mc = await runFerry(['mirror-config', 'k3s', '-t', 'site.yaml', '--lock', 'site/edge.lock.json', '-o', etc], { cwd: work });
    expect(mc.code, mc.stderr).toBe(0);
    const generated = await readFile(path.join(etc, 'config.yaml'), 'utf8');
    expect(generated).toContain('system-default-registry: "registry.plant.internal"');
    const config = (more: string) => writeFile(path.join(etc, 'config.yaml'), `${generated}disable:\n  - servicelb\nairgap-extra-registry:\n  - registry.plant.internal\n${more}`);
    await config('');
    let { findings } = await audit(['box/etc']);
    // One finding per upstream registry the lock pins images from (each a mirrors.<registry> entry).
    const upstreams = ['docker.io', 'ghcr.io', 'registry.k8s.io'];
    const mirrors = (fs: Finding[]) => fs.filter((f) => upstreams.some((h) => f.keyPath === `mirrors.${h}`)).map((f) => [f.value, f.class, f.note]);
    expect(mirrors(findings)).toEqual(upstreams.map((h) => [h, 'mirrored', expect.stringContaining(`pulls go to https://registry.plant.internal; an image the mirror lacks (or a failing mirror) is tried at ${h} itself (start k3s/RKE2 with --disable-default-registry-endpoint`)]));
    const sdr = findings.find((f) => f.keyPath === 'system-default-registry')!;
    expect(sdr).toMatchObject({ class: 'internal', value: 'registry.plant.internal' });
    expect(sdr.note).toContain(`registries.yaml rewrites to where the mirror holds them (registry.plant.internal/ferry/docker.io/rancher/`);
    await config('disable-default-registry-endpoint: true\n');
    ({ findings } = await audit(['box/etc']));
    expect(mirrors(findings).map((m) => m[2])).toEqual(upstreams.map((h) => expect.stringContaining(`no fallback to ${h}`)));
    // Rancher's documented form, written by hand: an endpoint equal to the mirror's default endpoint gets no rewrite.
    const hand = path.join(work, 'hand', 'etc', 'rancher', 'k3s');
    await mkdir(hand, { recursive: true });
    await writeFile(path.join(hand, 'config.yaml'), 'system-default-registry: registry.plant.internal\n');
    await writeFile(path.join(hand, 'registries.yaml'), 'mirrors:\n  registry.plant.internal:\n    endpoint:\n      - "https://registry.plant.internal"\n    rewrite:\n      "^rancher/(.*)": "ferry/docker.io/rancher/$1"\n');
    const hf = (await audit(['hand/etc'])).findings.find((f) => f.keyPath === 'system-default-registry')!;
    expect(hf.class).toBe('internal');
    expect(hf.note).toContain('lists only registry.plant.internal\'s default endpoint (https://registry.plant.internal/v2), which k3s/RKE2 pull without rewrites');
    expect(hf.note).toContain('the system pods fail to pull at the site');
    await rm(path.join(hand, 'registries.yaml'));
    const none = (await audit(['hand/etc'])).findings.find((f) => f.keyPath === 'system-default-registry')!;
    expect(none.note).toContain('no scanned registries.yaml rewrites them there');
  }, 60_000);

  it('after rewrite and with the box\'s registries.yaml, audit of the whole box passes --fail-on unmapped', async () => {
    await cp(path.join(work, 'box', 'etc'), path.join(work, 'rw', 'etc'), { recursive: true });
    const { code, findings, stderr } = await audit(['rw', '--fail-on', 'unmapped']);
    expect(
      code,
      stderr +
        findings
          .filter((f) => f.class === 'undeclared')
          .map((f) => `${f.file}:${f.line} ${f.value} ${f.note}`)
          .join('\n'),
    ).toBe(0);
    const src = findings.filter((f) => /nats\.yaml$/.test(f.file) && (f.keyPath === 'spec.repo' || (f.keyPath === 'spec.chart' && f.kind === 'oci')));
    expect(src.map((f) => [f.value, f.class])).toEqual([
      [CHARTS, 'internal'],
      [`oci://${M}/${R.replace(':', '-')}/charts/external-dns`, 'internal'],
    ]);
    // The install Job's image: carried, and registries.yaml sends docker.io to the mirror.
    const job = findings.find((f) => f.file.endsWith('nats.yaml') && f.keyPath === 'spec.jobImage')!;
    expect(job).toMatchObject({ class: 'mirrored', value: 'docker.io/rancher/klipper-helm' });
    expect(job.note).toContain('the pull goes to the mirror through k3s/RKE2 mirror config for docker.io');
  }, 60_000);

  it('refuses what it cannot point at the mirror: a version not carried, spec.repo with no chart repository on the target; an archive URL moves', async () => {
    const dir = path.join(work, 'refuse');
    await writeTree(dir, {
      'bumped.yaml': `apiVersion: helm.cattle.io/v1\nkind: HelmChart\nmetadata: { name: nats, namespace: kube-system }\nspec:\n  repo: ${U}/stable\n  chart: nats\n  version: 2.15.0\n`,
    });
    const r = await runFerry(['rewrite', 'manifests', dir, '-t', 'site.yaml', '--lock', 'site/edge.lock.json'], { cwd: work, env: env() });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('bumped.yaml:5');
    expect(r.stderr).toContain('the lock carries nats 2.14.2 from this repository, not this version');
    await writeFile(path.join(work, 'oci-only.yaml'), ['apiVersion: ferry/v1alpha1', 'kind: MirrorTarget', 'metadata: { name: plant }', 'registry:', `  url: http://${site.host}`, '  prefix: ferry', ''].join('\n'));
    await writeFile(path.join(dir, 'bumped.yaml'), `apiVersion: helm.cattle.io/v1\nkind: HelmChart\nmetadata: { name: nats, namespace: kube-system }\nspec:\n  repo: ${U}/stable\n  chart: nats\n  version: 2.14.2\n`);
    const oci = await runFerry(['rewrite', 'manifests', dir, '-t', 'oci-only.yaml', '--lock', 'site/edge.lock.json'], { cwd: work, env: env() });
    expect(oci.code).not.toBe(0);
    expect(oci.stderr).toContain(`write spec.chart: oci://${site.host}/ferry/${new URL(U).host.replace(':', '-')}/stable/nats and drop spec.repo`);
    // The archive itself (spec.chart: https://…/nats-2.14.2.tgz, the lock's url) moves to the target's chart repository.
    await writeFile(path.join(dir, 'bumped.yaml'), `apiVersion: helm.cattle.io/v1\nkind: HelmChart\nmetadata: { name: nats, namespace: kube-system }\nspec:\n  chart: ${U}/stable/nats-2.14.2.tgz\n`);
    const archive = await runFerry(['rewrite', 'manifests', dir, '-t', 'site.yaml', '--lock', 'site/edge.lock.json'], { cwd: work, env: env() });
    expect(archive.code, archive.stderr).toBe(0);
    expect(await readFile(path.join(dir, 'bumped.yaml'), 'utf8')).toContain(`  chart: ${CHARTS}/nats-2.14.2.tgz\n`);
    // On a plain-HTTP registry the install Job needs spec.plainHTTP: true (its helm pull speaks https
    // otherwise): written beside the chart (newuser65: it was only said), valid for helm-controller's CRD.
    await writeFile(path.join(dir, 'bumped.yaml'), `apiVersion: helm.cattle.io/v1\nkind: HelmChart\nmetadata: { name: external-dns, namespace: kube-system }\nspec:\n  chart: oci://${R}/charts/external-dns:1.21.1\n  version: 1.21.1\n`);
    const plain = await runFerry(['rewrite', 'manifests', dir, '-t', 'oci-only.yaml', '--lock', 'site/edge.lock.json'], { cwd: work, env: env() });
    expect(plain.code, plain.stderr).toBe(0);
    const written = await readFile(path.join(dir, 'bumped.yaml'), 'utf8');
    expect(written).toContain(`spec:\n  chart: oci://${site.host}/ferry/${R.replace(':', '-')}/charts/external-dns:1.21.1\n  plainHTTP: true\n  version: 1.21.1\n`);
    expect(plain.stdout).toContain('plainHTTP (not set) → plainHTTP: true');
    expect(plain.stderr).not.toContain('spec.plainHTTP');
    const validate = (await crdValidators()).get('HelmChart')!;
    expect(validate(parseYaml(written)), JSON.stringify(validate.errors)).toBe(true);
    // One written false is set true; a second rewrite changes nothing.
    await writeFile(path.join(dir, 'bumped.yaml'), `apiVersion: helm.cattle.io/v1\nkind: HelmChart\nmetadata: { name: external-dns, namespace: kube-system }\nspec:\n  plainHTTP: false\n  chart: oci://${R}/charts/external-dns:1.21.1\n`);
    expect((await runFerry(['rewrite', 'manifests', dir, '-t', 'oci-only.yaml', '--lock', 'site/edge.lock.json'], { cwd: work, env: env() })).code).toBe(0);
    expect(await readFile(path.join(dir, 'bumped.yaml'), 'utf8')).toContain('spec:\n  plainHTTP: true\n  chart: oci://');
    const again = await runFerry(['rewrite', 'manifests', dir, '-t', 'oci-only.yaml', '--lock', 'site/edge.lock.json'], { cwd: work, env: env() });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('0 replacements');
  }, 60_000);

  it('audit renders an inline spec.chartContent as the Job installs it; one that is no archive is listed as not rendered', async () => {
    const dir = path.join(work, 'inline');
    const tgz = (await readFile(path.join(work, 'up', 'stable', 'nats-2.14.2.tgz'))).toString('base64');
    await writeTree(dir, {
      'inline.yaml': `apiVersion: helm.cattle.io/v1\nkind: HelmChart\nmetadata: { name: bus, namespace: kube-system }\nspec:\n  chartContent: ${tgz}\n  valuesContent: |-\n    natsBox:\n      enabled: true\n---\napiVersion: helm.cattle.io/v1\nkind: HelmChart\nmetadata: { name: broken, namespace: kube-system }\nspec:\n  chartContent: "not an archive!"\n`,
    });
    const { code, findings, report } = await audit(['inline', '--fail-on', 'unmapped']);
    expect(code).toBe(5);
    expect(report.charts.map((c) => [c.chart, c.status])).toEqual([
      ['nats (HelmChart/bus spec.chartContent)', 'rendered'],
      ['HelmChart/broken spec.chartContent', 'not-rendered'],
    ]);
    expect(report.charts[1].reason).toContain('spec.chartContent is not base64');
    // nats-box, which the values switch on, is not in the lock: it goes out.
    const box = findings.find((f) => f.value.includes('nats-box'))!;
    expect(box).toMatchObject({ class: 'undeclared', file: 'inline/inline.yaml' });
    expect(box.provenance).toContain('rendered from chart nats (HelmChart/bus spec.chartContent) 2.14.2 as inline/inline.yaml HelmChart/bus installs it');
  }, 60_000);

  it('a lock without rancher/klipper-helm: audit and rewrite say the install Job\'s image is a system image to carry', async () => {
    await mkdir(path.join(work, 'lean'), { recursive: true });
    const images = [...K3S_IMAGES.filter((i) => !i.includes('klipper-helm')), ...APP_IMAGES];
    const text = (await readFile(path.join(work, 'site', 'edge.yaml'), 'utf8')).replace(/  - ref: docker\.io\/rancher\/klipper-helm:.*\n/, '');
    await writeFile(path.join(work, 'lean', 'edge.yaml'), text);
    const locked = JSON.parse(await readFile(path.join(work, 'conn', 'edge.lock.json'), 'utf8')) as Record<string, unknown>;
    await writeFile(path.join(work, 'lean', 'edge.lock.json'), JSON.stringify({ ...locked, images: (JSON.parse(imagesLock('edge', images)) as { images: unknown[] }).images }));
    const r = await runFerry(['audit', 'rw', '--manifest', 'lean/edge.yaml', '--target', 'site.yaml', '--format', 'json', '--fail-on', 'unmapped'], { cwd: work, env: env() });
    expect(r.code).toBe(5);
    const jobs = (JSON.parse(r.stdout) as { findings: Finding[] }).findings.filter((f) => f.keyPath === 'spec.jobImage');
    expect(jobs.length).toBe(4);
    for (const j of jobs) {
      expect(j).toMatchObject({ class: 'undeclared', value: 'docker.io/rancher/klipper-helm' });
      expect(j.note).toContain('a system image the site must carry');
    }
    const rw = await runFerry(['rewrite', 'manifests', 'rw', '-t', 'site.yaml', '--lock', 'lean/edge.lock.json', '--dry-run'], { cwd: work, env: env() });
    expect(rw.code, rw.stderr).toBe(0);
    expect(rw.stderr).toContain('HelmChart/nats has no spec.jobImage');
    expect(rw.stderr).toContain('docker.io/rancher/klipper-helm');
  }, 60_000);
});

/** helm-controller's CRD schemas (test/fixtures/k3s), each object compiled with no field the API server would prune. */
async function crdValidators(): Promise<Map<string, ReturnType<Ajv['compile']>>> {
  const strict = (s: Record<string, unknown>): Record<string, unknown> => {
    const out: Record<string, unknown> = { ...s };
    for (const k of ['items', 'additionalProperties']) if (s[k] && typeof s[k] === 'object') out[k] = strict(s[k] as Record<string, unknown>);
    if (Array.isArray(s.anyOf)) out.anyOf = s.anyOf.map((x) => strict(x as Record<string, unknown>));
    if (s.properties) {
      out.properties = Object.fromEntries(Object.entries(s.properties as Record<string, Record<string, unknown>>).map(([k, v]) => [k, strict(v)]));
      if (!('additionalProperties' in s) && k8sStrict(s)) out.additionalProperties = false;
    }
    return out;
  };
  const out = new Map<string, ReturnType<Ajv['compile']>>();
  for (const d of parseAllDocuments(await readFile(path.resolve(__dirname, '../fixtures/k3s/helm-controller.crds.yaml'), 'utf8'))) {
    const crd = d.toJS() as { spec: { names: { kind: string }; versions: Array<{ schema: { openAPIV3Schema: Record<string, unknown> } }> } };
    out.set(crd.spec.names.kind, new Ajv({ strict: false, allErrors: true, validateFormats: false }).compile(strict(crd.spec.versions[0].schema.openAPIV3Schema)));
  }
  return out;
}

/** A schema whose body the fixture keeps (metadata and the Job's security contexts are left open). */
function k8sStrict(s: Record<string, unknown>): boolean {
  return Object.keys(s.properties as object).length > 0;
}
