import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { packageChart, startStaticServer, writeRepoIndex, type StaticServer } from '../support/chart-repo.js';
import { runFerry } from '../support/cli.js';
import { pushLayoutImage, skopeoDigest, writeOciLayout } from '../support/images.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';

/**
 * A monitoring stack carried inside (new-user round 49): prometheus-community's node-exporter and
 * blackbox-exporter charts from their chart repository, the node exporter deployed with a values
 * file that switches its kube-rbac-proxy sidecar on, imported into the site's Distribution registry,
 * then `rewrite chart`, `rewrite values` and `report`.
 *
 * The chart here has node-exporter's image shape (values.yaml `image: {registry, repository, tag}`,
 * `global.imageRegistry` read first by the image helper, a `kubeRBACProxy.enabled` sidecar).
 *
 * What tripped:
 * - `ferry report … -o out/report.html` with no `out/` failed with "unexpected error: ENOENT …
 *   report.html.partial / This is a bug in ferry", where every other `-o` (mirror-config, rewrite,
 *   convert) makes the directory.
 * - the override `rewrite chart -f node-exporter.yaml --set …` writes says "Pass it last: helm install …
 *   -f <this file>": it is proven with those values only (the file switches the sidecar on, a `--set
 *   image.registry` makes `global.imageRegistry` the key to set), and did not say so.
 * - its report line for a key that had no value read `daemonset.yaml:100   → <mirror>` (nothing
 *   before the arrow); `rewrite values` on a file naming no chart image suggested
 *   `rewrite chart <the <name> chart directory or .tgz>`.
 */

let work: string;
let up: RunningRegistry;
let site: RunningRegistry;
let charts: StaticServer;

const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRY_MIN_MS: '50', FERRY_RETRIES: '1' });
const job = () => path.join(work, 'job');

const HELPERS = `{{- define "exporter.image" -}}
{{- $registry := .root.Values.global.imageRegistry | default .image.registry -}}
{{ printf "%s/%s:%s" $registry .image.repository .image.tag }}
{{- end -}}
`;

const DAEMONSET = `apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: {{ .Release.Name }}-node-exporter
spec:
  selector:
    matchLabels: { app: node-exporter }
  template:
    metadata:
      labels: { app: node-exporter }
    spec:
      containers:
        - name: node-exporter
          image: {{ include "exporter.image" (dict "root" . "image" .Values.image) }}
{{- if .Values.kubeRBACProxy.enabled }}
        - name: kube-rbac-proxy
          image: {{ include "exporter.image" (dict "root" . "image" .Values.kubeRBACProxy.image) }}
{{- end }}
`;

const BLACKBOX = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-blackbox
spec:
  selector:
    matchLabels: { app: blackbox }
  template:
    metadata:
      labels: { app: blackbox }
    spec:
      containers:
        - name: blackbox
          image: {{ .Values.image.registry }}/{{ .Values.image.repository }}:{{ .Values.image.tag }}
`;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-newuser49-'));
  const repoDir = path.join(work, 'repo');
  await mkdir(repoDir, { recursive: true });
  [up, site, charts] = await Promise.all([startRegistry({ mode: 'http' }), startRegistry({ mode: 'http' }), startStaticServer(repoDir)]);
  const layout = path.join(work, 'layout');
  const names = ['node-exporter', 'kube-rbac-proxy', 'blackbox-exporter'];
  await writeOciLayout(layout, names.map((name) => ({ name, platforms: [{ architecture: 'amd64', layers: [{ files: { 'bin/name': `${name}\n` } }] }] })));
  for (const name of names) await pushLayoutImage(up, layout, name, `prometheus/${name}:v1`);

  const ne = path.join(work, 'src', 'prometheus-node-exporter');
  await mkdir(path.join(ne, 'templates'), { recursive: true });
  await writeFile(path.join(ne, 'Chart.yaml'), stringifyYaml({ apiVersion: 'v2', name: 'prometheus-node-exporter', version: '4.56.1', appVersion: '1.12.1' }));
  await writeFile(
    path.join(ne, 'values.yaml'),
    stringifyYaml({
      global: { imageRegistry: '' },
      image: { registry: up.host, repository: 'prometheus/node-exporter', tag: 'v1' },
      kubeRBACProxy: { enabled: false, image: { registry: up.host, repository: 'prometheus/kube-rbac-proxy', tag: 'v1' } },
    }),
  );
  await writeFile(path.join(ne, 'templates', '_helpers.tpl'), HELPERS);
  await writeFile(path.join(ne, 'templates', 'daemonset.yaml'), DAEMONSET);
  const bb = path.join(work, 'src', 'prometheus-blackbox-exporter');
  await mkdir(path.join(bb, 'templates'), { recursive: true });
  await writeFile(path.join(bb, 'Chart.yaml'), stringifyYaml({ apiVersion: 'v2', name: 'prometheus-blackbox-exporter', version: '11.17.2', appVersion: 'v1' }));
  await writeFile(path.join(bb, 'values.yaml'), stringifyYaml({ image: { registry: up.host, repository: 'prometheus/blackbox-exporter', tag: 'v1' } }));
  await writeFile(path.join(bb, 'templates', 'deployment.yaml'), BLACKBOX);
  await writeRepoIndex(repoDir, [await packageChart(ne, repoDir), await packageChart(bb, repoDir)]);

  await mkdir(path.join(job(), 'values'), { recursive: true });
  await writeFile(path.join(job(), 'values', 'node-exporter.yaml'), 'kubeRBACProxy:\n  enabled: true\n');
  await writeFile(path.join(job(), 'values', 'alerting.yaml'), 'rules:\n  - alert: NodeDown\n');
  await writeFile(
    path.join(job(), 'monitoring.yaml'),
    stringifyYaml({
      apiVersion: 'ferry/v1alpha1',
      kind: 'Manifest',
      metadata: { name: 'monitoring' },
      charts: [
        { name: 'prometheus-node-exporter', repo: charts.url, version: '4.x', values: ['values/node-exporter.yaml'] },
        { name: 'prometheus-blackbox-exporter', repo: charts.url, version: '11.17.2' },
      ],
    }),
  );
  await writeFile(path.join(job(), 'site.yaml'), ['apiVersion: ferry/v1alpha1', 'kind: MirrorTarget', 'metadata: { name: site }', 'registry:', `  url: http://${site.host}`, '  prefix: mirror', 'charts: { dir: ./www/charts, baseUrl: http://charts.site.internal }', ''].join('\n'));

  for (const args of [['lock', 'monitoring.yaml'], ['bundle', 'create', 'monitoring.yaml', '-o', 'monitoring.ferry.tar', '--frozen'], ['import', 'monitoring.ferry.tar', '--target', 'site.yaml']]) {
    const r = await runFerry(args, { cwd: job(), env: env() });
    if (r.code !== 0) throw new Error(`ferry ${args.join(' ')}: ${r.code}\n${r.stderr}`);
  }
}, 180_000);

afterAll(async () => {
  await Promise.allSettled([up?.stop(), site?.stop(), charts?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
});

const mirrorOf = (name: string) => `${site.host}/mirror/${up.host.replace(':', '-')}/prometheus/${name}:v1`;

describe('a monitoring stack air-gapped: node-exporter with its sidecar switched on, blackbox-exporter', () => {
  it('import put the three images on the site registry with the upstream digests', async () => {
    for (const name of ['node-exporter', 'kube-rbac-proxy', 'blackbox-exporter']) expect(await skopeoDigest(site, mirrorOf(name))).toBe(await skopeoDigest(up, `${up.host}/prometheus/${name}:v1`));
  });

  it('rewrite chart: the override names the values files and --set flags it was proven with, and a key set from nothing is named', async () => {
    const tgz = path.join(job(), 'www', 'charts', 'prometheus-node-exporter-4.56.1.tgz');
    const r = await runFerry(['rewrite', 'chart', tgz, '-f', 'values/node-exporter.yaml', '--set', `image.registry=${up.host}`, '-t', 'site.yaml', '--bundle', 'monitoring.ferry.tar', '-o', 'ne-override.yaml'], { cwd: job(), env: env() });
    expect(r.code, r.stderr).toBe(0);
    const text = await readFile(path.join(job(), 'ne-override.yaml'), 'utf8');
    expect(text).toContain('helm install … -f values/node-exporter.yaml -f <this file>');
    expect(text).toContain('with the same --set flags');
    // the --set value is not copied into the file (it may be a secret)
    expect(text.split('\n').filter((l) => l.startsWith('#')).join('\n')).not.toContain(`image.registry=${up.host}`);
    // --set image.registry beats any -f: the override moves both images through global.imageRegistry
    expect(parseYaml(text)).toMatchObject({ global: { imageRegistry: `${site.host}/mirror/${up.host.replace(':', '-')}` } });
    expect(r.stdout + r.stderr).toMatch(/templates\/daemonset\.yaml:\d+ {2}global\.imageRegistry \(not set\) → /);

    // rendered as the comment says (the file, the same --set, the override last): both containers from the mirror
    const args = (...more: string[]) => ['charts', 'images', tgz, '-f', 'values/node-exporter.yaml', '--set', `image.registry=${up.host}`, ...more, '--json'];
    const certain = async (more: string[]) => {
      const x = await runFerry(args(...more), { cwd: job(), env: env() });
      expect(x.code, x.stderr).toBe(0);
      return (JSON.parse(x.stdout) as { charts: Array<{ images: Array<{ ref: string; certainty: string }> }> }).charts[0].images.filter((i) => i.certainty === 'certain').map((i) => i.ref).sort();
    };
    expect(await certain(['-f', 'ne-override.yaml'])).toEqual([mirrorOf('kube-rbac-proxy'), mirrorOf('node-exporter')]);
  });

  it('rewrite values on a file that names no chart image points at rewrite chart without a nested placeholder', async () => {
    const r = await runFerry(['rewrite', 'values', 'values/alerting.yaml', '-t', 'site.yaml', '--lock', 'monitoring.lock.json', '-o', 'alerting-override.yaml'], { cwd: job(), env: env() });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('names none of the images the lock pins for its charts');
    expect(r.stderr).toContain('`ferry rewrite chart <the chart directory or .tgz> -f alerting.yaml` instead, with the chart this file deploys');
    expect(r.stderr).not.toContain('<the <');
    expect(await readFile(path.join(job(), 'alerting-override.yaml'), 'utf8')).toContain('# Pass it last: helm install … -f alerting.yaml -f <this file>');
  });

  it('report -o into a directory that does not exist yet makes it, and leaves no temporary file', async () => {
    const r = await runFerry(['report', 'monitoring.yaml', '--bundle', 'monitoring.ferry.tar', '-o', 'out/site-a/report.html'], { cwd: job(), env: env() });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr + r.stdout).not.toContain('unexpected error');
    const html = await readFile(path.join(job(), 'out', 'site-a', 'report.html'), 'utf8');
    expect(html).toContain('prometheus-node-exporter');
    expect(await readdir(path.join(job(), 'out', 'site-a'))).toEqual(['report.html']);
  });
});
