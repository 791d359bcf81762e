import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { packageChart, startStaticServer, writeHelmLayout, type StaticServer } from '../support/chart-repo.js';
import { lockBundleImport } from '../support/gitops-charts.js';
import { mustRun, mustRunFerry, runFerry } from '../support/cli.js';
import { BASE_FILES, pushLayoutImage, writeOciLayout } from '../support/images.js';
import { skopeoEnv, startRegistry, type RunningRegistry } from '../support/registry.js';

/**
 * audit66 (newuser65's edge k3s job): HelmChart CRs as found on the node, audited with the bundle,
 * no registries.yaml in the scan. A chart (pushed as OCI to a Distribution registry standing for
 * quay.io) composes its images as cert-manager does: `image.repository` when set, else
 * `imageRegistry/imageNamespace/<name>`, the tag `image.tag` or the chart's appVersion.
 *
 * - An untagged `image.repository` in `valuesContent` is the image the audit's own render of that
 *   release pulls (the appVersion tag, carried): classed as the rendered image is, its note naming
 *   the tag; it was `undeclared` ("which tag is pulled is unknown here") beside the rendered image
 *   `mirrored`.
 * - `system-default-registry: <mirror host:port>` (config.yaml) is reported as written, with the port,
 *   and classed by host and port.
 * - `rewrite manifests`' text report prints the line an added key is written at, and its key path.
 */
let work: string;
let up: RunningRegistry;
let site: RunningRegistry;
let siteCharts: StaticServer;
let U: string;
let SITE: string;
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRIES: '0', FERRY_RETRY_MIN_MS: '10' });
const ferry = (args: string[]) => mustRunFerry(args, { cwd: work, env: env() });

type Finding = { class: string; kind: string; value: string; file: string; line: number; keyPath?: string; note?: string; mirror?: string };
async function audit(dir: string): Promise<Finding[]> {
  const r = await runFerry(['audit', dir, '--bundle', 'gitops.ferry.tar', '-t', 'site.yaml', '--json'], { cwd: work, env: env() });
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { findings: Finding[] }).findings;
}

const helmChart = (valuesContent: string[], chart = 'cm') =>
  [
    'apiVersion: helm.cattle.io/v1',
    'kind: HelmChart',
    'metadata:',
    `  name: ${chart}`,
    '  namespace: kube-system',
    'spec:',
    `  chart: oci://${U}/charts/${chart}`,
    '  version: 1.0.0',
    '  targetNamespace: cm',
    '  valuesContent: |-',
    ...valuesContent.map((l) => `    ${l}`),
    '',
  ].join('\n');

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-audit66-'));
  up = await startRegistry({ mode: 'http' });
  site = await startRegistry({ mode: 'http' });
  U = up.host;
  SITE = `localhost:${site.host.split(':')[1]}`;
  const names = ['controller', 'webhook', 'cainjector'];
  const layout = path.join(work, 'imgs');
  await writeOciLayout(layout, names.map((n) => ({ name: n, platforms: [{ architecture: 'amd64', layers: [{ files: BASE_FILES }, { files: { [`app/${n}`]: n } }] }] })));
  for (const n of names) await pushLayoutImage(up, layout, n, `jetstack/${n}:v1.0`);

  const src = path.join(work, 'src', 'cm');
  await mkdir(path.join(src, 'templates'), { recursive: true });
  await writeFile(path.join(src, 'Chart.yaml'), 'apiVersion: v2\nname: cm\nversion: 1.0.0\nappVersion: v1.0\n');
  await writeFile(
    path.join(src, 'values.yaml'),
    `imageRegistry: ${U}\nimageNamespace: jetstack\nimage:\n  name: controller\n  repository: ""\n  tag: ""\nwebhook:\n  image:\n    name: webhook\n    repository: ""\n    tag: ""\ncainjector:\n  image:\n    name: cainjector\n    repository: ""\n    tag: ""\n`,
  );
  await writeFile(
    path.join(src, 'templates', '_helpers.tpl'),
    '{{- define "cm.image" -}}\n{{- $i := index . 0 -}}{{- $v := index . 1 -}}\n{{- if $i.repository }}{{ $i.repository }}{{ else }}{{ $v.imageRegistry }}/{{ $v.imageNamespace }}/{{ $i.name }}{{ end }}:{{ $i.tag | default (index . 2) }}\n{{- end -}}\n',
  );
  const deploy = (n: string, at: string) =>
    `apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: {{ .Release.Name }}-${n} }\nspec:\n  selector: { matchLabels: { app: ${n} } }\n  template:\n    metadata: { labels: { app: ${n} } }\n    spec:\n      containers:\n        - name: ${n}\n          image: "{{ template "cm.image" (tuple ${at} .Values .Chart.AppVersion) }}"\n`;
  await writeFile(path.join(src, 'templates', 'controller.yaml'), deploy('controller', '.Values.image'));
  await writeFile(path.join(src, 'templates', 'webhook.yaml'), deploy('webhook', '.Values.webhook.image'));
  await writeFile(path.join(src, 'templates', 'cainjector.yaml'), deploy('cainjector', '.Values.cainjector.image'));
  await writeHelmLayout(path.join(work, 'hl'), await packageChart(src, path.join(work, 'oci')), 'cm');
  await mustRun('skopeo', ['copy', '--dest-tls-verify=false', `oci:${path.join(work, 'hl')}:cm`, `docker://${U}/charts/cm:1.0.0`], { env: skopeoEnv() });
  await mkdir(path.join(work, 'site-charts'));
  siteCharts = await startStaticServer(path.join(work, 'site-charts'));
  await writeFile(path.join(work, 'manifest.yaml'), ['apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata: { name: edge }', 'charts:', `  - { name: cm, repo: "oci://${U}/charts", version: "1.0.0" }`, ''].join('\n'));
  await lockBundleImport(work, SITE, siteCharts.port, (args) => ferry(args));
}, 300_000);

afterAll(async () => {
  await siteCharts?.stop();
  await up?.stop();
  await site?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('audit66: HelmChart values as found, system-default-registry, the rewrite report', () => {
  it('an untagged image.repository the render resolves to a carried tag is classed as the rendered image, naming the tag', async () => {
    const dir = path.join(work, 'found', 'manifests');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'cm.yaml'), helmChart(['image:', `  repository: ${U}/jetstack/controller`, 'webhook:', '  image:', `    repository: ${U}/jetstack/webhook`, '    tag: v9.9']));
    const findings = await audit('found');
    const at = (keyPath: string) => findings.filter((f) => f.file === 'found/manifests/cm.yaml' && f.keyPath === keyPath);
    const rendered = findings.find((f) => f.value === `${U}/jetstack/controller:v1.0` && f.keyPath?.startsWith('spec.template'));
    expect(rendered?.class).toBe('mirrored');
    const [untagged] = at('spec.valuesContent.image');
    expect(untagged.value).toBe(`${U}/jetstack/controller`);
    expect(untagged.line).toBe(12);
    expect(untagged.class).toBe(rendered!.class);
    expect(untagged.mirror).toBe(rendered!.mirror);
    expect(untagged.note).toContain(`${U}/jetstack/controller:v1.0`);
    expect(untagged.note).not.toContain('which tag is pulled is unknown');
    // A tag written beside it is what it is: not carried, never taken from the render.
    const [tagged] = at('spec.valuesContent.webhook.image');
    expect(tagged.value).toBe(`${U}/jetstack/webhook:v9.9`);
    expect(tagged.class).not.toBe('mirrored');
  });

  it('the render decides the tag only where it renders that repository; without a render the tag stays unknown', async () => {
    const dir = path.join(work, 'other', 'manifests');
    await mkdir(dir, { recursive: true });
    // The chart renders image.repository at its appVersion, a tag the lock does not carry for this repository.
    await writeFile(path.join(dir, 'cm.yaml'), helmChart(['image:', `  repository: ${U}/jetstack/other`]));
    // A chart the lock does not carry is not rendered: which tag the controller image gets is unknown.
    await writeFile(path.join(dir, 'gone.yaml'), helmChart(['image:', `  repository: ${U}/jetstack/controller`], 'gone'));
    const findings = (await audit('other')).filter((x) => x.keyPath === 'spec.valuesContent.image');
    const other = findings.find((f) => f.file.endsWith('cm.yaml'))!;
    expect(other.value).toBe(`${U}/jetstack/other`);
    // Not carried: classed as that image is, as any upstream reference (here a loopback host, so internal; never mirrored).
    expect(other.class).not.toBe('mirrored');
    expect(other.note).toContain(`pulls ${U}/jetstack/other:v1.0`);
    const gone = findings.find((f) => f.file.endsWith('gone.yaml'))!;
    expect(gone.value).toBe(`${U}/jetstack/controller`);
    expect(gone.class).toBe('undeclared');
    expect(gone.note).toContain('which tag is pulled is unknown');
  });

  it('system-default-registry is reported as written, host and port, and classed by both', async () => {
    const dir = path.join(work, 'node', 'etc', 'rancher', 'k3s');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'config.yaml'), `system-default-registry: ${SITE}\n`);
    const other = path.join(work, 'node2', 'etc', 'rancher', 'k3s');
    await mkdir(other, { recursive: true });
    await writeFile(path.join(other, 'config.yaml'), `system-default-registry: localhost:1\n`);
    const [mine] = (await audit('node')).filter((f) => f.keyPath === 'system-default-registry');
    expect(mine.value).toBe(SITE);
    expect(mine.class).toBe('internal');
    expect(mine.note).toContain(`${SITE}/rancher/<name>`);
    const [elsewhere] = (await audit('node2')).filter((f) => f.keyPath === 'system-default-registry');
    expect(elsewhere.value).toBe('localhost:1');
    expect(elsewhere.note ?? '').not.toContain('mirror target');
  });

  it('rewrite manifests prints the line an added key is written at, and its key path', async () => {
    const dir = path.join(work, 'rw', 'manifests');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'cm.yaml'), helmChart(['image:', `  repository: ${U}/jetstack/controller`]));
    const r = await mustRunFerry(['rewrite', 'manifests', 'rw/manifests', '-t', 'site.yaml', '--bundle', 'gitops.ferry.tar'], { cwd: work, env: env() });
    const text = await readFile(path.join(dir, 'cm.yaml'), 'utf8');
    const lines = text.split('\n');
    const values = parseYaml((parseYaml(text) as { spec: { valuesContent: string } }).spec.valuesContent) as Record<string, unknown>;
    expect(values.imageRegistry).toBe(`${SITE}/mirror/${U.replace(':', '-')}`);
    const added = lines.findIndex((l) => /^ {4}imageRegistry: /.test(l)) + 1;
    expect(added).toBeGreaterThan(12);
    const report = `${r.stdout}\n${r.stderr}`;
    expect(report).toContain(`cm.yaml:${added}  spec.valuesContent.imageRegistry: ${U} → ${SITE}/mirror/`);
  });
});
