import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify as stringifyYaml } from 'yaml';
import { runFerry } from '../support/cli.js';
import { packageChart, writeRepoIndex } from '../support/chart-repo.js';
import { seedImages, type SeededImages } from '../support/images.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';
import { startStaticServer, type StaticServer } from '../support/static-http.js';

/**
 * `lock` resolves everything it can and reports every failure together, each with what to do:
 * a user fixes a manifest in one pass, not one run per mistake. Real registry and HTTP server
 * on loopback.
 */
let work: string;
let reg: RunningRegistry;
let web: StaticServer;
let seeded: SeededImages;
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRIES: '0', FERRY_RETRY_MIN_MS: '10' });

async function writeManifest(name: string, body: Record<string, unknown>): Promise<string> {
  const file = path.join(work, `${name}.yaml`);
  await writeFile(file, stringifyYaml({ apiVersion: 'ferry/v1alpha1', kind: 'Manifest', metadata: { name }, ...body }));
  return file;
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-lock-errors-'));
  const webRoot = path.join(work, 'web');
  await mkdir(path.join(webRoot, 'charts'), { recursive: true });
  [reg, web] = await Promise.all([startRegistry({ mode: 'http' }), startStaticServer(webRoot)]);
  seeded = await seedImages(reg);
  // A chart (1.0.0 only) whose values name an image tag the registry does not have.
  const chartDir = path.join(work, 'src', 'shop');
  await mkdir(path.join(chartDir, 'templates'), { recursive: true });
  await writeFile(path.join(chartDir, 'Chart.yaml'), stringifyYaml({ apiVersion: 'v2', name: 'shop', version: '1.0.0' }));
  await writeFile(path.join(chartDir, 'values.yaml'), `image: ${reg.host}/ferry-test/shop:404\n`);
  await writeFile(
    path.join(chartDir, 'templates', 'deploy.yaml'),
    'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: shop\nspec:\n  template:\n    spec:\n      containers:\n        - name: shop\n          image: {{ .Values.image | quote }}\n',
  );
  await writeRepoIndex(path.join(webRoot, 'charts'), [await packageChart(chartDir, path.join(webRoot, 'charts'))]);
  await writeFile(path.join(webRoot, 'tool.sh'), '#!/bin/sh\n');
}, 300_000);

afterAll(async () => {
  await reg?.stop();
  await web?.close();
  if (work && !process.env.FERRY_TEST_KEEP) await rm(work, { recursive: true, force: true });
});

describe('lock reports every artifact it cannot resolve, together', () => {
  it('an unknown image tag, a missing file and a chart version that does not exist: one run lists all three', async () => {
    const manifest = await writeManifest('broken', {
      images: [{ ref: seeded.refs.base }, { ref: `${reg.host}/ferry-test/base:9.9.9` }],
      charts: [{ name: 'shop', repo: `${web.url}/charts`, version: '7.0.0' }],
      files: [
        { name: 'tool', url: `${web.url}/tool.sh`, sha256: '0'.repeat(64) },
        { name: 'gone', url: `${web.url}/missing/gone-1.0.tar.gz` },
      ],
    });
    const r = await runFerry(['lock', manifest, '--insecure-registry', reg.host], { env: env() });
    const err = r.stderr.slice(r.stderr.indexOf('error:'));
    expect(err).toMatch(/^error: 3 artifacts could not be resolved$/m);
    // Each named, with its cause and its own hint.
    expect(err).toContain(`${reg.host}/ferry-test/base:9.9.9`);
    expect(err).toContain(`${web.url}/missing/gone-1.0.tar.gz`);
    expect(err).toMatch(/chart shop: no version matches "7\.0\.0"/);
    expect(err).toContain('versions that exist (newest first): 1.0.0');
    expect(err.match(/^ {4}hint: /gm)?.length).toBe(3);
    // Listed in manifest order (images, charts, files); what resolved is not listed.
    const at = (s: string) => err.indexOf(s);
    expect(at('base:9.9.9')).toBeLessThan(at('chart shop'));
    expect(at('chart shop')).toBeLessThan(at('gone-1.0.tar.gz'));
    expect(err).not.toContain(`${seeded.refs.base}:`);
    expect(err).not.toMatch(/\n\s+at /);
    // Exit code of the first failure's class: not found upstream → 4. No lock written.
    expect(r.code).toBe(4);
    expect(existsSync(path.join(work, 'broken.lock.json'))).toBe(false);
    // The progress lines showed the others resolving.
    expect(r.stderr).toContain(`${seeded.refs.base}: resolved sha256:`);
  });

  it('an image a chart deploys that does not exist names the chart (typed origin), with the other failures', async () => {
    const manifest = await writeManifest('discovered', {
      images: [{ ref: `${reg.host}/ferry-test/app:nope` }],
      charts: [{ name: 'shop', repo: `${web.url}/charts`, version: '1.0.0' }],
    });
    const r = await runFerry(['lock', manifest, '--insecure-registry', reg.host], { env: env() });
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/^error: 2 artifacts could not be resolved$/m);
    expect(r.stderr).toMatch(new RegExp(`ferry-test/shop:404.*\\(image deployed by chart shop 1\\.0\\.0\\)`));
    expect(r.stderr).toContain("Set the chart's values so it deploys an image that exists");
    // The explicit image is not attributed to the chart.
    expect(r.stderr).not.toMatch(/app:nope.*deployed by/);
  });

  it('a single failure is reported as itself', async () => {
    const manifest = await writeManifest('one', { images: [{ ref: seeded.refs.base }, { ref: `${reg.host}/ferry-test/nothing:1` }] });
    const r = await runFerry(['lock', manifest, '--insecure-registry', reg.host], { env: env() });
    expect(r.code).toBe(4);
    expect(r.stderr).not.toContain('could not be resolved');
    expect(r.stderr).toMatch(/^error: .*ferry-test\/nothing/m);
    expect(await readFile(manifest, 'utf8')).toContain('nothing');
  });
});
