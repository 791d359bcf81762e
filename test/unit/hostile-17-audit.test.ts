import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scanPaths } from '../../src/audit/scan.js';

/**
 * Hostile pass 17, audit: Flux `postBuild.substitute` / `substituteFrom` from a crafted GitOps tree.
 *
 * What tripped: a variable set to a different value by each of 20 000 Kustomizations (one
 * YAML file well inside the scan's bounds) made every `${VAR}` image build a copy of its
 * variables for every value before keeping 16 (and the values were deduplicated by scanning the
 * list: quadratic) — 300 workloads took minutes. Now the ways are cut at 16 as they are made.
 */
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-h17-audit-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('Flux substitution from a crafted tree', () => {
  it('a variable set 20 000 ways, used by 300 workloads: at most 16 references each, in bounded work', { timeout: 60_000 }, async () => {
    const root = path.join(dir, 'many');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(root, { recursive: true });
    const N = 20_000;
    const ks: string[] = [];
    for (let i = 0; i < N; i++) {
      ks.push(`apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: k${i}}\nspec:\n  postBuild:\n    substitute: {REG: r${i}.example.com, TAG: v${i}}\n`);
    }
    await writeFile(path.join(root, 'flux.yaml'), ks.join('---\n'));
    const deploys: string[] = [];
    for (let i = 0; i < 300; i++) {
      deploys.push(`apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d${i}}\nspec:\n  template:\n    spec:\n      containers:\n        - name: c\n          image: \${REG}/app${i}:\${TAG}\n`);
    }
    await writeFile(path.join(root, 'apps.yaml'), deploys.join('---\n'));
    const res = await scanPaths([root], dir);
    const images = res.references.filter((r) => r.kind === 'image' && r.file.endsWith('apps.yaml'));
    expect(images.length).toBe(300 * 16);
    expect(images[0].value).toBe('r0.example.com/app0:v0');
    expect(images.every((r) => !r.value.includes('${'))).toBe(true);
  });
});
