import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { interpolateCompose, MAX_INTERPOLATED, scanPaths } from '../../src/audit/scan.js';
import { parseDocument } from 'yaml';
import { chartSourcesOf } from '../../src/audit/chart-sources.js';
import { collectYamlFiles } from '../../src/rewrite/manifests.js';

/**
 * Hostile pass 20, audit scan and `rewrite manifests` (Compose, kustomize, the kept texts).
 *
 * What tripped:
 * - A Compose default holding a variable (`${APP:-${DEFAULT_APP}}`, which compose-go expands) was
 *   cut at its first `}`: the audit said the service is "pulled as ${DEFAULT_APP}" (no image at
 *   all) and `acme/app:${TAG:-${DEF_TAG}}` "pulled as acme/app:${DEF_TAG}".
 * - kustomize's third file name, `Kustomization` (no extension), was read as plain text: its
 *   `images:` override was never applied, so the audit reported the image as written (carried,
 *   "mirrored") while kustomize deploys the override (upstream); `rewrite manifests` did not
 *   even list the file.
 * - A Flux OCIRepository with both `ref.tag` and `ref.semver` was read by its tag; Flux pulls by
 *   the range (and by `ref.digest` before both), so a carried tag beside an uncarried range was
 *   rewritten and audited as carried while Flux asks the mirror for a version it lacks.
 */
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-h20-audit-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const images = (res: Awaited<ReturnType<typeof scanPaths>>, file: string) => res.references.filter((r) => r.kind === 'image' && r.file === file).map((r) => r.value);

describe('Compose defaults that hold variables', () => {
  it('interpolates a nested default as compose-go does', () => {
    const env = new Map([
      ['DEF', 'evil.example.com/app:1'],
      ['T', '9'],
    ]);
    expect(interpolateCompose('${APP:-${DEF}}', env)).toEqual({ value: 'evil.example.com/app:1', unresolved: [] });
    expect(interpolateCompose('acme/app:${TAG:-${T}}', env)).toEqual({ value: 'acme/app:9', unresolved: [] });
    expect(interpolateCompose('${X:-${Y:-docker.io/library/nginx:1}}', env)).toEqual({ value: 'docker.io/library/nginx:1', unresolved: [] });
    expect(interpolateCompose('${T:+${DEF}}', env)).toEqual({ value: 'evil.example.com/app:1', unresolved: [] });
    // A variable nested and set nowhere is named, not reported as what is pulled.
    expect(interpolateCompose('${A:-${B}}', env)).toEqual({ value: '${B}', unresolved: ['B'] });
    // A default that is not used is not expanded (its variables are not "unresolved").
    expect(interpolateCompose('${T:-${NOPE}}', env)).toEqual({ value: '9', unresolved: [] });
    // `$$` and an unclosed `${` stay literal.
    expect(interpolateCompose('$${T}-${T', env)).toEqual({ value: '${T}-${T', unresolved: [] });
  });

  it('a nesting 600 deep, and a nested default past the bound, are bounded', () => {
    const deep = '${A:-'.repeat(600) + 'x' + '}'.repeat(600);
    expect(interpolateCompose(deep, new Map())).toEqual({ value: 'x', unresolved: [] });
    const big = interpolateCompose('${A:-${B}${B}}', new Map([['B', 'b'.repeat(MAX_INTERPOLATED)]]));
    expect(big.tooLong).toBe(true);
    expect(interpolateCompose('${A:-' + 'y'.repeat(10 * 1024 * 1024) + '}', new Map()).tooLong).toBe(true);
  });

  it('the audit reports the image a nested default pulls', async () => {
    const root = path.join(dir, 'compose');
    await mkdir(root, { recursive: true });
    await writeFile(path.join(root, 'compose.yaml'), 'services:\n  a:\n    image: ${APP:-${DEF}}\n  b:\n    image: acme/app:${TAG:-${DTAG}}\n');
    await writeFile(path.join(root, '.env'), 'DEF=evil.example.com/app:1\nDTAG=9\n');
    for (const opts of [{}, { textPatterns: ['nothing'] }]) {
      const res = await scanPaths([root], dir, opts);
      expect(images(res, 'compose/compose.yaml')).toEqual(['evil.example.com/app:1', 'acme/app:9']);
    }
  });
});

describe('a kustomization named Kustomization', () => {
  it('its images: override is applied by the audit (full text or kept texts alike)', async () => {
    const root = path.join(dir, 'kust');
    await mkdir(root, { recursive: true });
    await writeFile(path.join(root, 'd.yaml'), 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  template:\n    spec:\n      containers:\n        - name: c\n          image: nginx:1.0\n');
    await writeFile(path.join(root, 'Kustomization'), 'resources: [d.yaml]\nimages:\n  - name: nginx\n    newName: evil.example.com/nginx\n');
    for (const opts of [{}, { textPatterns: ['nothing'] }]) {
      const res = await scanPaths([root], dir, opts);
      expect(images(res, 'kust/d.yaml')).toEqual(['evil.example.com/nginx:1.0']);
    }
  });

  it('rewrite manifests lists it with the YAML files', async () => {
    const root = path.join(dir, 'kust');
    const files = await collectYamlFiles([root]);
    expect(files.map((f) => path.basename(f))).toEqual(['Kustomization', 'd.yaml']);
  });
});

describe('a Flux OCIRepository ref', () => {
  const versionOf = (ref: string) => chartSourcesOf(parseDocument(`apiVersion: source.toolkit.fluxcd.io/v1beta2\nkind: OCIRepository\nmetadata: {name: m}\nspec:\n  url: oci://ghcr.io/acme/manifests\n  ref: ${ref}\n`).contents)[0]?.version;
  it('is read in Flux precedence: digest, semver, tag', () => {
    expect(versionOf('{tag: 1.0.0, semver: ">=2.0.0"}')).toBe('>=2.0.0');
    expect(versionOf('{semver: ">=2.0.0", tag: 1.0.0}')).toBe('>=2.0.0');
    expect(versionOf(`{tag: 1.0.0, digest: "sha256:${'a'.repeat(64)}"}`)).toBe(`sha256:${'a'.repeat(64)}`);
    expect(versionOf('{tag: 1.0.0}')).toBe('1.0.0');
  });
});
