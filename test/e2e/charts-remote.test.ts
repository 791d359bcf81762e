import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify as stringifyYaml } from 'yaml';
import { mustRun, runFerry } from '../support/cli.js';
import { packageChart, startStaticServer, writeHelmLayout, writeRepoIndex, type PackagedChart, type StaticServer } from '../support/chart-repo.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import { pushLayoutImage, skopeoDigest, writeOciLayout } from '../support/images.js';
import { skopeoEnv, skopeoTlsArgs, startRegistry, type RunningRegistry } from '../support/registry.js';

/**
 * `ferry charts images` and `ferry rewrite chart` on a chart named where it is published, as
 * `helm template oci://…` / `helm template --repo` take it: a real Distribution registry holding
 * the chart as `helm push` writes it (plain HTTP on loopback, and TLS with htpasswd basic auth
 * read from a docker config.json), an nginx chart repository (index.yaml with digests), an image
 * where a chart is expected, and registry and repository answers that do not match their digests.
 */
let work: string;
let reg: RunningRegistry;
let authReg: RunningRegistry;
let repo: StaticServer;
let proxy: FaultProxy;
let v120: PackagedChart;
let v130: PackagedChart;
let manifest120: string;
/** An empty TMPDIR for every ferry run: a fetched chart leaves nothing on disk. */
let tmp: string;

const sha = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');
const ferry = (args: string[], env: NodeJS.ProcessEnv = {}) => runFerry(args, { cwd: work, env: { TMPDIR: tmp, FERRY_RETRIES: '0', ...env } });

interface Report {
  charts: Array<{ chart: { name: string; version: string }; source: string; images: Array<{ ref: string; certainty: string }>; origin: { reference: string; version?: string; archiveDigest: string; manifestDigest?: string; pinned?: string; verifiedBy: string } }>;
}
const certain = (r: Report) => r.charts[0].images.filter((i) => i.certainty === 'certain').map((i) => i.ref);

async function pushChart(to: RunningRegistry, chart: PackagedChart, repoAndTag: string): Promise<void> {
  const layout = path.join(work, `layout-${chart.version}-${to.mode}`);
  await writeHelmLayout(layout, chart, 'chart');
  await mustRun('skopeo', ['copy', '--preserve-digests', ...skopeoTlsArgs(to, 'dest'), `oci:${layout}:chart`, `docker://${to.host}/${repoAndTag}`], { env: skopeoEnv() });
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-charts-remote-'));
  tmp = path.join(work, 'tmp');
  await mkdir(tmp);
  // A chart whose image tag is its appVersion: each version runs another image.
  const src = path.join(work, 'src', 'web');
  await mkdir(path.join(src, 'templates'), { recursive: true });
  await writeFile(path.join(src, 'Chart.yaml'), stringifyYaml({ apiVersion: 'v2', name: 'web', version: '1.2.0', appVersion: '1.2.0' }));
  await writeFile(path.join(src, 'values.yaml'), 'image:\n  registry: ghcr.io\n  repository: acme/web\n  tag: ""\n');
  await writeFile(
    path.join(src, 'templates', 'deploy.yaml'),
    'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}-web\nspec:\n  selector:\n    matchLabels: { app: web }\n  template:\n    metadata:\n      labels: { app: web }\n    spec:\n      containers:\n        - name: web\n          image: "{{ .Values.image.registry }}/{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"\n',
  );
  const web = path.join(work, 'web');
  v120 = await packageChart(src, web);
  v130 = await packageChart(src, web, (m) => Object.assign(m, { version: '1.3.0', appVersion: '1.3.0' }));
  await writeRepoIndex(web, [v120, v130]);
  // The same repository whose index names another digest for 1.2.0 (the archive was swapped).
  const bad = path.join(web, 'bad');
  await mkdir(bad);
  await writeRepoIndex(bad, [{ ...v120, url: `../${path.basename(v120.file)}`, badDigest: true }]);
  repo = await startStaticServer(web);

  reg = await startRegistry({ mode: 'http' });
  await pushChart(reg, v120, 'charts/web:1.2.0');
  await pushChart(reg, v130, 'charts/web:1.3.0');
  manifest120 = await skopeoDigest(reg, `${reg.host}/charts/web:1.2.0`);
  const images = path.join(work, 'images');
  await writeOciLayout(images, [{ name: 'app', platforms: [{ architecture: 'amd64', layers: [{ files: { 'app/VERSION': '1\n' } }] }] }]);
  await pushLayoutImage(reg, images, 'app', 'acme/app:1.0');

  authReg = await startRegistry({ mode: 'basic' });
  await pushChart(authReg, v120, 'charts/web:1.2.0');
  proxy = await startFaultProxy(reg.url);
}, 120_000);

afterAll(async () => {
  await proxy?.stop();
  await authReg?.stop();
  await reg?.stop();
  await repo?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('charts images on a chart in an OCI registry', () => {
  it('oci://… --version, :tag, @sha256: and a range render the chart the registry holds, verified, and print the digest to pin', async () => {
    const ref = `oci://${reg.host}/charts/web`;
    const r = await ferry(['charts', 'images', ref, '--version', '1.2.0', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as Report;
    expect(report.charts[0].chart).toMatchObject({ name: 'web', version: '1.2.0' });
    expect(certain(report)).toEqual(['ghcr.io/acme/web:1.2.0']);
    expect(report.charts[0].origin).toEqual({
      reference: `${ref}:1.2.0`,
      version: '1.2.0',
      archiveDigest: `sha256:${v120.digest}`,
      manifestDigest: manifest120,
      pinned: `${ref}@${manifest120}`,
      verifiedBy: 'manifest',
    });
    // Nothing of the chart was written (the archive is read in memory).
    expect(await readdir(tmp)).toEqual([]);

    const text = await ferry(['charts', 'images', `${ref}:1.3.0`]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain(`web 1.3.0  (${ref}:1.3.0)`);
    expect(text.stdout).toContain(`fetched ${ref}@sha256:`);
    expect(text.stdout).toContain(`chart archive sha256:${v130.digest} (checked against the OCI manifest\u2019s chart layer)`);
    expect(text.stdout).toContain('ghcr.io/acme/web:1.3.0');

    const pinned = JSON.parse((await ferry(['charts', 'images', `${ref}@${manifest120}`, '--json'])).stdout) as Report;
    expect(certain(pinned)).toEqual(['ghcr.io/acme/web:1.2.0']);
    // A range and no version at all pick from the tags as helm does; --insecure-registry is how a mirror's plain-HTTP registry is named.
    const range = JSON.parse((await ferry(['charts', 'images', ref, '--version', '~1.2', '--insecure-registry', reg.host, '--json'])).stdout) as Report;
    expect(range.charts[0].origin.reference).toBe(`${ref}:1.2.0`);
    const newest = JSON.parse((await ferry(['charts', 'images', ref, '--json'])).stdout) as Report;
    expect(certain(newest)).toEqual(['ghcr.io/acme/web:1.3.0']);
    expect(await readdir(tmp)).toEqual([]);
  });

  it('--render helm gives helm the verified archive (a file removed after), never the reference to fetch again', async () => {
    const bin = path.join(work, 'bin');
    await mkdir(bin, { recursive: true });
    // A stand-in for helm: records the sha256 of the chart file it was given and prints one Pod.
    await writeFile(
      path.join(bin, 'helm'),
      `#!/bin/sh\nif [ "$1" = version ]; then echo v3.14.4; exit 0; fi\nsha256sum "$3" > "${bin}/given.txt"\nprintf -- '---\\n# Source: web/templates/pod.yaml\\napiVersion: v1\\nkind: Pod\\nmetadata:\\n  name: p\\nspec:\\n  containers:\\n    - name: c\\n      image: ghcr.io/acme/from-helm:1\\n'\n`,
      { mode: 0o755 },
    );
    const r = await ferry(['charts', 'images', `oci://${reg.host}/charts/web:1.2.0`, '--render', 'helm', '--json'], { PATH: `${bin}:${path.dirname(process.execPath)}:/usr/bin:/bin` });
    expect(r.code, r.stderr).toBe(0);
    expect(certain(JSON.parse(r.stdout) as Report)).toEqual(['ghcr.io/acme/from-helm:1']);
    expect((await readFile(path.join(bin, 'given.txt'), 'utf8')).split(' ')[0]).toBe(v120.digest);
    expect(await readdir(tmp)).toEqual([]);
  });

  it('a registry that needs basic auth: credentials from DOCKER_CONFIG, its CA from --ca-file; without credentials the refusal names the registry', async () => {
    const ref = `oci://${authReg.host}/charts/web:1.2.0`;
    const ok = await ferry(['charts', 'images', ref, '--ca-file', authReg.caFile!, '--json'], { DOCKER_CONFIG: authReg.dockerConfigDir });
    expect(ok.code, ok.stderr).toBe(0);
    expect(certain(JSON.parse(ok.stdout) as Report)).toEqual(['ghcr.io/acme/web:1.2.0']);
    const none = path.join(work, 'no-credentials');
    await mkdir(none, { recursive: true });
    const refused = await ferry(['charts', 'images', ref, '--ca-file', authReg.caFile!], { DOCKER_CONFIG: none, REGISTRY_AUTH_FILE: path.join(none, 'auth.json') });
    expect(refused.code).toBe(4);
    expect(refused.stderr).toContain(authReg.host);
    expect(refused.stdout).toBe('');
  });

  it('an image where a chart is expected is refused, naming the reference and what it holds', async () => {
    const r = await ferry(['charts', 'images', `oci://${reg.host}/acme/app:1.0`]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`oci://${reg.host}/acme/app:1.0: a container image (config application/vnd.oci.image.config.v1+json), not a Helm chart`);
    expect(r.stdout).toBe('');
  });

  it('a chart layer whose bytes do not match the manifest\u2019s digest is refused (exit 3), nothing rendered', async () => {
    proxy.addRule({ method: 'GET', path: /\/blobs\/sha256:/, action: { kind: 'corrupt', atByte: 100 }, times: Infinity });
    try {
      const r = await ferry(['charts', 'images', `oci://${proxy.host}/charts/web`, '--version', '1.2.0']);
      expect(r.code, r.stderr).toBe(3);
      expect(r.stderr).toContain(`oci://${proxy.host}/charts/web:1.2.0 chart layer sha256:${v120.digest}: digest mismatch`);
      expect(r.stdout).toBe('');
    } finally {
      proxy.clearRules();
    }
  });
});

describe('charts images on a chart in an HTTP repository', () => {
  it('<repo-url> --chart --version: the archive index.yaml names, checked against its digest; a direct .tgz URL is rendered and said unchecked', async () => {
    const r = await ferry(['charts', 'images', repo.url, '--chart', 'web', '--version', '1.2.0', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as Report;
    expect(certain(report)).toEqual(['ghcr.io/acme/web:1.2.0']);
    expect(report.charts[0].origin).toEqual({ reference: `${repo.url} web 1.2.0`, version: '1.2.0', archiveDigest: `sha256:${v120.digest}`, verifiedBy: 'index' });

    const url = `${repo.url}/${path.basename(v130.file)}`;
    const direct = await ferry(['charts', 'images', url]);
    expect(direct.code, direct.stderr).toBe(0);
    expect(direct.stdout).toContain('ghcr.io/acme/web:1.3.0');
    expect(direct.stdout).toContain(`fetched ${url}: chart archive sha256:${v130.digest} (not checked: nothing names its digest (pin this one))`);
    expect(await readdir(tmp)).toEqual([]);
  });

  it('an archive that does not match the digest index.yaml gives is refused (exit 3)', async () => {
    const r = await ferry(['charts', 'images', `${repo.url}/bad`, '--chart', 'web', '--version', '1.2.0']);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('chart web 1.2.0 archive');
    expect(r.stderr).toContain('digest mismatch: the index says sha256:');
    expect(r.stdout).toBe('');
  });
});

describe('rewrite chart on a chart in an OCI registry', () => {
  it('oci://… gives the same override as the pulled .tgz, and names the digest it rendered', async () => {
    const target = path.join(work, 'site.yaml');
    await writeFile(target, 'apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: site }\nregistry:\n  url: https://registry.site.example\n  prefix: mirror\n');
    const lock = path.join(work, 'web.lock.json');
    const ref = 'ghcr.io/acme/web:1.2.0';
    const digest = sha(Buffer.from(ref));
    await writeFile(lock, JSON.stringify({ apiVersion: 'ferry/v1alpha1', kind: 'Lock', manifest: { name: 'web', digest }, images: [{ source: ref, ref, digest, mediaType: 'application/vnd.oci.image.index.v1+json', size: 1, manifests: [], blobs: [] }], charts: [], files: [], apt: [] }));
    const fromTgz = await ferry(['rewrite', 'chart', v120.file, '-t', target, '--lock', lock, '-o', 'tgz.override.yaml']);
    expect(fromTgz.code, fromTgz.stderr).toBe(0);
    const fromOci = await ferry(['rewrite', 'chart', `oci://${reg.host}/charts/web`, '--version', '1.2.0', '-t', target, '--lock', lock, '-o', 'oci.override.yaml']);
    expect(fromOci.code, fromOci.stderr).toBe(0);
    const override = await readFile(path.join(work, 'oci.override.yaml'), 'utf8');
    expect(override).toContain('registry.site.example/mirror/ghcr.io');
    expect(override).toBe(await readFile(path.join(work, 'tgz.override.yaml'), 'utf8'));
    expect(fromOci.stdout).toContain(`fetched oci://${reg.host}/charts/web@${manifest120}: chart archive sha256:${v120.digest}`);
  });
});
