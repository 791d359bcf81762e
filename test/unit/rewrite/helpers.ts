import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { discoverChartImages, userValues } from '../../../src/kinds/chart/discover/index.js';
import { loadChart } from '../../../src/kinds/chart/load.js';
import { imageValuesOf } from '../../../src/kinds/chart/lock.js';
import { LockSchema, type Lock } from '../../../src/kinds/schema.js';
import { MirrorTargetSchema, type MirrorTarget } from '../../../src/manifest/target.js';
import { createRewriteContext, type RewriteContext } from '../../../src/rewrite/context.js';
import { rewriteValues } from '../../../src/rewrite/values.js';

export const FIXTURES = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../fixtures/rewrite');

export async function fixtureLock(): Promise<Lock> {
  return LockSchema.parse(JSON.parse(await readFile(path.join(FIXTURES, 'lock.json'), 'utf8')));
}

export async function fixtureTarget(patch: (t: Record<string, unknown>) => void = () => undefined): Promise<MirrorTarget> {
  const raw = parse(await readFile(path.join(FIXTURES, 'target.yaml'), 'utf8')) as Record<string, unknown>;
  patch(raw);
  return MirrorTargetSchema.parse(raw);
}

export async function fixtureContext(patch?: (t: Record<string, unknown>) => void, targetFile = path.join(FIXTURES, 'target.yaml')): Promise<RewriteContext> {
  return createRewriteContext(await fixtureTarget(patch), await fixtureLock(), targetFile);
}

/** A temp copy of fixture files (tests edit in place). */
export async function scratch(...names: string[]): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-rewrite-unit-'));
  for (const n of names) await cp(path.join(FIXTURES, n), path.join(dir, n));
  return dir;
}

export async function write(dir: string, name: string, text: string): Promise<string> {
  const f = path.join(dir, name);
  await writeFile(f, text);
  return f;
}

const sha = (t: string) => 'sha256:' + createHash('sha256').update(t).digest('hex');

export const MIRROR = 'mirror.site.example:5000/ferry';
export const CTRL_DIGEST = 'sha256:f48a2c980882da0079b098950eb796d0c1f98277ce451b22c98b2b01b5a607b2';
export const CTRL_STORED = 'sha256:a52e554a2de73079f4e5a2f54242014b3d226d7bf522183d10cc4f843cfc6aed';

/** A chart (or any tree) written under `root/name` from `{relative path: text}`. */
export async function writeTree(root: string, name: string, files: Record<string, string>): Promise<string> {
  const dir = path.join(root, name);
  for (const [f, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, f)), { recursive: true });
    await writeFile(path.join(dir, f), text);
  }
  return dir;
}

/** A lock with one chart deploying `images` (each an index of size 1), its values keys in `imageValues`. */
export function chartLock(images: string[], imageValues: Record<string, Array<{ path: string }>>, name: string, version = '0.1.1'): Lock {
  return LockSchema.parse({
    apiVersion: 'ferry/v1alpha1',
    kind: 'Lock',
    manifest: { name: 'x', digest: sha('x') },
    images: images.map((r) => ({ source: r, ref: r, digest: r.split('@')[1] ?? sha(r), mediaType: 'application/vnd.oci.image.index.v1+json', size: 1, manifests: [], blobs: [] })),
    charts: [{ name, version, repo: 'https://charts.example', requested: version, source: 'http', digest: sha('c'), size: 1, images, imageValues }],
  });
}

/** Lock the chart with its defaults (as `ferry lock` does), rewrite the user file in place, render with it. */
export async function lockRewriteRender(tmp: string, dir: string, user: string, withKeys = true) {
  const chart = await loadChart(dir, { allFiles: true });
  const found = discoverChartImages(chart);
  const images = found.images.filter((i) => i.certainty === 'certain').map((i) => i.ref);
  const lock = LockSchema.parse({
    apiVersion: 'ferry/v1alpha1',
    kind: 'Lock',
    manifest: { name: 'x', digest: sha('x') },
    images: images.map((r) => ({ source: r, ref: r, digest: sha(r), mediaType: 'application/vnd.oci.image.index.v1+json', size: 1, manifests: [], blobs: [] })),
    charts: [{ name: chart.metadata.name, repo: 'https://charts.example', version: chart.metadata.version, requested: '*', source: 'http', digest: sha('c'), size: 1, images, ...(withKeys ? { imageValues: imageValuesOf(found.images) } : {}) }],
  });
  const ctx = createRewriteContext(await fixtureTarget(), lock);
  const file = path.join(tmp, `${path.basename(dir)}-values.yaml`);
  await writeFile(file, user);
  const r = await rewriteValues([file], ctx, { inPlace: true });
  const text = await readFile(file, 'utf8');
  const rendered = discoverChartImages(chart, { values: [userValues(text, file)] }).images.filter((i) => i.certainty === 'certain').map((i) => i.ref);
  const upstream = rendered.filter((i) => !i.startsWith(`${MIRROR}/`));
  return { r, text, rendered, upstream, lock };
}
