import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { packageChart, startStaticServer, writeRepoIndex, type StaticServer } from '../support/chart-repo.js';
import { runFerry } from '../support/cli.js';
import { pushLayoutImage, skopeoDigest, writeOciLayout } from '../support/images.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';
import type { AuditReport } from '../../src/audit/audit.js';

/**
 * An Istio service mesh moved inside (new-user round 34): istiod and a gateway installed with Helm,
 * the site's values pointing `global.hub` at where the images come from, application namespaces
 * labelled `istio-injection: enabled` and a gateway Deployment written by hand with `image: auto`
 * (Istio's docs: "auto" is filled in by the injector). The engineer wrote a manifest with both
 * charts, ran `ferry lock`, `bundle create`, `import` into a loopback docker-registry, `rewrite
 * values` for istiod, `rewrite chart` for the gateway, then `ferry audit` of the app manifests.
 *
 * The charts are cut-down copies of istio/istio's manifests/charts (istio-control/istio-discovery and
 * gateway at master, read for this test): the pilot Deployment's image line, the injector ConfigMap
 * (templates/istiod-injector-configmap.yaml: `data.values` = the chart's values as JSON, `data.config`
 * = the injection templates from files/), the image lines of files/injection-template.yaml and
 * files/gateway-injection-template.yaml verbatim, and the gateway's `image: auto` Deployment. How
 * istiod composes `.ProxyImage` was read in pkg/kube/inject/inject.go (ProxyImage, imageURL).
 *
 * What tripped:
 * - the sidecar proxy istiod injects into every pod (`<global.hub>/<global.proxy.image>:<global.tag>`)
 *   was no image of the chart: `charts images` listed only pilot, plus a "possible"
 *   docker.io/library/proxyv2 for `global.proxy.image`; `lock` did not carry it, so every injected
 *   pod (and the gateway) would pull it from upstream.
 * - `rewrite values` on the istiod values (`global.hub`, `global.tag`) made 0 replacements: a hub is
 *   no image, so the file was left pointing upstream, and pilot was named as "not moved".
 * - `ferry audit` reported the gateway's `image: auto` as the Docker Hub image docker.io/library/auto,
 *   undeclared, and said nothing of the proxy every pod of an injection-labelled namespace gets.
 */

let work: string;
let up: RunningRegistry;
let site: RunningRegistry;
let charts: StaticServer;

const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRY_MIN_MS: '50', FERRY_RETRIES: '1' });

const ISTIOD_DEPLOYMENT = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: istiod
  namespace: {{ .Release.Namespace }}
spec:
  selector:
    matchLabels:
      app: istiod
  template:
    metadata:
      labels:
        app: istiod
        sidecar.istio.io/inject: "false"
    spec:
      containers:
        - name: discovery
{{- if contains "/" .Values.image }}
          image: "{{ .Values.image }}"
{{- else }}
          image: "{{ .Values.hub | default .Values.global.hub }}/{{ .Values.image | default "pilot" }}:{{ .Values.tag | default .Values.global.tag }}{{with (.Values.variant | default .Values.global.variant)}}-{{.}}{{end}}"
{{- end }}
`;

// templates/istiod-injector-configmap.yaml, the values and the two templates an install uses.
const INJECTOR_CONFIGMAP = `apiVersion: v1
kind: ConfigMap
metadata:
  name: istio-sidecar-injector{{- if not (eq .Values.revision "") }}-{{ .Values.revision }}{{- end }}
  namespace: {{ .Release.Namespace | quote }}
data:
{{/* Scope the values to just top level fields used in the template, to reduce the size. */}}
  values: |-
{{ $vals := pick .Values "global" "sidecarInjectorWebhook" "revision" -}}
{{ $pilotVals := pick .Values "cni" "env" -}}
{{ $vals = set $vals "pilot" $pilotVals -}}
{{ $vals | toPrettyJson | indent 4 }}
  config: |-
    defaultTemplates: [sidecar]
    policy: {{ .Values.global.proxy.autoInject }}
    template: {{ \`{{ Template_Version_And_Istio_Version_Mismatched_Check_Installation }}\` | quote }}
    templates:
{{- if not (hasKey .Values.sidecarInjectorWebhook.templates "sidecar") }}
      sidecar: |
{{ .Files.Get "files/injection-template.yaml" | trim | indent 8 }}
{{- end }}
{{- if not (hasKey .Values.sidecarInjectorWebhook.templates "gateway") }}
      gateway: |
{{ .Files.Get "files/gateway-injection-template.yaml" | trim | indent 8 }}
{{- end }}
`;

// The proxy container's image lines, as files/injection-template.yaml and gateway-injection-template.yaml write them.
const PROXY_CONTAINER = `  - name: istio-proxy
  {{- if contains "/" (annotation .ObjectMeta \`sidecar.istio.io/proxyImage\` .Values.global.proxy.image) }}
    image: {{ annotation .ObjectMeta \`sidecar.istio.io/proxyImage\` .Values.global.proxy.image | quote }}
  {{- else }}
    image: "{{ .ProxyImage }}"
  {{- end }}
`;

// files/injection-template.yaml, cut to the two containers' image lines (verbatim).
const SIDECAR_TEMPLATE = `spec:
  initContainers:
  {{ if ne (annotation .ObjectMeta \`sidecar.istio.io/interceptionMode\` .ProxyConfig.InterceptionMode) \`NONE\` }}
  - name: istio-init
  {{- if contains "/" (annotation .ObjectMeta \`sidecar.istio.io/proxyImage\` .Values.global.proxy_init.image) }}
    image: {{ annotation .ObjectMeta \`sidecar.istio.io/proxyImage\` .Values.global.proxy_init.image | quote }}
  {{- else }}
    image: "{{ .ProxyInitImage }}"
  {{- end }}
  {{ end -}}
  containers:
${PROXY_CONTAINER}`;

const GATEWAY_TEMPLATE = `spec:
  containers:
${PROXY_CONTAINER}`;

// manifests/charts/gateway/templates/deployment.yaml, cut to the pod.
const GATEWAY_DEPLOYMENT = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  selector:
    matchLabels:
      istio: {{ .Release.Name }}
  template:
    metadata:
      annotations:
        inject.istio.io/templates: "gateway"
      labels:
        sidecar.istio.io/inject: "true"
        istio: {{ .Release.Name }}
    spec:
      containers:
        - name: istio-proxy
          # "auto" will be populated at runtime by the mutating webhook. See https://istio.io/latest/docs/setup/additional-setup/sidecar-injection/#customizing-injection
          image: auto
`;

// The site's hand-written gateway and an application namespace, as Istio's docs write them.
const APPS = `apiVersion: v1
kind: Namespace
metadata:
  name: shop
  labels:
    istio-injection: enabled
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: shop-gateway
  namespace: shop
spec:
  selector:
    matchLabels:
      istio: shop-gateway
  template:
    metadata:
      annotations:
        inject.istio.io/templates: gateway
      labels:
        istio: shop-gateway
        sidecar.istio.io/inject: "true"
    spec:
      containers:
        - name: istio-proxy
          image: auto
`;

const TAG = '1.28.0';
const hub = () => `${up.host}/istio`;
const PILOT = () => `${hub()}/pilot:${TAG}`;
const PROXY = () => `${hub()}/proxyv2:${TAG}`;
const MIRROR_HUB = () => `${site.host}/ferry/${up.host.replace(':', '-')}/istio`;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-newuser34-'));
  const repoDir = path.join(work, 'repo');
  await mkdir(repoDir, { recursive: true });
  [up, site, charts] = await Promise.all([startRegistry({ mode: 'http' }), startRegistry({ mode: 'http' }), startStaticServer(repoDir)]);
  const layout = path.join(work, 'layout');
  await writeOciLayout(layout, ['pilot', 'proxyv2'].map((name) => ({ name, platforms: [{ architecture: 'amd64', layers: [{ files: { 'usr/local/bin/name': `${name}\n` } }] }] })));
  for (const name of ['pilot', 'proxyv2']) await pushLayoutImage(up, layout, name, `istio/${name}:${TAG}`);

  const istiod = path.join(work, 'src', 'istiod');
  await mkdir(path.join(istiod, 'templates'), { recursive: true });
  await mkdir(path.join(istiod, 'files'), { recursive: true });
  await writeFile(path.join(istiod, 'Chart.yaml'), stringifyYaml({ apiVersion: 'v2', name: 'istiod', version: TAG, appVersion: TAG }));
  await writeFile(
    path.join(istiod, 'values.yaml'),
    stringifyYaml({
      hub: '',
      tag: '',
      variant: '',
      image: 'pilot',
      revision: '',
      cni: { enabled: false },
      env: {},
      sidecarInjectorWebhook: { templates: {} },
      global: { hub: 'docker.io/istio', tag: TAG, variant: '', proxy: { image: 'proxyv2', autoInject: 'enabled' }, proxy_init: { image: 'proxyv2' } },
    }),
  );
  await writeFile(path.join(istiod, 'templates', 'deployment.yaml'), ISTIOD_DEPLOYMENT);
  await writeFile(path.join(istiod, 'templates', 'istiod-injector-configmap.yaml'), INJECTOR_CONFIGMAP);
  await writeFile(path.join(istiod, 'files', 'injection-template.yaml'), SIDECAR_TEMPLATE);
  await writeFile(path.join(istiod, 'files', 'gateway-injection-template.yaml'), GATEWAY_TEMPLATE);

  const gateway = path.join(work, 'src', 'gateway');
  await mkdir(path.join(gateway, 'templates'), { recursive: true });
  await writeFile(path.join(gateway, 'Chart.yaml'), stringifyYaml({ apiVersion: 'v2', name: 'gateway', version: TAG, appVersion: TAG }));
  await writeFile(path.join(gateway, 'values.yaml'), stringifyYaml({ imagePullPolicy: '' }));
  await writeFile(path.join(gateway, 'templates', 'deployment.yaml'), GATEWAY_DEPLOYMENT);
  await writeRepoIndex(repoDir, [await packageChart(istiod, repoDir), await packageChart(gateway, repoDir)]);

  const mesh = path.join(work, 'mesh');
  await mkdir(path.join(mesh, 'apps'), { recursive: true });
  // The site's istiod values: the images come from its hub (here the loopback "upstream").
  await writeFile(path.join(mesh, 'istiod-values.yaml'), `global:\n  hub: ${hub()}\n  tag: ${TAG}\n  logAsJson: true\n`);
  await writeFile(path.join(mesh, 'apps', 'shop.yaml'), APPS);
  await writeFile(
    path.join(mesh, 'mesh.yaml'),
    stringifyYaml({
      apiVersion: 'ferry/v1alpha1',
      kind: 'Manifest',
      metadata: { name: 'mesh' },
      charts: [
        { name: 'istiod', repo: charts.url, version: TAG, values: ['istiod-values.yaml'] },
        { name: 'gateway', repo: charts.url, version: TAG },
      ],
    }),
  );
  await writeFile(path.join(mesh, 'site.yaml'), ['apiVersion: ferry/v1alpha1', 'kind: MirrorTarget', 'metadata: { name: site }', 'registry:', `  url: http://${site.host}`, '  prefix: ferry', ''].join('\n'));
}, 120_000);

afterAll(async () => {
  await Promise.allSettled([up?.stop(), site?.stop(), charts?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
});

type Lock = { images: Array<{ ref: string }>; charts: Array<{ name: string; images: string[]; injects?: string[]; imageValues?: Record<string, Array<{ path: string; prefix?: boolean }>> }> };
const mesh = () => path.join(work, 'mesh');

describe('an Istio mesh air-gapped: istiod, its injected sidecar proxy, a gateway with image: auto', () => {
  it('charts images names the proxy istiod injects as a certain image of istiod, composed from its values, and global.proxy.image as no image of its own', async () => {
    const r = await runFerry(['charts', 'images', path.join(work, 'src', 'istiod'), '-f', path.join(mesh(), 'istiod-values.yaml'), '--json'], { cwd: work, env: env() });
    expect(r.code, r.stderr).toBe(0);
    const out = (JSON.parse(r.stdout) as { charts: Array<{ injects?: string[]; images: Array<{ ref: string; certainty: string; sources: Array<{ resource?: string; fieldPath?: string; reason?: string }> }> }> }).charts[0];
    const certain = out.images.filter((i) => i.certainty === 'certain').map((i) => i.ref);
    expect(certain.sort()).toEqual([PILOT(), PROXY()].sort());
    const proxy = out.images.find((i) => i.ref === PROXY())!;
    expect(proxy.sources[0].resource).toContain('ConfigMap');
    expect(proxy.sources[0].reason).toContain("Istio's sidecar injector");
    expect(out.injects).toEqual([PROXY()]);
    expect(out.images.map((i) => i.ref)).not.toContain('docker.io/library/proxyv2');

    // the variant and a full image in global.proxy.image are composed as istiod composes them
    const v = await runFerry(['charts', 'images', path.join(work, 'src', 'istiod'), '--set', 'global.variant=distroless', '--set', 'global.proxy_init.image=registry.example/istio/init:2', '--json'], { cwd: work, env: env() });
    expect(v.code, v.stderr).toBe(0);
    const refs = (JSON.parse(v.stdout) as { charts: Array<{ images: Array<{ ref: string; certainty: string }> }> }).charts[0].images.filter((i) => i.certainty === 'certain').map((i) => i.ref);
    expect(refs).toContain(`docker.io/istio/proxyv2:${TAG}-distroless`);
    expect(refs).toContain('registry.example/istio/init:2');
  });

  it('charts images on the gateway says its image: auto is filled in by the injector, in text too', async () => {
    const r = await runFerry(['charts', 'images', path.join(work, 'src', 'gateway')], { cwd: work, env: env() });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("filled in by Istio's sidecar injector (inject.istio.io/templates: gateway)");
    expect(r.stdout).not.toContain('docker.io/library/auto');
  });

  it('lock carries the injected proxy, bundle create and import put it on the mirror', async () => {
    const l = await runFerry(['lock', 'mesh.yaml'], { cwd: mesh(), env: env() });
    expect(l.code, l.stderr).toBe(0);
    const lock = JSON.parse(await readFile(path.join(mesh(), 'mesh.lock.json'), 'utf8')) as Lock;
    expect(lock.images.map((i) => i.ref).sort()).toEqual([PILOT(), PROXY()].sort());
    const istiod = lock.charts.find((c) => c.name === 'istiod')!;
    expect(istiod.injects).toEqual([PROXY()]);
    // both are composed from global.hub: the key rewrite values sets
    expect(istiod.imageValues?.[PROXY()]).toEqual([{ path: 'global.hub', prefix: true }]);
    expect(istiod.imageValues?.[PILOT()]).toEqual([{ path: 'global.hub', prefix: true }]);
    expect(lock.charts.find((c) => c.name === 'gateway')!.images).toEqual([]);

    const b = await runFerry(['bundle', 'create', 'mesh.yaml', '-o', 'mesh.ferry.tar', '--frozen'], { cwd: mesh(), env: env() });
    expect(b.code, b.stderr).toBe(0);
    const i = await runFerry(['import', 'mesh.ferry.tar', '--target', 'site.yaml'], { cwd: mesh(), env: env() });
    expect(i.code, i.stderr).toBe(0);
    for (const name of ['pilot', 'proxyv2']) expect(await skopeoDigest(site, `${MIRROR_HUB()}/${name}:${TAG}`)).toBe(await skopeoDigest(up, `${hub()}/${name}:${TAG}`));
  }, 120_000);

  it('rewrite values sets global.hub to the mirror, and istiod rendered with it runs pilot and injects the proxy from the mirror', async () => {
    const r = await runFerry(['rewrite', 'values', 'istiod-values.yaml', '--lock', 'mesh.lock.json', '--target', 'site.yaml', '-o', 'istiod-mirror.yaml'], { cwd: mesh(), env: env() });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toContain('not moved');
    const override = parseYaml(await readFile(path.join(mesh(), 'istiod-mirror.yaml'), 'utf8')) as { global: { hub: string } };
    expect(override.global.hub).toBe(MIRROR_HUB());
    const c = await runFerry(['charts', 'images', path.join(work, 'src', 'istiod'), '-f', 'istiod-values.yaml', '-f', 'istiod-mirror.yaml', '--json'], { cwd: mesh(), env: env() });
    expect(c.code, c.stderr).toBe(0);
    const rendered = (JSON.parse(c.stdout) as { charts: Array<{ images: Array<{ ref: string; certainty: string }> }> }).charts[0].images.filter((i) => i.certainty === 'certain').map((i) => i.ref);
    expect(rendered.sort()).toEqual([`${MIRROR_HUB()}/pilot:${TAG}`, `${MIRROR_HUB()}/proxyv2:${TAG}`]);
    // and the mirror serves both
    for (const ref of rendered) expect(await skopeoDigest(site, ref)).toMatch(/^sha256:/);
  });

  it('rewrite chart on istiod proves the injected proxy too: one the lock does not carry is named and refused', async () => {
    const ok = await runFerry(['rewrite', 'chart', path.join(work, 'src', 'istiod'), '-f', 'istiod-values.yaml', '--lock', 'mesh.lock.json', '--target', 'site.yaml', '-o', 'istiod-chart.yaml'], { cwd: mesh(), env: env() });
    expect(ok.code, ok.stderr).toBe(0);
    await writeFile(path.join(mesh(), 'custom-proxy.yaml'), `global:\n  hub: ${hub()}\n  tag: ${TAG}\n  proxy:\n    image: ${up.host}/acme/proxy:9\n`);
    const bad = await runFerry(['rewrite', 'chart', path.join(work, 'src', 'istiod'), '-f', 'custom-proxy.yaml', '--lock', 'mesh.lock.json', '--target', 'site.yaml', '-o', 'custom-chart.yaml'], { cwd: mesh(), env: env() });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain(`${up.host}/acme/proxy:9`);
    expect(bad.stderr).toContain('istiod-injector-configmap.yaml');
  });

  it("audit names the gateway's image: auto and the injection-labelled namespace as the proxy istiod injects, on the mirror", async () => {
    const r = await runFerry(['audit', 'apps', '--manifest', 'mesh.yaml', '--target', 'site.yaml', '--format', 'json'], { cwd: mesh(), env: env() });
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as AuditReport;
    const images = report.findings.filter((f) => f.kind === 'image');
    expect(images.map((f) => f.value)).not.toContain('auto');
    const gw = images.find((f) => f.keyPath === 'spec.template.spec.containers[0].image')!;
    expect(gw.value).toBe(PROXY());
    expect(gw.class).toBe('mirrored');
    expect(gw.note).toContain("filled in at admission by Istio's sidecar injector (inject.istio.io/templates: gateway)");
    expect(gw.note).toContain("from istiod's values");
    const ns = images.find((f) => f.keyPath === 'metadata.labels.istio-injection')!;
    expect(ns.value).toBe(PROXY());
    expect(ns.note).toContain('Namespace shop labelled istio-injection: enabled');
  });

  it('audit with a lock that has no istiod: the placeholder is unknown (undeclared, said so), never a Docker Hub image called clean', async () => {
    const dir = path.join(work, 'no-istiod');
    await mkdir(path.join(dir, 'apps'), { recursive: true });
    await writeFile(path.join(dir, 'apps', 'shop.yaml'), APPS);
    await writeFile(path.join(dir, 'm.yaml'), stringifyYaml({ apiVersion: 'ferry/v1alpha1', kind: 'Manifest', metadata: { name: 'm' }, charts: [{ name: 'gateway', repo: charts.url, version: TAG }] }));
    await writeFile(path.join(dir, 'site.yaml'), await readFile(path.join(mesh(), 'site.yaml')));
    expect((await runFerry(['lock', 'm.yaml'], { cwd: dir, env: env() })).code).toBe(0);
    const r = await runFerry(['audit', 'apps', '--manifest', 'm.yaml', '--target', 'site.yaml', '--format', 'json'], { cwd: dir, env: env() });
    const report = JSON.parse(r.stdout) as AuditReport;
    const gw = report.findings.find((f) => f.keyPath === 'spec.template.spec.containers[0].image')!;
    expect(gw.class).toBe('undeclared');
    expect(gw.note).toContain('which proxy image is unknown');
  });
});
