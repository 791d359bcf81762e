import { execFile } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { runFerry } from '../support/cli.js';
import { offlineWork } from '../support/offline-lock.js';
import type { AuditReport, Finding } from '../../src/audit/audit.js';

/**
 * A Flux repository moved inside (new-user round 33), laid out as fluxcd/flux2-kustomize-helm-example
 * and flux2-multi-tenancy: `clusters/<name>/` holds the Flux Kustomizations (`spec.path` under the
 * repository root) and a `cluster-settings` ConfigMap their `postBuild.substituteFrom` names;
 * `apps/base` + `apps/<cluster>` overlays; `infrastructure/`. Workload images are written with
 * Flux's post-build variables (`${REGISTRY}/podinfo:${PODINFO_TAG}`, `…/redis:${REDIS_TAG:=7.2.5}`;
 * the `${var:=default}` form from Flux's Kustomization docs, "Post build variable substitution").
 * The engineer ran `ferry audit <repo>`, `ferry rewrite manifests <repo>`, and audit again.
 *
 * What tripped:
 * - `rewrite manifests` refused every `${VAR}` image (naming the variable): nothing moved. Now a
 *   literal repository with a variable tag moves and keeps `${TAG}` (each value the settings give
 *   checked against the lock); a registry variable is changed where it is set (the ConfigMap, the
 *   Kustomization's `postBuild.substitute`), or its default rewritten in place when set nowhere;
 *   images that would need different values of one variable are refused, each named.
 * - a Kustomization's variables applied to every scanned file: staging's `REGISTRY` made the
 *   production podinfo "pulled from" the staging registry too. Now a Kustomization's variables
 *   apply to files under its `spec.path` (the root being the directory holding `clusters/`) and
 *   the bases its kustomizations include.
 */

const run = promisify(execFile);
let work: string;
const MIRROR = 'registry.site.internal/ferry';
const IMAGES = ['ghcr.io/stefanprodan/podinfo:6.5.0', 'docker.io/library/redis:7.2.5', 'docker.io/library/redis:7.4.0', 'quay.io/prometheus/node-exporter:v1.8.2', 'docker.io/library/busybox:1.36'];

const flux = (name: string, p: string, post: string) => `apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: ${name}
  namespace: flux-system
spec:
  interval: 10m
  sourceRef:
    kind: GitRepository
    name: flux-system
  path: ${p}
  prune: true
${post}`;

const deploy = (name: string, image: string) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
spec:
  selector:
    matchLabels: { app: ${name} }
  template:
    metadata:
      labels: { app: ${name} }
    spec:
      containers:
        - name: ${name}
          image: ${image} # pinned by the platform team
`;

const FILES: Record<string, string> = {
  'clusters/production/apps.yaml': flux(
    'apps',
    './apps/production',
    `  postBuild:
    substitute:
      PODINFO_TAG: "6.5.0"
    substituteFrom:
      - kind: ConfigMap
        name: cluster-settings
`,
  ),
  'clusters/production/infrastructure.yaml': flux(
    'infrastructure',
    './infrastructure',
    `  postBuild:
    substitute:
      REDIS_TAG: 7.4.0
`,
  ),
  'clusters/production/cluster-settings.yaml': `apiVersion: v1
kind: ConfigMap
metadata:
  name: cluster-settings
  namespace: flux-system
data:
  REGISTRY: ghcr.io/stefanprodan # where the apps come from
`,
  // Staging sets REGISTRY elsewhere: it must not be read as how production pulls.
  'clusters/staging/apps.yaml': flux('apps', './apps/staging', `  postBuild:\n    substitute:\n      REGISTRY: registry.staging.example/acme\n      PODINFO_TAG: "6.5.0"\n`),
  'apps/base/podinfo/kustomization.yaml': 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - deployment.yaml\n',
  'apps/base/podinfo/deployment.yaml': deploy('podinfo', '${REGISTRY}/podinfo:${PODINFO_TAG}'),
  'apps/production/kustomization.yaml': 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../base/podinfo\n',
  'infrastructure/kustomization.yaml': 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - redis.yaml\n  - node-exporter.yaml\n  - tools.yaml\n',
  'infrastructure/redis.yaml': deploy('redis', 'docker.io/library/redis:${REDIS_TAG:=7.2.5}'),
  'infrastructure/node-exporter.yaml': deploy('node-exporter', '${EXPORTER_REGISTRY:=quay.io/prometheus}/node-exporter:v1.8.2'),
  'infrastructure/tools.yaml': deploy('tools', 'docker.io/library/busybox:${BUSYBOX_TAG:-1.36}'),
};

async function writeRepo(root: string, extra: Record<string, string> = {}): Promise<void> {
  for (const [f, t] of Object.entries({ ...FILES, ...extra })) {
    await mkdir(path.dirname(path.join(root, f)), { recursive: true });
    await writeFile(path.join(root, f), t);
  }
}

async function audit(dir: string): Promise<Finding[]> {
  const r = await runFerry(['audit', dir, '--manifest', 'm.yaml', '--target', 't.yaml', '--format', 'json'], { cwd: work });
  return (JSON.parse(r.stdout) as AuditReport).findings.filter((f) => f.kind === 'image');
}
const rewrite = (dir: string) => runFerry(['rewrite', 'manifests', dir, '-t', 't.yaml', '--lock', 'm.lock.json'], { cwd: work });

beforeAll(async () => {
  work = await offlineWork('ferry-newuser33-', IMAGES);
}, 60_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('new user 33: a Flux repository whose images are written with ${VAR}', () => {
  it("audit reads a Kustomization's variables only for what its spec.path builds (staging's REGISTRY is not production's)", async () => {
    await writeRepo(path.join(work, 'scoped'));
    const f = (await audit('scoped')).filter((x) => x.file === 'scoped/apps/base/podinfo/deployment.yaml');
    // The base is built by apps/production (spec.path of clusters/production/apps.yaml) and by no staging path.
    expect(f.map((x) => x.value)).toEqual(['ghcr.io/stefanprodan/podinfo:6.5.0']);
    expect(f[0].provenance).toContain('ConfigMap/cluster-settings');
  }, 60_000);

  it('rewrite manifests moves the repository, the registry variable where it is set and the defaults; every other byte kept; idempotent; audit then finds nothing outside', async () => {
    const repo = path.join(work, 'rewrite');
    await writeRepo(repo);
    const r = await rewrite('rewrite');
    expect(r.stderr + r.stdout).not.toContain('unmapped');
    expect(r.code).toBe(0);
    const read = (f: string) => readFile(path.join(repo, f), 'utf8');
    // The registry variable moved in the ConfigMap that sets it (comment kept); the image kept as written.
    expect(await read('clusters/production/cluster-settings.yaml')).toBe(FILES['clusters/production/cluster-settings.yaml'].replace('ghcr.io/stefanprodan #', `${MIRROR}/ghcr.io/stefanprodan #`));
    expect(await read('apps/base/podinfo/deployment.yaml')).toBe(FILES['apps/base/podinfo/deployment.yaml']);
    // Staging's Kustomization sets a registry the lock lacks, for files it does not build: untouched.
    expect(await read('clusters/staging/apps.yaml')).toBe(FILES['clusters/staging/apps.yaml']);
    // A literal repository with a variable tag: the repository moves, the tag variable (and its default) stays.
    expect(await read('infrastructure/redis.yaml')).toBe(deploy('redis', `${MIRROR}/docker.io/library/redis:\${REDIS_TAG:=7.2.5}`));
    expect(await read('infrastructure/tools.yaml')).toBe(deploy('tools', `${MIRROR}/docker.io/library/busybox:\${BUSYBOX_TAG:-1.36}`));
    // A registry variable set nowhere: its default is rewritten in place.
    expect(await read('infrastructure/node-exporter.yaml')).toBe(deploy('node-exporter', `\${EXPORTER_REGISTRY:=${MIRROR}/quay.io/prometheus}/node-exporter:v1.8.2`));
    // What kustomize builds of the rewritten tree is still valid (the variables are Flux's, after the build).
    const built = await run('kubectl', ['kustomize', path.join(repo, 'infrastructure')]);
    const images = parseAllDocuments(built.stdout).map((d) => (d.toJS() as { spec: { template: { spec: { containers: Array<{ image: string }> } } } }).spec.template.spec.containers[0].image);
    expect(images.sort()).toEqual([`\${EXPORTER_REGISTRY:=${MIRROR}/quay.io/prometheus}/node-exporter:v1.8.2`, `${MIRROR}/docker.io/library/busybox:\${BUSYBOX_TAG:-1.36}`, `${MIRROR}/docker.io/library/redis:\${REDIS_TAG:=7.2.5}`]);
    // Idempotent.
    const before = await Promise.all(Object.keys(FILES).map(read));
    const again = await rewrite('rewrite');
    expect(again.code).toBe(0);
    expect(await Promise.all(Object.keys(FILES).map(read))).toEqual(before);
    // Audit again: every image of the production tree is on the mirror.
    const after = (await audit('rewrite')).filter((x) => !x.file.startsWith('rewrite/clusters/staging'));
    const outside = after.filter((x) => x.class !== 'internal' && x.class !== 'mirrored');
    expect(outside.map((x) => `${x.file}:${x.line} ${x.value}`)).toEqual([]);
    expect(after.filter((x) => x.file.startsWith('rewrite/apps/') || x.file.startsWith('rewrite/infrastructure/')).map((x) => x.value).sort()).toEqual([
      `${MIRROR}/docker.io/library/busybox:1.36`,
      `${MIRROR}/docker.io/library/redis:7.4.0`,
      `${MIRROR}/ghcr.io/stefanprodan/podinfo:6.5.0`,
      `${MIRROR}/quay.io/prometheus/node-exporter:v1.8.2`,
    ]);
  }, 120_000);

  it('refuses, naming each image, a registry variable two images need at different values, and a tag value the lock lacks', async () => {
    const repo = path.join(work, 'refuse');
    await writeRepo(repo, {
      // busybox shares REGISTRY with podinfo but lives under docker.io/library: one value cannot name both.
      'apps/base/podinfo/deployment.yaml': deploy('podinfo', '${REGISTRY}/podinfo:${PODINFO_TAG}') + '---\n' + deploy('helper', '${REGISTRY}/busybox:1.36'),
      'clusters/production/infrastructure.yaml': flux('infrastructure', './infrastructure', '  postBuild:\n    substitute:\n      REDIS_TAG: 7.0.0\n'),
    });
    const before = await readFile(path.join(repo, 'clusters/production/cluster-settings.yaml'), 'utf8');
    const r = await runFerry(['rewrite', 'manifests', 'refuse', '-t', 't.yaml', '--lock', 'm.lock.json', '--allow-unmapped'], { cwd: work });
    const out = r.stdout + r.stderr;
    expect(out).toContain('ghcr.io/stefanprodan/busybox:1.36');
    expect(out).toContain('docker.io/library/redis:7.0.0');
    expect(await readFile(path.join(repo, 'clusters/production/cluster-settings.yaml'), 'utf8')).toBe(before);
    expect(await readFile(path.join(repo, 'infrastructure/redis.yaml'), 'utf8')).toBe(FILES['infrastructure/redis.yaml']);
  }, 60_000);
});
