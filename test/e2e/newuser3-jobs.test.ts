import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Ajv } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { ROOT, runCommand, runFerry } from '../support/cli.js';
import { seedImages, type SeededImages } from '../support/images.js';
import { startServe } from '../support/craft-serve.js';
import { freePort, startRegistry, type RunningRegistry } from '../support/registry.js';

/**
 * A platform engineer who used oc-mirror and Zarf does the same jobs with ferry, against real
 * registries: operator-like images from three registries (plain HTTP, TLS with its own CA, and
 * one spelled `localhost:<port>`), by tag, by digest, by tag@digest and platform-filtered, into
 * a site registry with TLS (its CA given by `ca:` in the target) and htpasswd auth; then the
 * OpenShift objects (checked against OpenShift's published CRD schemas and against where import
 * put the images, with skopeo pulling by digest where the IDMS sends CRI-O), and a Kubernetes
 * app directory (kustomization image overrides included) rewritten, schema-checked with the
 * Kubernetes OpenAPI models and audited.
 */
let work: string;
let quay: RunningRegistry;
let redhat: RunningRegistry;
let ghcr: RunningRegistry;
let site: RunningRegistry;
let sq: SeededImages;
let sr: SeededImages;
let ghHost: string;
let lockFile: string;
let manifestFile: string;
let targetFile: string;
let bundle: string;
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), DOCKER_CONFIG: site.dockerConfigDir! });

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-newuser3-'));
  [quay, redhat, ghcr, site] = await Promise.all([startRegistry({ mode: 'http' }), startRegistry({ mode: 'tls' }), startRegistry({ mode: 'http' }), startRegistry({ mode: 'basic' })]);
  sq = await seedImages(quay, { prefix: 'openshift-operators' });
  sr = await seedImages(redhat, { prefix: 'rhel9' });
  await seedImages(ghcr, { prefix: 'acme/tools' });
  ghHost = ghcr.host.replace('127.0.0.1', 'localhost');
  manifestFile = path.join(work, 'ocp.yaml');
  await writeFile(
    manifestFile,
    [
      'apiVersion: ferry/v1alpha1',
      'kind: Manifest',
      'metadata: { name: ocp }',
      'images:',
      `  - ref: ${quay.host}/openshift-operators/multi:1`,
      `  - ref: ${quay.host}/openshift-operators/base@${sq.digests.base}`,
      `  - ref: ${redhat.host}/rhel9/app:1@${sr.digests.app}`,
      `  - ref: ${redhat.host}/rhel9/multi@${sr.digests.multi}`,
      '    platforms: [linux/amd64]',
      `  - ref: ${ghHost}/acme/tools/docker:1`,
      '',
    ].join('\n'),
  );
  const net = ['--insecure-registry', quay.host, '--insecure-registry', ghHost, '--ca-file', redhat.caFile!];
  let r = await runFerry(['lock', manifestFile, ...net], { env: env() });
  expect(r.code, r.stderr).toBe(0);
  lockFile = path.join(work, 'ocp.lock.json');
  bundle = path.join(work, 'ocp.ferry.tar');
  r = await runFerry(['bundle', 'create', manifestFile, '-o', bundle, '--frozen', ...net], { env: env() });
  expect(r.code, r.stderr).toBe(0);
  await cp(site.caFile!, path.join(work, 'site-ca.pem'));
  targetFile = path.join(work, 'site.yaml');
  await writeFile(targetFile, `apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: Site_A }\nregistry:\n  url: ${site.url}\n  prefix: ocp4\n  ca: ./site-ca.pem\n`);
  r = await runFerry(['import', bundle, '--target', targetFile], { env: env() });
  expect(r.code, r.stderr).toBe(0);
}, 600_000);

afterAll(async () => {
  await Promise.all([quay, redhat, ghcr, site].map((x) => x?.stop().catch(() => undefined)));
  if (work) await rm(work, { recursive: true, force: true });
});

async function crdValidator(name: string) {
  const crd = parseYaml(await readFile(path.join(ROOT, 'test/fixtures/openshift', name), 'utf8'));
  return new Ajv({ strict: false, allErrors: true }).compile(crd.spec.versions[0].schema.openAPIV3Schema);
}

describe('job 1: OpenShift disconnected cluster (oc-mirror user)', () => {
  it('idms: valid against the CRD, warns about the tag-pinned and the platform-filtered images, and sends each digest pull where import put it', async () => {
    const out = path.join(work, 'openshift');
    const r = await runFerry(['mirror-config', 'idms', '-t', targetFile, '--lock', lockFile, '-o', out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout) as { warnings: string[] };
    const doc = parseYaml(await readFile(path.join(out, 'image-digest-mirror-set.yaml'), 'utf8'));
    const validate = await crdValidator('imagedigestmirrorsets.crd.yaml');
    expect(validate(doc), JSON.stringify(validate.errors)).toBe(true);
    // The target is named Site_A; the API server accepts only an RFC 1123 name.
    expect(doc.metadata.name).toBe('ferry-site-a');
    // Tag-only pulls are not covered by an IDMS: both tag-pinned images are named.
    const tagWarning = res.warnings.find((w) => w.includes('pinned by tag'));
    expect(tagWarning).toContain(`${quay.host}/openshift-operators/multi:1`);
    expect(tagWarning).toContain(`${ghHost}/acme/tools/docker:1`);
    expect(res.warnings.find((w) => w.includes('platform-filtered'))).toContain(`${redhat.host}/rhel9/multi@${sr.digests.multi}`);

    // Where CRI-O goes for a digest pull: the source prefix replaced by the mirror. That must be
    // where `ferry map` says (and import put) the image, and skopeo must get the pinned digest there.
    const map = JSON.parse((await runFerry(['map', lockFile, '--target', targetFile, '--json'])).stdout) as { rows: Array<{ upstream: string; mirror: string[] }> };
    const lock = JSON.parse(await readFile(lockFile, 'utf8')) as { images: Array<{ ref: string; digest: string; storedDigest?: string }> };
    const pinned = lock.images.filter((i) => i.ref.includes('@'));
    expect(pinned).toHaveLength(3);
    for (const img of pinned) {
      const noDigest = img.ref.slice(0, img.ref.indexOf('@')).replace(/:[^/:]+$/, '');
      const entry = (doc.spec.imageDigestMirrors as Array<{ source: string; mirrors: string[] }>).find((e) => noDigest.startsWith(`${e.source}/`))!;
      const where = `${entry.mirrors[0]}${noDigest.slice(entry.source.length)}@${img.digest}`;
      // map spells a tag@digest reference with its tag; CRI-O pulls it by the digest alone.
      const mapped = map.rows.find((row) => row.upstream === img.ref)!.mirror[0].replace(/:[^/:@]+@/, '@');
      const inspect = await runCommand('skopeo', ['inspect', '--raw', '--cert-dir', site.certDir!, '--creds', `${site.username}:${site.password}`, `docker://${where}`]);
      if (img.storedDigest && img.storedDigest !== img.digest) {
        // The platform-filtered index: the mirror holds the stored digest, as map says; the warning was right.
        expect(mapped).toBe(where.replace(img.digest, img.storedDigest));
        expect(inspect.code).not.toBe(0);
      } else {
        expect(mapped).toBe(where);
        expect(inspect.code, inspect.stderr).toBe(0);
        expect('sha256:' + (await import('node:crypto')).createHash('sha256').update(inspect.stdout).digest('hex')).toBe(img.digest);
      }
    }
  });

  it('itms: valid against the CRD; names the digest-pinned images it does not cover', async () => {
    const out = path.join(work, 'openshift');
    const r = await runFerry(['mirror-config', 'itms', '-t', targetFile, '--bundle', bundle, '-o', out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = parseYaml(await readFile(path.join(out, 'image-tag-mirror-set.yaml'), 'utf8'));
    const validate = await crdValidator('imagetagmirrorsets.crd.yaml');
    expect(validate(doc), JSON.stringify(validate.errors)).toBe(true);
    expect(doc.spec.imageTagMirrors.map((e: { source: string }) => e.source)).toEqual([quay.host, redhat.host, ghHost].sort());
    const w = (JSON.parse(r.stdout) as { warnings: string[] }).warnings.find((x) => x.includes('pinned by digest'));
    expect(w).toContain(`${quay.host}/openshift-operators/base@${sq.digests.base}`);
    expect(w).not.toContain('multi:1');
  });
});

describe('job 2: store and serve (Hauler user): ferry serve + k3s registries.yaml', () => {
  it('registries.yaml has the shape k3s documents, and its endpoint + rewrite reach every image in ferry serve with the pinned digest', async () => {
    // Serve the bundle over TLS (the site CA's server certificate for 127.0.0.1) under a prefix.
    const port = await freePort();
    const serveTarget = path.join(work, 'edge.yaml');
    await writeFile(serveTarget, `apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: edge }\nregistry:\n  url: https://127.0.0.1:${port}\n  prefix: hauler\n  ca: ./site-ca.pem\n`);
    // A port already taken is named, with what to do.
    const taken = await runFerry(['serve', bundle, '--listen', site.host]);
    expect(taken.code).toBe(2);
    expect(taken.stderr).toContain(`cannot listen on ${site.host} (EADDRINUSE)`);
    expect(taken.stderr).toContain('--listen');
    const pki = path.join(path.dirname(site.caFile!));
    const served = await startServe([bundle, '--listen', `127.0.0.1:${port}`, '--target', serveTarget, '--tls-cert', path.join(pki, 'server.pem'), '--tls-key', path.join(pki, 'server.key')]);
    try {
      for (const flavour of ['k3s', 'rke2'] as const) {
        const out = path.join(work, flavour);
        const r = await runFerry(['mirror-config', flavour, '-t', serveTarget, '--bundle', bundle, '-o', out]);
        expect(r.code, r.stderr).toBe(0);
        const doc = parseYaml(await readFile(path.join(out, 'registries.yaml'), 'utf8')) as {
          mirrors: Record<string, { endpoint: string[]; rewrite?: Record<string, string> }>;
          configs: Record<string, { tls: { ca_file: string } }>;
        };
        expect(Object.keys(doc).sort()).toEqual(['configs', 'mirrors']);
        expect(Object.keys(doc.mirrors)).toEqual([quay.host, redhat.host, ghHost].sort());
        const dir = flavour === 'k3s' ? '/etc/rancher/k3s' : '/etc/rancher/rke2';
        expect(doc.configs).toEqual({ [`127.0.0.1:${port}`]: { tls: { ca_file: `${dir}/ferry-edge-ca.crt` } } });
        expect(await readFile(path.join(out, 'ferry-edge-ca.crt'), 'utf8')).toBe(await readFile(site.caFile!, 'utf8'));
        if (flavour === 'rke2') continue;
        // Do what k3s does with a pull of <upstream>/<repo>:<tag>: apply the mirror's rewrite to
        // the repository and ask the endpoint; skopeo must get the digest the lock pinned.
        const lock = JSON.parse(await readFile(lockFile, 'utf8')) as { images: Array<{ ref: string; digest: string; storedDigest?: string }> };
        for (const img of lock.images) {
          const [, host, repo, rest] = /^([^/]+)\/([^:@]+)(.*)$/.exec(img.ref)!;
          const m = doc.mirrors[host];
          const [[from, to]] = Object.entries(m.rewrite!);
          const rewritten = repo.replace(new RegExp(from), to);
          const ref = `${m.endpoint[0].replace('https://', '')}/${rewritten}${rest.includes('@') ? rest.slice(rest.indexOf('@')).replace(img.digest, img.storedDigest ?? img.digest) : rest}`;
          const raw = await runCommand('skopeo', ['inspect', '--raw', '--cert-dir', site.certDir!, `docker://${ref}`]);
          expect(raw.code, `${ref}: ${raw.stderr}`).toBe(0);
          expect('sha256:' + (await import('node:crypto')).createHash('sha256').update(raw.stdout).digest('hex')).toBe(img.storedDigest ?? img.digest);
        }
      }
    } finally {
      await served.stop();
    }
  });
});

describe('job 3: one package, deploy anywhere (Zarf user)', () => {
  it('rewrite manifests moves every image (kustomization overrides too), the objects stay schema-valid, and audit finds nothing pointing outside', async () => {
    const app = path.join(work, 'k8s');
    await mkdir(app, { recursive: true });
    const Q = quay.host;
    const R = redhat.host;
    await writeFile(
      path.join(app, 'workloads.yaml'),
      `apiVersion: apps/v1
kind: Deployment
metadata: { name: operator }
spec:
  selector: { matchLabels: { app: operator } }
  template:
    metadata: { labels: { app: operator } }
    spec:
      initContainers:
        - { name: init, image: "${Q}/openshift-operators/base@${sq.digests.base}" }
      containers:
        - name: operator
          image: ${Q}/openshift-operators/multi:1
---
apiVersion: apps/v1
kind: StatefulSet
metadata: { name: db }
spec:
  serviceName: db
  selector: { matchLabels: { app: db } }
  template:
    metadata: { labels: { app: db } }
    spec:
      containers:
        - name: db
          image: '${R}/rhel9/app:1@${sr.digests.app}'
---
apiVersion: batch/v1
kind: CronJob
metadata: { name: nightly }
spec:
  schedule: "0 1 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
            - { name: n, image: "${ghHost}/acme/tools/docker:1" }
---
apiVersion: batch/v1
kind: Job
metadata: { name: migrate }
spec:
  template:
    spec:
      restartPolicy: Never
      initContainers:
        - { name: wait, image: "${Q}/openshift-operators/multi:1" }
      containers:
        - { name: m, image: "${R}/rhel9/multi@${sr.digests.multi}" }
---
apiVersion: v1
kind: Pod
metadata: { name: debug }
spec:
  containers:
    - { name: main, image: "${ghHost}/acme/tools/docker:1" }
  ephemeralContainers:
    - { name: dbg, image: "${Q}/openshift-operators/multi:1" }
`,
    );
    await writeFile(
      path.join(app, 'kustomization.yaml'),
      `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [workloads.yaml, release.yaml]
images:
  - name: ${Q}/openshift-operators/multi
    newTag: "1"
  - name: operator-placeholder
    newName: ${ghHost}/acme/tools/docker
    newTag: "1"
`,
    );
    await writeFile(
      path.join(app, 'release.yaml'),
      `apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: { name: app, namespace: apps }
spec:
  interval: 10m
  chart: { spec: { chart: app, version: 1.0.0, sourceRef: { kind: HelmRepository, name: site } } }
  values:
    image: { registry: "${R}", repository: rhel9/app, tag: "1" }
    sidecar: { image: "${ghHost}/acme/tools/docker:1" }
`,
    );
    // Before the rewrite the audit finds every upstream reference, the kustomization's included.
    let audit = await runFerry(['audit', app, '--manifest', manifestFile, '--target', targetFile, '--json']);
    expect(audit.code, audit.stderr).toBe(0);
    type Finding = { file: string; line: number; keyPath?: string; kind: string; value: string; class: string };
    const before = (JSON.parse(audit.stdout) as { findings: Finding[] }).findings;
    expect(before.find((f) => f.keyPath === 'images[1].newName')).toMatchObject({ kind: 'image', value: `${ghHost}/acme/tools/docker:1`, class: 'mirrored' });
    // An apiVersion names an API group, not a host anything connects to.
    expect(before.filter((f) => f.keyPath === 'apiVersion')).toEqual([]);

    const r = await runFerry(['rewrite', 'manifests', app, '-t', targetFile, '--lock', lockFile]);
    expect(r.code, r.stderr).toBe(0);
    const kust = parseYaml(await readFile(path.join(app, 'kustomization.yaml'), 'utf8'));
    expect(kust.images).toEqual([
      // The name stays the pattern kustomize matches (newuser8: moving it broke the override for any
      // resource not rewritten in the same run); newName is what gets pulled.
      { name: `${Q}/openshift-operators/multi`, newTag: '1', newName: `${site.host}/ocp4/${Q.replace(':', '-')}/openshift-operators/multi` },
      { name: 'operator-placeholder', newName: `${site.host}/ocp4/${ghHost.replace(':', '-')}/acme/tools/docker`, newTag: '1' },
    ]);

    // Each rewritten workload is still a valid object for the Kubernetes API (its OpenAPI schema).
    const models: Record<string, Record<string, new (d: unknown) => { validate(): void }>> = {
      'apps/v1': (await import('kubernetes-models/apps/v1')) as never,
      'batch/v1': (await import('kubernetes-models/batch/v1')) as never,
      v1: (await import('kubernetes-models/v1')) as never,
    };
    const docs = parseAllDocuments(await readFile(path.join(app, 'workloads.yaml'), 'utf8')).map((d) => d.toJS() as { apiVersion: string; kind: string });
    expect(docs.map((d) => d.kind)).toEqual(['Deployment', 'StatefulSet', 'CronJob', 'Job', 'Pod']);
    for (const d of docs) {
      const Model = models[d.apiVersion][d.kind];
      expect(() => new Model(d).validate(), d.kind).not.toThrow();
      expect(JSON.stringify(d)).not.toContain(R);
      expect(JSON.stringify(d)).not.toContain(ghHost);
    }
    // The images the kustomization overrides stay as written in the resources; what kustomize
    // builds (as Argo CD does) points at the mirror only.
    const built = await runCommand('kubectl', ['kustomize', app]);
    expect(built.code, built.stderr).toBe(0);
    expect(built.stdout).toContain(`${site.host}/ocp4/`);
    for (const upstreamHost of [Q, R, ghHost]) expect(built.stdout.split('\n').filter((l) => l.includes(upstreamHost))).toEqual([]);
    // The filtered image's digest became the one the mirror holds.
    const lock = JSON.parse(await readFile(lockFile, 'utf8')) as { images: Array<{ ref: string; storedDigest?: string }> };
    expect(JSON.stringify(docs)).toContain(lock.images.find((i) => i.ref.includes('rhel9/multi'))!.storedDigest!);

    audit = await runFerry(['audit', app, '--manifest', manifestFile, '--target', targetFile, '--fail-on', 'unmapped', '--json']);
    expect(audit.code, audit.stdout + audit.stderr).toBe(0);
    const after = (JSON.parse(audit.stdout) as { findings: Finding[] }).findings;
    const outside = after.filter((f) => f.class !== 'internal');
    expect(outside, JSON.stringify(outside, null, 1)).toEqual([]);
    expect(after.filter((f) => f.kind === 'image').length).toBeGreaterThanOrEqual(11);
  });
});
