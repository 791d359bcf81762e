import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ROOT, runFerry } from '../support/cli.js';

/**
 * `ferry rewrite chart` as a user runs it, on a real chart with a subchart (the corpus'
 * keycloak + postgresql): the images come from `ferry charts images`, the lock pins them, the
 * override moves every one of them to the mirror with keys scoped as Helm scopes subcharts.
 */
const CHART = path.resolve(ROOT, '../shared/corpus/charts/keycloak');
const sha = (s: string) => 'sha256:' + createHash('sha256').update(s).digest('hex');
let work: string;
let target: string;
let images: string[];

async function writeLock(file: string, refs: string[]): Promise<void> {
  const lock = {
    apiVersion: 'ferry/v1alpha1',
    kind: 'Lock',
    manifest: { name: 'kc', digest: sha('kc') },
    images: refs.map((ref) => ({ source: ref, ref, digest: sha(ref), mediaType: 'application/vnd.oci.image.index.v1+json', size: 1, manifests: [], blobs: [] })),
    charts: [],
    files: [],
    apt: [],
  };
  await writeFile(file, JSON.stringify(lock, null, 2));
}

beforeAll(async () => {
  expect(existsSync(CHART), `corpus chart missing at ${CHART}`).toBe(true);
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-rewrite-chart-'));
  target = path.join(work, 'target.yaml');
  await writeFile(target, 'apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: site }\nregistry:\n  url: https://registry.site.example\n  prefix: mirror\n');
  const r = await runFerry(['charts', 'images', CHART, '--json']);
  expect(r.code, r.stderr).toBe(0);
  const report = JSON.parse(r.stdout) as { charts: Array<{ images: Array<{ ref: string; certainty: string }> }> };
  images = report.charts[0].images.filter((i) => i.certainty === 'certain').map((i) => i.ref);
  expect(images).toContain('docker.io/bitnami/postgresql:17.6.0-debian-12-r4');
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('rewrite chart', () => {
  it('writes one override for the chart and its subchart; each report line names file:line old → new', async () => {
    const lock = path.join(work, 'lock.json');
    await writeLock(lock, images);
    const out = path.join(work, 'override.yaml');
    const r = await runFerry(['rewrite', 'chart', CHART, '-t', target, '--lock', lock, '-o', out]);
    expect(r.code, r.stderr).toBe(0);
    const o = parse(await readFile(out, 'utf8'));
    expect(o.image.registry).toBe('registry.site.example/mirror/docker.io');
    expect(o.postgresql.image.registry).toBe('registry.site.example/mirror/docker.io');
    expect(o.global).toEqual({ security: { allowInsecureImages: true } });
    expect(r.stdout).toMatch(/keycloak\/values\.yaml:\d+ {2}docker\.io → registry\.site\.example\/mirror\/docker\.io/);
    expect(r.stdout).toMatch(/charts\/postgresql\/values\.yaml:\d+ {2}docker\.io → /);
    expect(r.stdout).toMatch(/keycloak\/values\.yaml:21 {2}false → true/);
    expect(r.stdout).toContain('dependency postgresql of keycloak: oci://registry-1.docker.io/bitnamicharts → oci://registry.site.example/mirror/docker.io/bitnamicharts (vendored in charts/, nothing to fetch)');
    // Twice: the same bytes.
    const first = await readFile(out, 'utf8');
    const again = await runFerry(['rewrite', 'chart', CHART, '-t', target, '--lock', lock, '-o', out, '--dry-run', '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout).diff).toBe('');
    expect(await readFile(out, 'utf8')).toBe(first);
  });

  it('an image the lock lacks fails the command (exit 1) naming it; nothing is written', async () => {
    const lock = path.join(work, 'partial.json');
    await writeLock(lock, images.filter((i) => !i.includes('postgresql')));
    const out = path.join(work, 'partial-override.yaml');
    const r = await runFerry(['rewrite', 'chart', CHART, '-t', target, '--lock', lock, '-o', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('docker.io/bitnami/postgresql:17.6.0-debian-12-r4');
    expect(r.stderr).toContain('postgresql.image');
    expect(existsSync(out)).toBe(false);
  });
});
