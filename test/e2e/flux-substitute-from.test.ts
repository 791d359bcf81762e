import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { runFerry } from '../support/cli.js';
import { offlineWork } from '../support/offline-lock.js';
import type { AuditReport, Finding } from '../../src/audit/audit.js';

/**
 * Where a Flux `substituteFrom` variable really comes from (kustomize-controller's post-build
 * substitution): the ConfigMap or Secret of that name in the Kustomization's own namespace, a
 * Secret's `data` base64-decoded (its `stringData` winning key by key, as the API server merges
 * them), and a SOPS-encrypted value unknown until Flux decrypts it at apply time.
 */

const MIRROR = 'registry.site.internal/ferry';
const IMAGES = ['ghcr.io/stefanprodan/podinfo:6.5.0'];
const b64 = (s: string) => Buffer.from(s).toString('base64');
let work: string;

/** A Flux Kustomization in flux-system building `specPath`, its spec ending with `tail`. */
const ks = (specPath: string, tail: string) => `apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: apps
  namespace: flux-system
spec:
  interval: 10m
  sourceRef: { kind: GitRepository, name: flux-system }
  path: ${specPath}
  prune: true
${tail}`;

const fluxKs = (from: string) => ks('./apps', `  postBuild:\n    substitute:\n      PODINFO_TAG: "6.5.0"\n    substituteFrom:\n${from}`);

const DEPLOY = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo
spec:
  selector:
    matchLabels: { app: podinfo }
  template:
    metadata:
      labels: { app: podinfo }
    spec:
      containers:
        - name: podinfo
          image: \${REGISTRY}/podinfo:\${PODINFO_TAG}
`;

async function repo(name: string, files: Record<string, string>): Promise<string> {
  const root = path.join(work, name);
  for (const [f, t] of Object.entries({ 'apps/deployment.yaml': DEPLOY, ...files })) {
    await mkdir(path.dirname(path.join(root, f)), { recursive: true });
    await writeFile(path.join(root, f), t);
  }
  return root;
}

async function podinfo(dir: string): Promise<Finding[]> {
  const r = await runFerry(['audit', dir, '--manifest', 'm.yaml', '--target', 't.yaml', '--format', 'json'], { cwd: work });
  return (JSON.parse(r.stdout) as AuditReport).findings.filter((f) => f.kind === 'image' && f.file === `${dir}/apps/deployment.yaml`);
}

beforeAll(async () => {
  work = await offlineWork('ferry-flux-from-', IMAGES);
}, 60_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe("Flux substituteFrom: the object Flux reads, and the value as it reads it", () => {
  it("a Secret's base64 data is read decoded, and rewrite writes the mirror's value encoded; audit then finds it on the mirror", async () => {
    const secret = `apiVersion: v1
kind: Secret
metadata:
  name: cluster-secrets
  namespace: flux-system
type: Opaque
data:
  REGISTRY: ${b64('ghcr.io/stefanprodan')}
  TOKEN: ${b64('not-an-image')}
`;
    const root = await repo('secret', { 'clusters/prod/apps.yaml': fluxKs('      - kind: Secret\n        name: cluster-secrets\n'), 'clusters/prod/secret.yaml': secret });
    const before = await podinfo('secret');
    expect(before.map((f) => f.value)).toEqual(['ghcr.io/stefanprodan/podinfo:6.5.0']);
    expect(before[0].provenance).toContain('Secret/cluster-secrets');

    const r = await runFerry(['rewrite', 'manifests', 'secret', '-t', 't.yaml', '--lock', 'm.lock.json'], { cwd: work });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const written = await readFile(path.join(root, 'clusters/prod/secret.yaml'), 'utf8');
    const data = (parse(written) as { data: Record<string, string> }).data;
    expect(Buffer.from(data.REGISTRY, 'base64').toString()).toBe(`${MIRROR}/ghcr.io/stefanprodan`);
    // Only that value changed.
    expect(written).toBe(secret.replace(b64('ghcr.io/stefanprodan'), b64(`${MIRROR}/ghcr.io/stefanprodan`)));
    expect(await readFile(path.join(root, 'apps/deployment.yaml'), 'utf8')).toBe(DEPLOY);
    const after = await podinfo('secret');
    expect(after.map((f) => [f.value, f.class])).toEqual([[`${MIRROR}/ghcr.io/stefanprodan/podinfo:6.5.0`, 'internal']]);
  }, 60_000);

  it("a Secret's stringData wins over its data for the same key", async () => {
    const secret = `apiVersion: v1
kind: Secret
metadata: { name: s, namespace: flux-system }
data:
  REGISTRY: ${b64('registry.old.example/acme')}
stringData:
  REGISTRY: ghcr.io/stefanprodan
`;
    await repo('merged', { 'clusters/prod/apps.yaml': fluxKs('      - kind: Secret\n        name: s\n'), 'clusters/prod/secret.yaml': secret });
    expect((await podinfo('merged')).map((f) => f.value)).toEqual(['ghcr.io/stefanprodan/podinfo:6.5.0']);
  }, 60_000);

  it("a ConfigMap of that name in another namespace is not the one the Kustomization reads", async () => {
    const cm = (ns: string, reg: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cluster-settings\n  namespace: ${ns}\ndata:\n  REGISTRY: ${reg}\n`;
    await repo('namespaces', {
      'clusters/prod/apps.yaml': fluxKs('      - kind: ConfigMap\n        name: cluster-settings\n'),
      'clusters/prod/settings.yaml': cm('flux-system', 'ghcr.io/stefanprodan'),
      // A tenant's ConfigMap of the same name: Flux never reads it for a flux-system Kustomization.
      'tenants/team-a/settings.yaml': cm('team-a', 'registry.team-a.example/podinfo-fork'),
    });
    const f = await podinfo('namespaces');
    expect(f.map((x) => x.value)).toEqual(['ghcr.io/stefanprodan/podinfo:6.5.0']);
    expect(JSON.stringify(f)).not.toContain('team-a');
  }, 60_000);

  it('a SOPS-encrypted value is unknown: audit says so instead of reading the ciphertext as a registry, and rewrite refuses naming it', async () => {
    const enc = 'ENC[AES256_GCM,data:q8cRaPPgR6s2lFQ=,iv:2y4bM2b3p0Q0Y8Pq1sFh0kq4m4Y9E4o5cQ2oZx8nY0w=,tag:cRmzE8C6kq0hW4r1Q0qfJQ==,type:str]';
    const secret = `apiVersion: v1
kind: Secret
metadata:
  name: cluster-secrets
  namespace: flux-system
stringData:
  REGISTRY: ${enc}
sops:
  age:
    - recipient: age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq
  lastmodified: "2026-01-01T00:00:00Z"
  version: 3.8.1
`;
    const root = await repo('sops', { 'clusters/prod/apps.yaml': fluxKs('      - kind: Secret\n        name: cluster-secrets\n'), 'clusters/prod/secret.yaml': secret });
    const f = await podinfo('sops');
    expect(f).toHaveLength(1);
    expect(f[0].value).not.toContain('ENC[');
    expect(f[0].class).not.toBe('mirrored');
    expect(f[0].provenance).toContain('encrypted with SOPS');
    const r = await runFerry(['rewrite', 'manifests', 'sops', '-t', 't.yaml', '--lock', 'm.lock.json'], { cwd: work });
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toContain('encrypted with SOPS');
    expect(await readFile(path.join(root, 'clusters/prod/secret.yaml'), 'utf8')).toBe(secret);
  }, 60_000);
});

describe("Flux spec.images: applied to what the Kustomization's spec.path builds", () => {
  const fluxImages = (p: string, newName: string, newTag: string) => ks(p, `  images:\n    - name: podinfo\n      newName: ${newName}\n      newTag: "${newTag}"\n`);
  const placeholder = DEPLOY.replace('${REGISTRY}/podinfo:${PODINFO_TAG}', 'podinfo');
  const tree = {
    'clusters/prod/apps.yaml': fluxImages('./apps/prod', 'ghcr.io/stefanprodan/podinfo', '6.5.0'),
    'apps/deployment.yaml': placeholder,
    'apps/base/deployment.yaml': placeholder,
    'apps/base/kustomization.yaml': 'resources:\n  - deployment.yaml\n',
    'apps/prod/kustomization.yaml': 'resources:\n  - ../base\n',
  };
  const findings = async (dir: string) => {
    const r = await runFerry(['audit', dir, '--manifest', 'm.yaml', '--target', 't.yaml', '--format', 'json'], { cwd: work });
    return (JSON.parse(r.stdout) as AuditReport).findings.filter((f) => f.kind === 'image' && f.file.startsWith(`${dir}/apps/`));
  };

  it('audit reads the placeholder a base writes as the override of the Kustomization whose spec.path builds it, and only there', async () => {
    await repo('images', tree);
    const f = await findings('images');
    const base = f.filter((x) => x.file === 'images/apps/base/deployment.yaml');
    expect(base.map((x) => x.value)).toEqual(['ghcr.io/stefanprodan/podinfo:6.5.0']);
    expect(base[0].provenance).toContain('clusters/prod/apps.yaml spec.images[0]');
    // apps/deployment.yaml is under no spec.path (apps/prod builds only ../base): pulled as written.
    expect(f.filter((x) => x.file === 'images/apps/deployment.yaml').map((x) => x.value)).toEqual(['podinfo']);
  }, 60_000);

  it('rewrite moves the override, leaves the placeholder (its name must still match), and the audit then finds the base on the mirror', async () => {
    const root = await repo('images-rewrite', tree);
    const r = await runFerry(['rewrite', 'manifests', 'images-rewrite', '-t', 't.yaml', '--lock', 'm.lock.json', '--allow-unmapped'], { cwd: work });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(await readFile(path.join(root, 'clusters/prod/apps.yaml'), 'utf8')).toBe(tree['clusters/prod/apps.yaml'].replace('newName: ghcr.io', `newName: ${MIRROR}/ghcr.io`));
    expect(await readFile(path.join(root, 'apps/base/deployment.yaml'), 'utf8')).toBe(placeholder);
    const base = (await findings('images-rewrite')).filter((x) => x.file === 'images-rewrite/apps/base/deployment.yaml');
    expect(base.map((x) => [x.value, x.class])).toEqual([[`${MIRROR}/ghcr.io/stefanprodan/podinfo:6.5.0`, 'internal']]);
  }, 60_000);
});

describe('Flux variables inside the repository path', () => {
  it('a written head followed by a variable moves to the mirror, the variables kept; audit then finds it on the mirror', async () => {
    const image = 'ghcr.io/${ORG}/podinfo:${PODINFO_TAG}';
    const root = await repo('mid', {
      'clusters/prod/apps.yaml': ks('./apps', '  postBuild:\n    substitute:\n      ORG: stefanprodan\n      PODINFO_TAG: "6.5.0"\n'),
      'apps/deployment.yaml': DEPLOY.replace('${REGISTRY}/podinfo:${PODINFO_TAG}', image),
    });
    const r = await runFerry(['rewrite', 'manifests', 'mid', '-t', 't.yaml', '--lock', 'm.lock.json'], { cwd: work });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(await readFile(path.join(root, 'apps/deployment.yaml'), 'utf8')).toBe(DEPLOY.replace('${REGISTRY}/podinfo:${PODINFO_TAG}', `${MIRROR}/${image}`));
    expect((await podinfo('mid')).map((f) => [f.value, f.class])).toEqual([[`${MIRROR}/ghcr.io/stefanprodan/podinfo:6.5.0`, 'internal']]);
  }, 60_000);

  it('refuses, naming it, when a value is not carried', async () => {
    const image = 'ghcr.io/${ORG}/podinfo:6.5.0';
    const root = await repo('mid-missing', {
      'clusters/prod/apps.yaml': ks('./apps', '  postBuild:\n    substitute:\n      ORG: someone-else\n'),
      'apps/deployment.yaml': DEPLOY.replace('${REGISTRY}/podinfo:${PODINFO_TAG}', image),
    });
    const r = await runFerry(['rewrite', 'manifests', 'mid-missing', '-t', 't.yaml', '--lock', 'm.lock.json'], { cwd: work });
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toContain('ghcr.io/someone-else/podinfo:6.5.0');
    expect(await readFile(path.join(root, 'apps/deployment.yaml'), 'utf8')).toBe(DEPLOY.replace('${REGISTRY}/podinfo:${PODINFO_TAG}', image));
  }, 60_000);
});

describe('Flux variables at scale', () => {
  it("a ConfigMap of 50 000 variables named by the Kustomization applying 1 000 workloads: each file's values derived once per Kustomization set, within 512 MB of heap", async () => {
    const settings = ['apiVersion: v1', 'kind: ConfigMap', 'metadata:', '  name: big', '  namespace: flux-system', 'data:', '  REGISTRY: ghcr.io/stefanprodan'];
    for (let i = 0; i < 50_000; i++) settings.push(`  V${i}: "${i}"`);
    const files: Record<string, string> = { 'clusters/prod/apps.yaml': fluxKs('      - kind: ConfigMap\n        name: big\n'), 'clusters/prod/big.yaml': settings.join('\n') + '\n' };
    for (let j = 0; j < 1000; j++) files[`apps/d${j}.yaml`] = DEPLOY.replace('name: podinfo\nspec', `name: podinfo-${j}\nspec`);
    await repo('scale', files);
    // 1 000 copies of 50 000 settings exhausted the heap (4 GB, 36 s) before each file shared its Kustomizations' values.
    const r = await runFerry(['audit', 'scale', '--manifest', 'm.yaml', '--target', 't.yaml', '--format', 'json'], { cwd: work, env: { NODE_OPTIONS: '--max-old-space-size=512' } });
    expect(r.code, r.stderr.slice(-2000)).not.toBe(134);
    const f = (JSON.parse(r.stdout) as AuditReport).findings.filter((x) => x.kind === 'image' && x.file.startsWith('scale/apps/'));
    expect(f).toHaveLength(1001);
    expect(new Set(f.map((x) => x.value))).toEqual(new Set(['ghcr.io/stefanprodan/podinfo:6.5.0']));
  }, 180_000);
});
