import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { runCommand, runFerry } from '../support/cli.js';
import { seedImages, type SeededImages } from '../support/images.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';

/**
 * A GitOps site's job (new-user round 8): Argo CD deploys plain manifests through Kustomize, and
 * the site's `kustomization.yaml` pins images with an `images:` list (a tag for one repository, a
 * placeholder name swapped for a digest-pinned image), as `kustomize edit set image` writes it.
 * The images are locked, `rewrite manifests` points the tree at the mirror, `kubectl kustomize`
 * (what Argo CD runs) builds it, and `audit` of the rewritten tree must say nothing goes out.
 *
 * What tripped:
 * - a `kustomization.yaml` without `apiVersion`/`kind` (kustomize's own default, and most of those
 *   in the wild) was not read as a kustomization: its `images:` overrides were silently left
 *   upstream by `rewrite manifests`, and `audit` saw their `newName` as a bare host;
 * - the resources' images an override replaces were judged as written: a base's `app:0.9` that the
 *   kustomization pins to the carried `app:1` failed the rewrite as "not in the lock", and audit
 *   called it undeclared, although kustomize never pulls it;
 * - with `kind: Kustomization`, the rewrite moved the override's `name` (the pattern kustomize
 *   matches) to the mirror: any resource image not rewritten in the same run (a tag the lock does
 *   not hold, a base outside the directory) no longer matched, and `kubectl kustomize` then built
 *   the upstream image — the rewrite made the site pull from outside. Now `name` stays and
 *   `newName` is added (or moved) to the mirror repository;
 * - kustomize's image transformer visits `containers` and `initContainers`, not
 *   `ephemeralContainers`: an override is not applied there.
 * Real docker-registry on loopback and the real `kubectl kustomize`.
 */
let work: string;
let upstream: RunningRegistry;
let seeded: SeededImages;
const SITE = 'registry.site.internal:5443';
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRIES: '0', FERRY_RETRY_MIN_MS: '10' });
let lockFile: string;
let targetFile: string;
let manifestFile: string;
let H: string; // upstream host, as the manifests name it
let mirrorOf: (repo: string) => string;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-newuser8-'));
  upstream = await startRegistry({ mode: 'http' });
  seeded = await seedImages(upstream);
  H = upstream.host;
  mirrorOf = (repo) => `${SITE}/gitops/${H.replace(':', '-')}/${repo}`;
  manifestFile = path.join(work, 'gitops.yaml');
  await writeFile(
    manifestFile,
    ['apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata: { name: gitops }', 'images:', `  - ref: ${seeded.refs.app}`, `  - ref: ${H}/ferry-test/base@${seeded.digests.base}`, ''].join('\n'),
  );
  targetFile = path.join(work, 'site.yaml');
  await writeFile(targetFile, ['apiVersion: ferry/v1alpha1', 'kind: MirrorTarget', 'metadata: { name: site }', 'registry:', `  url: https://${SITE}`, '  prefix: gitops', ''].join('\n'));
  const r = await runFerry(['lock', manifestFile], { env: env() });
  expect(r.code, r.stderr).toBe(0);
  lockFile = path.join(work, 'gitops.lock.json');
}, 180_000);

afterAll(async () => {
  await upstream?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

/** An app directory: a Deployment whose images the kustomization overrides, and one it does not. */
async function appDir(name: string, kustomizationHead: string): Promise<string> {
  const dir = path.join(work, name);
  await mkdir(dir, { recursive: true });
  await writeFile(
    path.join(dir, 'deploy.yaml'),
    `apiVersion: apps/v1
kind: Deployment
metadata: { name: web }
spec:
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      initContainers:
        - name: init
          image: base-placeholder
      containers:
        - name: web
          image: ${H}/ferry-test/app:0.9
---
apiVersion: v1
kind: Pod
metadata: { name: debug }
spec:
  containers:
    - name: main
      image: ${H}/ferry-test/app:0.9
  ephemeralContainers:
    - name: dbg
      image: ${H}/ferry-test/app:1
`,
  );
  await writeFile(
    path.join(dir, 'kustomization.yaml'),
    `${kustomizationHead}resources:
  - deploy.yaml
images:
  - name: ${H}/ferry-test/app
    newTag: "1"   # pinned by the release pipeline
  - name: base-placeholder
    newName: ${H}/ferry-test/base
    digest: ${seeded.digests.base}
`,
  );
  return dir;
}

async function kustomizeImages(dir: string): Promise<string[]> {
  const built = await runCommand('kubectl', ['kustomize', dir]);
  expect(built.code, built.stderr).toBe(0);
  return [...built.stdout.matchAll(/image: (\S+)/g)].map((m) => m[1]).sort();
}

type Finding = { file: string; line: number; keyPath?: string; kind: string; value: string; class: string; note?: string };

describe('GitOps site: Kustomize overrides rewritten to the mirror', () => {
  const expectedBuild = () =>
    [`${mirrorOf('ferry-test/app')}:1`, `${mirrorOf('ferry-test/app')}:1`, `${mirrorOf('ferry-test/base')}@${seeded.digests.base}`, `${mirrorOf('ferry-test/app')}:1`].sort();

  it('a kustomization.yaml without apiVersion/kind is a kustomization: its overrides move to the mirror, and kubectl kustomize builds mirror images only', async () => {
    const dir = await appDir('plain', '');
    // Before: kustomize pulls the pinned images from upstream.
    expect(await kustomizeImages(dir)).toEqual([`${H}/ferry-test/app:1`, `${H}/ferry-test/app:1`, `${H}/ferry-test/app:1`, `${H}/ferry-test/base@${seeded.digests.base}`].sort());

    const r = await runFerry(['rewrite', 'manifests', dir, '-t', targetFile, '--lock', lockFile]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const kust = parseYaml(await readFile(path.join(dir, 'kustomization.yaml'), 'utf8'));
    expect(kust.images).toEqual([
      { name: `${H}/ferry-test/app`, newName: mirrorOf('ferry-test/app'), newTag: '1' },
      { name: 'base-placeholder', newName: mirrorOf('ferry-test/base'), digest: seeded.digests.base },
    ]);
    // The comment on the entry stays where it was.
    expect(await readFile(path.join(dir, 'kustomization.yaml'), 'utf8')).toContain('newTag: "1"   # pinned by the release pipeline');
    // The overridden resource images stay as written (the override replaces them); the ephemeral
    // container, which kustomize does not touch, was rewritten itself.
    const deploy = await readFile(path.join(dir, 'deploy.yaml'), 'utf8');
    expect(deploy).toContain(`image: ${H}/ferry-test/app:0.9`);
    expect(deploy).toContain(`image: ${mirrorOf('ferry-test/app')}:1`);
    expect(await kustomizeImages(dir)).toEqual(expectedBuild());

    // Idempotent.
    const again = await runFerry(['rewrite', 'manifests', dir, '-t', targetFile, '--lock', lockFile, '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect((JSON.parse(again.stdout) as { replacements: unknown[] }).replacements).toEqual([]);

    // Audit of the rewritten tree: every image is read as kustomize pulls it, all on the mirror.
    const audit = await runFerry(['audit', dir, '--manifest', manifestFile, '--target', targetFile, '--fail-on', 'unmapped', '--json']);
    expect(audit.code, audit.stdout + audit.stderr).toBe(0);
    const findings = (JSON.parse(audit.stdout) as { findings: Finding[] }).findings;
    expect(findings.filter((f) => f.class !== 'internal')).toEqual([]);
    const web = findings.find((f) => f.file.endsWith('deploy.yaml') && f.keyPath === 'spec.template.spec.containers[0].image');
    expect(web).toMatchObject({ kind: 'image', value: `${mirrorOf('ferry-test/app')}:1` });
    expect(web!.note).toContain('kustomization.yaml images[0]');
  });

  it('audit before the rewrite: the overrides are images (mirrored), and the base image they replace is not reported as going out', async () => {
    const dir = await appDir('before', '');
    const audit = await runFerry(['audit', dir, '--manifest', manifestFile, '--target', targetFile, '--json']);
    expect(audit.code, audit.stderr).toBe(0);
    const findings = (JSON.parse(audit.stdout) as { findings: Finding[] }).findings;
    expect(findings.find((f) => f.keyPath === 'images[1].newName')).toMatchObject({ kind: 'image', value: `${H}/ferry-test/base@${seeded.digests.base}`, class: 'mirrored' });
    expect(findings.filter((f) => f.value.includes(':0.9'))).toEqual([]);
    expect(findings.filter((f) => f.kind === 'image' && f.class !== 'mirrored')).toEqual([]);
  });

  it('with kind: Kustomization the override keeps its name pattern, so a resource left upstream still gets the mirror image', async () => {
    const dir = await appDir('typed', 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n');
    const r = await runFerry(['rewrite', 'manifests', dir, '-t', targetFile, '--lock', lockFile]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const kust = parseYaml(await readFile(path.join(dir, 'kustomization.yaml'), 'utf8'));
    expect(kust.images[0]).toEqual({ name: `${H}/ferry-test/app`, newName: mirrorOf('ferry-test/app'), newTag: '1' });
    expect(await kustomizeImages(dir)).toEqual(expectedBuild());

    // An overlay whose base sits outside the rewritten directory: the base keeps its upstream
    // image, and the overlay's override must still match it.
    const overlay = path.join(work, 'overlay', 'prod');
    await mkdir(overlay, { recursive: true });
    await cp(path.join(work, 'before'), path.join(work, 'overlay', 'base'), { recursive: true });
    await writeFile(path.join(work, 'overlay', 'base', 'kustomization.yaml'), 'resources: [deploy.yaml]\n');
    await writeFile(
      path.join(overlay, 'kustomization.yaml'),
      `resources: [../base]\nimages:\n  - { name: ${H}/ferry-test/app, newTag: "1" }\n  - name: base-placeholder\n    newName: ${H}/ferry-test/base\n    digest: ${seeded.digests.base}\n`,
    );
    const o = await runFerry(['rewrite', 'manifests', overlay, '-t', targetFile, '--lock', lockFile]);
    expect(o.code, o.stdout + o.stderr).toBe(0);
    expect(parseYaml(await readFile(path.join(overlay, 'kustomization.yaml'), 'utf8')).images[0]).toEqual({ name: `${H}/ferry-test/app`, newTag: '1', newName: mirrorOf('ferry-test/app') });
    const built = await kustomizeImages(overlay);
    // What kustomize builds from the overlay: the overridden containers on the mirror; only the
    // base's ephemeral container (not the overlay's to change, and not touched by kustomize) stays.
    expect(built).toEqual([`${H}/ferry-test/app:1`, `${mirrorOf('ferry-test/app')}:1`, `${mirrorOf('ferry-test/app')}:1`, `${mirrorOf('ferry-test/base')}@${seeded.digests.base}`].sort());
  });

  it('an override that pins a tag the lock lacks fails the rewrite at the kustomization, and the resource it replaces says what kustomize pulls', async () => {
    const dir = await appDir('missing', '');
    const k = path.join(dir, 'kustomization.yaml');
    await writeFile(k, (await readFile(k, 'utf8')).replace('newTag: "1"', 'newTag: "2"'));
    const r = await runFerry(['rewrite', 'manifests', dir, '-t', targetFile, '--lock', lockFile]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/kustomization\.yaml:4 .*ferry-test\/app:2 +\(tag 2 not in the lock; Kustomization images\[0\]\.name\)/);
    expect(r.stderr).toMatch(new RegExp(`deploy\\.yaml:14 .*pulled as ${H.replace(/[.]/g, '\\.')}/ferry-test/app:2 \\(kustomization\\.yaml images\\[0\\]\\): tag 2 not in the lock`));
    // Nothing was written.
    expect(await readFile(k, 'utf8')).not.toContain(SITE);
  });
});
