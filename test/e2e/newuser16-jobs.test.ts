import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { packageChart, startStaticServer, writeRepoIndex, type StaticServer } from '../support/chart-repo.js';
import { runFerry } from '../support/cli.js';
import { pushLayoutImage, writeOciLayout } from '../support/images.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';

/**
 * A research lab's job, the parts round 15 did not reach (new-user round 16): JupyterHub
 * (zero-to-jupyterhub-k8s 4.3: the hub, the image pullers, the user-scheduler, the singleuser image
 * and the `singleuser.profileList` images users pick), carried with `images: discover`, locked,
 * and the lab's values rewritten to the mirror. The engineer worked from the README. Real
 * docker-registry and nginx (chart repository) on loopback; the chart is a cut-down copy of
 * z2jh's templates that keeps what decides its images.
 *
 * What tripped:
 * - z2jh 4.3's Chart.yaml says `kubeVersion: ">=1.32.0-0"`, and ferry renders for Kubernetes
 *   v1.29.0 unless told (Helm 3.14's default; a current `helm template` defaults to a newer one and
 *   renders the chart). `charts images` refused the chart with a hint that `helm template` "would
 *   fail the same way: fix the values" — untrue, and it never named `--kube-version`; `ferry lock`
 *   (which has no Kubernetes version to give) fell back to reading the values with a warning to
 *   "set the values it needs", so what the templates decide was guessed from values. Now, with no
 *   version given, a chart whose `kubeVersion:` refuses the default is rendered for the oldest
 *   later minor it accepts, with a warning; a version given that the chart refuses gets a hint
 *   naming `--kube-version` and the chart's range.
 * - The user-scheduler's kube-scheduler tag follows the cluster's Kubernetes version (z2jh holds
 *   it back to v1.33.9 below 1.34, else the values' tag): the image carried depends on the version
 *   rendered for, and a manifest chart has no way to say the cluster's version (see the report's
 *   patch for `kubeVersion:` on a manifest chart).
 * - `rewrite values` on the lab's values did not move `singleuser.image: {name, tag}` — the
 *   notebook image every user runs — because z2jh names every image `{name, tag}` and only
 *   `{repository|image, …}` maps were read; it was named as "not moved (from singleuser.image)"
 *   though the file sets exactly that key; likewise MinIO's `mc` under `prePuller.extraImages: {mc:
 *   {name, tag}}`. Now a `{name, tag|digest}` map under an image key, or an entry of a map under an
 *   image list key, moves. (`audit` reads those maps as a bare host `quay.io`, not the image: a
 *   patch for `src/audit/scan.ts`, not owned here, is in the round's report.)
 * - With the pre-pullers off (`prePuller.pullProfileListImages: false`, or both pullers disabled: a
 *   lab that will not pull multi-GB GPU notebook images onto every node ahead of time), no template
 *   names the profileList images — the hub's KubeSpawner starts them from the values it reads at
 *   runtime — so discovery called them possible and `lock` did not carry them: the images users
 *   pick failed to pull at the site. Now JupyterHub's `singleuser.image`, `hub.config.KubeSpawner.image`
 *   and profileList images are certain, with the spawner as the reason.
 * - `rewrite chart -f jupyterhub-values.yaml` printed the lab's values file as
 *   `<chart dir>/jupyterhub-values.yaml:10`, a file that does not exist; it is now named as given.
 */

let work: string;
let reg: RunningRegistry;
let charts: StaticServer;

const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRY_MIN_MS: '50', FERRY_RETRIES: '1' });
const writeManifest = (file: string, name: string, body: Record<string, unknown>) =>
  writeFile(file, stringifyYaml({ apiVersion: 'ferry/v1alpha1', kind: 'Manifest', metadata: { name }, ...body }));

// z2jh's templates, cut to what names images (templates/hub, image-puller, scheduling/user-scheduler)
const HUB = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: hub
spec:
  template:
    spec:
      containers:
        - name: hub
          image: {{ .Values.hub.image.name }}:{{ .Values.hub.image.tag }}
`;
const PULLER = `apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: continuous-image-puller
spec:
  template:
    spec:
      initContainers:
        - name: image-pull-singleuser
          image: {{ .Values.singleuser.image.name }}:{{ .Values.singleuser.image.tag }}
        {{- if .Values.prePuller.pullProfileListImages }}
        {{- range $k, $container := .Values.singleuser.profileList }}
        {{- if $container.kubespawner_override }}
        {{- if $container.kubespawner_override.image }}
        - name: image-pull-singleuser-profilelist-{{ $k }}
          image: {{ $container.kubespawner_override.image }}
        {{- end }}
        {{- end }}
        {{- if $container.profile_options }}
        {{- range $option, $option_spec := $container.profile_options }}
        {{- if $option_spec.choices }}
        {{- range $choice, $choice_spec := $option_spec.choices }}
        {{- if $choice_spec.kubespawner_override }}
        {{- if $choice_spec.kubespawner_override.image }}
        - name: image-pull-profile-{{ $k }}-option-{{ $option }}-{{ $choice }}
          image: {{ $choice_spec.kubespawner_override.image }}
        {{- end }}
        {{- end }}
        {{- end }}
        {{- end }}
        {{- end }}
        {{- end }}
        {{- end }}
        {{- end }}
        {{- range $k, $v := .Values.prePuller.extraImages }}
        - name: image-pull-{{ $k }}
          image: {{ $v.name }}:{{ $v.tag }}
        {{- end }}
      containers:
        - name: pause
          image: {{ .Values.prePuller.pause.image.name }}:{{ .Values.prePuller.pause.image.tag }}
`;
const SCHEDULER = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: user-scheduler
spec:
  template:
    spec:
      containers:
        - name: kube-scheduler
          {{- if semverCompare "<1.34.0-0" .Capabilities.KubeVersion.Version }}
          image: {{ .Values.scheduling.userScheduler.image.name }}:v1.33.9
          {{- else }}
          image: {{ .Values.scheduling.userScheduler.image.name }}:{{ .Values.scheduling.userScheduler.image.tag }}
          {{- end }}
`;

const IMAGES = [
  'jupyterhub/k8s-hub:4.3.1',
  'jupyter/scipy-notebook:2025-10-20',
  'jupyter/datascience-notebook:2025-10-20',
  'jupyter/pytorch-notebook:cuda12-2025-10-20',
  'pause:3.10.2',
  'kube-scheduler:v1.33.9',
  'kube-scheduler:v1.35.7',
  'minio/mc:RELEASE.2025-08-13T08-35-41Z',
];

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-newuser16-'));
  const repoDir = path.join(work, 'repo');
  await mkdir(repoDir, { recursive: true });
  [reg, charts] = await Promise.all([startRegistry({ mode: 'http' }), startStaticServer(repoDir)]);
  const layout = path.join(work, 'layout');
  await writeOciLayout(
    layout,
    IMAGES.map((ref) => ({ name: ref.replace(/[/:]/g, '-'), platforms: [{ architecture: 'amd64', layers: [{ files: { 'img/ref': `${ref}\n` } }] }] })),
  );
  for (const ref of IMAGES) await pushLayoutImage(reg, layout, ref.replace(/[/:]/g, '-'), ref);

  const chartDir = path.join(work, 'src', 'jupyterhub');
  await mkdir(path.join(chartDir, 'templates'), { recursive: true });
  await writeFile(path.join(chartDir, 'Chart.yaml'), stringifyYaml({ apiVersion: 'v2', name: 'jupyterhub', version: '4.3.1', appVersion: '5.4.2', kubeVersion: '>=1.32.0-0' }));
  await writeFile(
    path.join(chartDir, 'values.yaml'),
    stringifyYaml({
      hub: { image: { name: `${reg.host}/jupyterhub/k8s-hub`, tag: '4.3.1' } },
      singleuser: { image: { name: `${reg.host}/jupyterhub/k8s-singleuser-sample`, tag: '4.3.1' }, profileList: [] },
      scheduling: { userScheduler: { image: { name: `${reg.host}/kube-scheduler`, tag: 'v1.35.7' } } },
      prePuller: { pullProfileListImages: true, extraImages: {}, pause: { image: { name: `${reg.host}/pause`, tag: '3.10.2' } } },
    }),
  );
  await writeFile(path.join(chartDir, 'templates', 'hub.yaml'), HUB);
  await writeFile(path.join(chartDir, 'templates', 'image-puller.yaml'), PULLER);
  await writeFile(path.join(chartDir, 'templates', 'user-scheduler.yaml'), SCHEDULER);
  await writeRepoIndex(repoDir, [await packageChart(chartDir, repoDir)]);

  // the lab's values: its notebook image, and the profiles users pick
  await mkdir(path.join(work, 'lab'), { recursive: true });
  await writeFile(
    path.join(work, 'lab', 'jupyterhub-values.yaml'),
    stringifyYaml({
      singleuser: {
        image: { name: `${reg.host}/jupyter/scipy-notebook`, tag: '2025-10-20' },
        profileList: [
          { display_name: 'Minimal', default: true },
          { display_name: 'Data science', kubespawner_override: { image: `${reg.host}/jupyter/datascience-notebook:2025-10-20` } },
          {
            display_name: 'GPU',
            profile_options: { image: { display_name: 'Image', choices: { pytorch: { display_name: 'PyTorch', kubespawner_override: { image: `${reg.host}/jupyter/pytorch-notebook:cuda12-2025-10-20` } } } } },
          },
        ],
      },
      // MinIO's client on every node, for the notebooks' data jobs
      prePuller: { extraImages: { mc: { name: `${reg.host}/minio/mc`, tag: 'RELEASE.2025-08-13T08-35-41Z' } } },
    }),
  );
}, 120_000);

afterAll(async () => {
  await Promise.allSettled([reg?.stop(), charts?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
});

describe('JupyterHub 4.3 wants Kubernetes >=1.32: ferry rendered for v1.29.0', () => {
  const chart = () => path.join(work, 'src', 'jupyterhub');
  const values = () => path.join(work, 'lab', 'jupyterhub-values.yaml');

  it('charts images with no --kube-version: renders for the oldest version the chart accepts, says so, and finds the profileList images', async () => {
    const r = await runFerry(['charts', 'images', chart(), '-f', values(), '--json'], { cwd: work, env: env() });
    expect(r.code, r.stderr).toBe(0);
    const out = (JSON.parse(r.stdout) as { charts: Array<{ rendered?: { kubeVersion: string; warnings: string[] }; images: Array<{ ref: string; certainty: string }> }> }).charts[0];
    expect(out.rendered?.kubeVersion).toBe('v1.32.0');
    expect(out.rendered?.warnings.join('\n')).toContain('kubeVersion: >=1.32.0-0');
    expect(out.rendered?.warnings.join('\n')).toContain('--kube-version');
    const certain = out.images.filter((i) => i.certainty === 'certain').map((i) => i.ref);
    for (const ref of ['jupyter/scipy-notebook:2025-10-20', 'jupyter/datascience-notebook:2025-10-20', 'jupyter/pytorch-notebook:cuda12-2025-10-20', 'kube-scheduler:v1.33.9'])
      expect(certain).toContain(`${reg.host}/${ref}`);
  });

  it('charts images --kube-version the chart refuses: the hint names --kube-version and the range, not "fix the values"', async () => {
    const r = await runFerry(['charts', 'images', chart(), '--kube-version', 'v1.30.0'], { cwd: work, env: env() });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('kubeVersion: >=1.32.0-0');
    expect(r.stderr).toContain('--kube-version');
    expect(r.stderr).not.toContain('fix the values');
  });

  it('charts images --kube-version v1.34.0: the user-scheduler image follows the cluster version', async () => {
    const r = await runFerry(['charts', 'images', chart(), '--kube-version', 'v1.34.0', '--json'], { cwd: work, env: env() });
    expect(r.code, r.stderr).toBe(0);
    const out = (JSON.parse(r.stdout) as { charts: Array<{ rendered?: { warnings: string[] }; images: Array<{ ref: string; certainty: string }> }> }).charts[0];
    expect(out.rendered?.warnings ?? []).toEqual([]);
    expect(out.images.filter((i) => i.certainty === 'certain').map((i) => i.ref)).toContain(`${reg.host}/kube-scheduler:v1.35.7`);
  });

  it('lock with images: discover renders the chart (no values-only fallback) and carries the profileList images', async () => {
    const dir = path.join(work, 'lab');
    await writeManifest(path.join(dir, 'lab.yaml'), 'lab', { charts: [{ name: 'jupyterhub', repo: charts.url, version: '4.3.1', values: ['jupyterhub-values.yaml'] }] });
    const r = await runFerry(['lock', 'lab.yaml'], { cwd: dir, env: env() });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toContain('does not render');
    const lock = JSON.parse(await readFile(path.join(dir, 'lab.lock.json'), 'utf8')) as { images: Array<{ ref: string }> };
    const refs = lock.images.map((i) => i.ref);
    for (const ref of ['jupyterhub/k8s-hub:4.3.1', 'jupyter/scipy-notebook:2025-10-20', 'jupyter/datascience-notebook:2025-10-20', 'jupyter/pytorch-notebook:cuda12-2025-10-20', 'pause:3.10.2', 'kube-scheduler:v1.33.9', 'minio/mc:RELEASE.2025-08-13T08-35-41Z'])
      expect(refs).toContain(`${reg.host}/${ref}`);
  }, 120_000);
});

describe('the lab values rewritten to the mirror: the profileList images users pick', () => {
  const dir = () => path.join(work, 'lab');
  beforeAll(async () => {
    await writeFile(path.join(dir(), 'site.yaml'), stringifyYaml({ apiVersion: 'ferry/v1alpha1', kind: 'MirrorTarget', metadata: { name: 'lab' }, registry: { url: 'http://registry.lab.example:5000', prefix: 'lab' } }));
    await writeManifest(path.join(dir(), 'jh.yaml'), 'jh', { charts: [{ name: 'jupyterhub', repo: charts.url, version: '4.3.1', values: ['jupyterhub-values.yaml'] }] });
    const r = await runFerry(['lock', 'jh.yaml'], { cwd: dir(), env: env() });
    expect(r.code, r.stderr).toBe(0);
  }, 120_000);

  const mirror = (ref: string) => `registry.lab.example:5000/lab/${reg.host.replace(':', '-')}/${ref}`;

  it('rewrite values: the singleuser image ({name, tag}, as z2jh spells every image) moves with the profileList images', async () => {
    const r = await runFerry(['rewrite', 'values', 'jupyterhub-values.yaml', '--lock', 'jh.lock.json', '--target', 'site.yaml', '-o', 'jh-override.yaml'], { cwd: dir(), env: env() });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const o = parseYaml(await readFile(path.join(dir(), 'jh-override.yaml'), 'utf8')) as {
      singleuser: { image?: { name: string }; profileList: Array<{ kubespawner_override?: { image: string }; profile_options?: { image: { choices: { pytorch: { kubespawner_override: { image: string } } } } } }> };
    };
    expect(o.singleuser.image?.name).toBe(mirror('jupyter/scipy-notebook'));
    expect(o.singleuser.profileList[1].kubespawner_override?.image).toBe(mirror('jupyter/datascience-notebook:2025-10-20'));
    expect(o.singleuser.profileList[2].profile_options?.image.choices.pytorch.kubespawner_override.image).toBe(mirror('jupyter/pytorch-notebook:cuda12-2025-10-20'));
    expect((o as unknown as { prePuller: { extraImages: { mc: { name: string } } } }).prePuller.extraImages.mc.name).toBe(mirror('minio/mc'));
    // the warning names what the file does not set; the singleuser image is not among them
    expect(r.stderr).toContain('(from hub.image)');
    expect(r.stderr).not.toContain('(from singleuser.image)');
  });

  it('rewrite chart: the lab\'s values file is named as given, not under the chart directory', async () => {
    const r = await runFerry(['rewrite', 'chart', path.join(work, 'src', 'jupyterhub'), '-f', 'jupyterhub-values.yaml', '--lock', 'jh.lock.json', '--target', 'site.yaml', '-o', 'jh-chart-override.yaml'], { cwd: dir(), env: env() });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines.find((l) => l.includes('datascience-notebook'))).toMatch(/^jupyterhub-values\.yaml:\d+ /);
    expect(r.stdout).not.toContain(path.join('src', 'jupyterhub', 'jupyterhub-values.yaml'));
    const o = parseYaml(await readFile(path.join(dir(), 'jh-chart-override.yaml'), 'utf8')) as { singleuser: { image: { name: string } }; scheduling: { userScheduler: { image: { name: string } } } };
    expect(o.singleuser.image.name).toBe(mirror('jupyter/scipy-notebook'));
    expect(o.scheduling.userScheduler.image.name).toBe(mirror('kube-scheduler'));
  });
});


describe('the pre-pullers off: the hub spawns the notebook images no template names', () => {
  it('charts images calls the singleuser and profileList images certain, and lock carries them', async () => {
    const dir = path.join(work, 'lab');
    const lab = parseYaml(await readFile(path.join(dir, 'jupyterhub-values.yaml'), 'utf8')) as Record<string, Record<string, unknown>>;
    // a lab that does not pull multi-GB notebook images onto every node ahead of time
    lab.prePuller = { pullProfileListImages: false };
    await writeFile(path.join(dir, 'no-prepull-values.yaml'), stringifyYaml(lab));
    const r = await runFerry(['charts', 'images', path.join(work, 'src', 'jupyterhub'), '-f', 'no-prepull-values.yaml', '--json'], { cwd: dir, env: env() });
    expect(r.code, r.stderr).toBe(0);
    const images = (JSON.parse(r.stdout) as { charts: Array<{ images: Array<{ ref: string; certainty: string; sources: Array<{ reason?: string }> }> }> }).charts[0].images;
    const pytorch = images.find((i) => i.ref === `${reg.host}/jupyter/pytorch-notebook:cuda12-2025-10-20`);
    expect(pytorch?.certainty).toBe('certain');
    expect(pytorch?.sources.map((s) => s.reason ?? '').join(' ')).toContain('spawner');
    expect(images.find((i) => i.ref === `${reg.host}/jupyter/datascience-notebook:2025-10-20`)?.certainty).toBe('certain');

    await writeManifest(path.join(dir, 'noprepull.yaml'), 'noprepull', { charts: [{ name: 'jupyterhub', repo: charts.url, version: '4.3.1', values: ['no-prepull-values.yaml'] }] });
    const lock = await runFerry(['lock', 'noprepull.yaml'], { cwd: dir, env: env() });
    expect(lock.code, lock.stderr).toBe(0);
    const refs = (JSON.parse(await readFile(path.join(dir, 'noprepull.lock.json'), 'utf8')) as { images: Array<{ ref: string }> }).images.map((i) => i.ref);
    for (const ref of ['jupyter/datascience-notebook:2025-10-20', 'jupyter/pytorch-notebook:cuda12-2025-10-20']) expect(refs).toContain(`${reg.host}/${ref}`);
  }, 120_000);
});

describe('audit of the lab repository: z2jh {name, tag} image maps', () => {
  it('names the image, not the bare host quay.io', async () => {
    const dir = path.join(work, 'lab');
    await mkdir(path.join(dir, 'deploy-audit'), { recursive: true });
    await writeFile(path.join(dir, 'deploy-audit', 'values.yaml'), stringifyYaml({ prePuller: { extraImages: { mc: { name: 'quay.io/minio/mc', tag: 'RELEASE.2025-08-13T08-35-41Z' } } }, singleuser: { image: { name: 'quay.io/jupyter/base-notebook', tag: '2025-10-20' } } }));
    await writeManifest(path.join(dir, 'audit.yaml'), 'audit', { images: [] });
    const r = await runFerry(['audit', 'deploy-audit', '--manifest', 'audit.yaml', '--format', 'json', '--fail-on', 'unmapped'], { cwd: dir, env: env() });
    expect(r.code).toBe(5);
    const refs = (JSON.parse(r.stdout) as { findings: Array<{ value: string; kind: string }> }).findings;
    expect(refs.map((x) => `${x.kind} ${x.value}`).sort()).toEqual(['image quay.io/jupyter/base-notebook:2025-10-20', 'image quay.io/minio/mc:RELEASE.2025-08-13T08-35-41Z']);
  });
});

describe("a manifest chart says the cluster's Kubernetes version", () => {
  it('lock with kubeVersion: v1.34.0 carries the kube-scheduler the user-scheduler runs there; without it, lock says which version it rendered for', async () => {
    const dir = path.join(work, 'lab');
    await writeManifest(path.join(dir, 'k134.yaml'), 'k134', { charts: [{ name: 'jupyterhub', repo: charts.url, version: '4.3.1', kubeVersion: 'v1.34.0', values: ['jupyterhub-values.yaml'] }] });
    const r = await runFerry(['lock', 'k134.yaml'], { cwd: dir, env: env() });
    expect(r.code, r.stderr).toBe(0);
    const refs = (JSON.parse(await readFile(path.join(dir, 'k134.lock.json'), 'utf8')) as { images: Array<{ ref: string }> }).images.map((i) => i.ref);
    expect(refs).toContain(`${reg.host}/kube-scheduler:v1.35.7`);
    expect(refs).not.toContain(`${reg.host}/kube-scheduler:v1.33.9`);
    expect(r.stderr).not.toContain('rendered for Kubernetes');
    const d = await runFerry(['lock', 'lab.yaml'], { cwd: dir, env: env() });
    expect(d.code, d.stderr).toBe(0);
    expect(d.stderr).toContain('rendered for Kubernetes v1.32.0');
    expect(d.stderr).toContain('kubeVersion: on the chart');
  }, 120_000);
});
