import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { packageChart, startStaticServer, writeRepoIndex, type StaticServer } from '../support/chart-repo.js';
import { runFerry } from '../support/cli.js';
import { pushLayoutImage, skopeoRawManifest, writeOciLayout } from '../support/images.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';

/**
 * A research lab's job (new-user round 15): an air-gapped GPU cluster. JupyterHub and the NVIDIA
 * GPU operator as charts, MinIO, an Ubuntu cloud image checked against the signed SHA256SUMS, the
 * NVIDIA driver packages from the vendor's APT repository filtered to what the nodes install, a
 * license server the cluster must still reach, and the lab's notebook images on a vendor base.
 * The engineer knew Zarf, Hauler and oc-mirror and worked from the README: manifest, lock,
 * bundle, verify, import into the lab's registry and file/APT mirror, `rewrite chart` for the GPU
 * operator, `mirror-config containerd`, audit, inventory, firewall and report. Real
 * docker-registry, nginx (chart repository) and skopeo on loopback.
 *
 * What tripped:
 * - The GPU operator's ClusterPolicy names the driver `{repository: nvcr.io/nvidia, image: driver,
 *   version: 580.95.05}`, and the operator pulls `driver:580.95.05-ubuntu24.04` — it appends the
 *   GPU node's OS to the tag (`resolveDriverTag`; likewise for `gds`, `gdrcopy`, `vgpuManager`
 *   and an NVIDIADriver resource). nvcr.io has no bare `580.95.05` tag. `charts images` called
 *   the bare tag certain, so `ferry lock` with `images: discover` tried to pull it and failed
 *   (`manifest unknown`) — even with the real `…-ubuntu24.04` image listed under `images:` — and
 *   the lab could not lock the GPU operator at all without switching discovery off and listing
 *   every image by hand. Now that tag is a possible image with the reason (the operator appends
 *   `-<node OS>`), it is not carried, and `lock` warns, naming the tag to list, unless the
 *   manifest lists a `<tag>-…` image for it. `rewrite chart` moves the driver's repository to the
 *   mirror, where the listed `…-ubuntu24.04` image is.
 */

let work: string;
let reg: RunningRegistry;
let lab: RunningRegistry;
let charts: StaticServer;

const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRY_MIN_MS: '50', FERRY_RETRIES: '1' });
const insecure = () => ['--insecure-registry', reg.host, '--insecure-registry', lab.host];
const writeManifest = (file: string, name: string, body: Record<string, unknown>) =>
  writeFile(file, stringifyYaml({ apiVersion: 'ferry/v1alpha1', kind: 'Manifest', metadata: { name }, ...body }));

const CLUSTER_POLICY = `apiVersion: nvidia.com/v1
kind: ClusterPolicy
metadata:
  name: cluster-policy
spec:
  operator:
    defaultRuntime: containerd
  driver:
    enabled: {{ .Values.driver.enabled }}
    repository: {{ .Values.driver.repository }}
    image: {{ .Values.driver.image }}
    version: {{ .Values.driver.version | quote }}
  toolkit:
    enabled: true
    repository: {{ .Values.toolkit.repository }}
    image: {{ .Values.toolkit.image }}
    version: {{ .Values.toolkit.version | quote }}
`;
const OPERATOR = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: gpu-operator
spec:
  template:
    spec:
      containers:
        - name: gpu-operator
          image: {{ .Values.operator.repository }}/{{ .Values.operator.image }}:{{ .Values.operator.version }}
`;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-newuser15-'));
  const repoDir = path.join(work, 'repo');
  await mkdir(repoDir, { recursive: true });
  [reg, lab, charts] = await Promise.all([startRegistry({ mode: 'http' }), startRegistry({ mode: 'http' }), startStaticServer(repoDir)]);

  // Upstream as nvcr.io has it: the driver only under OS-suffixed tags.
  const layout = path.join(work, 'layout');
  await writeOciLayout(layout, [
    { name: 'operator', platforms: [{ architecture: 'amd64', layers: [{ files: { 'op/v': '25.3.0\n' } }] }] },
    { name: 'driver', platforms: [{ architecture: 'amd64', layers: [{ files: { 'driver/os': 'ubuntu24.04\n' } }] }] },
    { name: 'toolkit', platforms: [{ architecture: 'amd64', layers: [{ files: { 'toolkit/v': '1.17\n' } }] }] },
  ]);
  await pushLayoutImage(reg, layout, 'operator', 'nvidia/gpu-operator:v25.3.0');
  await pushLayoutImage(reg, layout, 'driver', 'nvidia/driver:580.95.05-ubuntu24.04');
  await pushLayoutImage(reg, layout, 'toolkit', 'nvidia/k8s/container-toolkit:v1.17.8');

  const chartDir = path.join(work, 'src', 'gpu-operator');
  await mkdir(path.join(chartDir, 'templates'), { recursive: true });
  await writeFile(path.join(chartDir, 'Chart.yaml'), stringifyYaml({ apiVersion: 'v2', name: 'gpu-operator', version: '25.3.0' }));
  await writeFile(
    path.join(chartDir, 'values.yaml'),
    stringifyYaml({
      operator: { repository: `${reg.host}/nvidia`, image: 'gpu-operator', version: 'v25.3.0' },
      driver: { enabled: true, repository: `${reg.host}/nvidia`, image: 'driver', version: '580.95.05' },
      toolkit: { repository: `${reg.host}/nvidia/k8s`, image: 'container-toolkit', version: 'v1.17.8' },
    }),
  );
  await writeFile(path.join(chartDir, 'templates', 'clusterpolicy.yaml'), CLUSTER_POLICY);
  await writeFile(path.join(chartDir, 'templates', 'operator.yaml'), OPERATOR);
  await writeRepoIndex(repoDir, [await packageChart(chartDir, repoDir)]);
}, 120_000);

afterAll(async () => {
  await Promise.allSettled([reg?.stop(), lab?.stop(), charts?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
});

describe('the GPU operator driver: the operator appends the node OS to its tag', () => {
  let dir: string;
  const driverBare = () => `${reg.host}/nvidia/driver:580.95.05`;
  const driverOs = () => `${driverBare()}-ubuntu24.04`;

  beforeAll(async () => {
    dir = path.join(work, 'lab');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'site.yaml'), stringifyYaml({ apiVersion: 'ferry/v1alpha1', kind: 'MirrorTarget', metadata: { name: 'lab' }, registry: { url: lab.url, prefix: 'lab' } }));
  });

  it('charts images: the bare driver tag is a possible image, with why', async () => {
    const r = await runFerry(['charts', 'images', path.join(work, 'src', 'gpu-operator'), '--json'], { cwd: dir, env: env() });
    expect(r.code, r.stderr).toBe(0);
    const out = (JSON.parse(r.stdout) as { charts: Array<{ images: Array<{ ref: string; certainty: string; sources: Array<{ reason?: string }> }> }> }).charts[0];
    const driver = out.images.find((i) => i.ref === driverBare());
    expect(driver?.certainty).toBe('possible');
    expect(driver?.sources.map((s) => s.reason ?? '').join(' ')).toContain('-<node OS>');
    // the toolkit's version is the full tag: certain as before
    expect(out.images.find((i) => i.ref === `${reg.host}/nvidia/k8s/container-toolkit:v1.17.8`)?.certainty).toBe('certain');
  });

  it('lock without the OS-suffixed driver listed: succeeds, and warns naming the tag to list', async () => {
    await writeManifest(path.join(dir, 'bare.yaml'), 'bare', { charts: [{ name: 'gpu-operator', repo: charts.url, version: '25.3.0' }] });
    const r = await runFerry(['lock', 'bare.yaml', ...insecure()], { cwd: dir, env: env() });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`${driverBare()} is not carried`);
    expect(r.stderr).toContain(`- ref: ${driverOs()}`);
    const lock = JSON.parse(await readFile(path.join(dir, 'bare.lock.json'), 'utf8')) as { images: Array<{ ref: string }> };
    expect(lock.images.map((i) => i.ref)).not.toContain(driverBare());
  }, 120_000);

  it('lock with it listed: the driver the nodes pull is carried, no warning; rewrite chart points the driver repository at the mirror that holds it', async () => {
    await writeManifest(path.join(dir, 'gpu.yaml'), 'gpu', {
      images: [{ ref: driverOs() }],
      charts: [{ name: 'gpu-operator', repo: charts.url, version: '25.3.0' }],
    });
    const lock = await runFerry(['lock', 'gpu.yaml', ...insecure()], { cwd: dir, env: env() });
    expect(lock.code, lock.stderr).toBe(0);
    expect(lock.stderr).not.toContain('is not carried');
    const locked = JSON.parse(await readFile(path.join(dir, 'gpu.lock.json'), 'utf8')) as { images: Array<{ ref: string }> };
    expect(locked.images.map((i) => i.ref).sort()).toEqual([driverOs(), `${reg.host}/nvidia/gpu-operator:v25.3.0`, `${reg.host}/nvidia/k8s/container-toolkit:v1.17.8`].sort());

    const create = await runFerry(['bundle', 'create', 'gpu.yaml', '-o', 'gpu.ferry.tar', '--frozen', ...insecure()], { cwd: dir, env: env() });
    expect(create.code, create.stderr).toBe(0);
    const imp = await runFerry(['import', 'gpu.ferry.tar', '--target', 'site.yaml', '-q'], { cwd: dir, env: env() });
    expect(imp.code, imp.stderr).toBe(0);

    const rw = await runFerry(['rewrite', 'chart', path.join(work, 'src', 'gpu-operator'), '--lock', 'gpu.lock.json', '--target', 'site.yaml', '-o', 'override.yaml'], { cwd: dir, env: env() });
    expect(rw.code, rw.stdout + rw.stderr).toBe(0);
    const override = parseYaml(await readFile(path.join(dir, 'override.yaml'), 'utf8')) as { driver: { repository: string; image?: string; version?: string } };
    expect(override.driver.repository).toBe(`${lab.host}/lab/${reg.host.replace(':', '-')}/nvidia`);
    // what the operator pulls on an Ubuntu 24.04 GPU node, from the override: on the mirror
    const pulled = `${override.driver.repository}/driver:580.95.05-ubuntu24.04`;
    const m = JSON.parse((await skopeoRawManifest(lab, pulled)).toString('utf8')) as { mediaType?: string; manifests?: unknown[]; layers?: unknown[] };
    expect(m.manifests ?? m.layers).toBeTruthy();
  }, 180_000);
});
