import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { create as tarCreate } from 'tar';
import { parse as parseYaml } from 'yaml';
import { importChart } from '../../../src/kinds/chart/import.js';
import { helmConfigJson, helmManifest } from '../../../src/kinds/chart/repo-oci.js';
import { MT, type OciDescriptor } from '../../../src/oci/media-types.js';
import { BlobStore } from '../../../src/store/blob-store.js';
import { LayoutDir } from '../../../src/store/layout.js';
import { silentProgress } from '../../../src/ui/progress.js';
import type { ImportContext } from '../../../src/kinds/types.js';
import { writeChart } from './helpers.js';

let tmp: string;
let top: OciDescriptor;
let tgz: Buffer;
let source: LayoutDir;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ferry-chart-import-'));
  await writeChart(path.join(tmp, 'pkg', 'demo'), { chart: { name: 'demo', version: '1.2.3', appVersion: '4.5.6', description: 'A demo' }, values: 'replicas: 1\n' });
  const file = path.join(tmp, 'demo-1.2.3.tgz');
  await tarCreate({ gzip: true, file, cwd: path.join(tmp, 'pkg'), portable: true }, ['demo']);
  tgz = await readFile(file);
  const store = new BlobStore(path.join(tmp, 'store'));
  await store.init();
  const chart = await store.putBytes(tgz);
  const config = await store.putBytes(helmConfigJson({ name: 'demo', version: '1.2.3', appVersion: '4.5.6', apiVersion: 'v2', description: 'A demo' }));
  const manifest = await store.putBytes(helmManifest({ mediaType: MT.helmConfig, ...config }, { mediaType: MT.helmChart, ...chart }, undefined, { name: 'demo', version: '1.2.3' }));
  top = { mediaType: MT.ociManifest, ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'charts.example.com/demo:1.2.3', 'io.ferry.kind': 'chart' } };
  source = new LayoutDir(store.root);
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

function ctxFor(dir: string): ImportContext {
  return {
    source,
    target: { target: { apiVersion: 'ferry/v1alpha1', kind: 'MirrorTarget', metadata: { name: 't' }, charts: { dir, baseUrl: 'https://charts.site.internal/helm' } }, file: path.join(tmp, 't.yaml'), dir: tmp },
    progress: silentProgress,
    concurrency: 2,
    mounts: new Map(),
  } as unknown as ImportContext;
}

describe('import into an HTTP chart repository directory', () => {
  it('writes the archive byte for byte and an index.yaml pointing at baseUrl; a rerun changes nothing', async () => {
    const r = await importChart(top, ctxFor('repo-a'));
    expect(r).toEqual([{ artifact: 'chart demo 1.2.3', location: 'https://charts.site.internal/helm/demo-1.2.3.tgz', bytesSent: tgz.length, skipped: false }]);
    expect(await readFile(path.join(tmp, 'repo-a', 'demo-1.2.3.tgz'))).toEqual(tgz);
    const text = await readFile(path.join(tmp, 'repo-a', 'index.yaml'), 'utf8');
    const index = parseYaml(text);
    expect(index.apiVersion).toBe('v1');
    expect(index.entries.demo).toEqual([
      { apiVersion: 'v2', name: 'demo', version: '1.2.3', description: 'A demo', appVersion: '4.5.6', urls: ['https://charts.site.internal/helm/demo-1.2.3.tgz'], digest: createHash('sha256').update(tgz).digest('hex') },
    ]);
    const again = await importChart(top, ctxFor('repo-a'));
    expect(again[0].skipped).toBe(true);
    expect(await readFile(path.join(tmp, 'repo-a', 'index.yaml'), 'utf8')).toBe(text);
  });

  it('refuses to list a different archive under a version the index already has', async () => {
    const dir = path.join(tmp, 'repo-b');
    await importChart(top, ctxFor('repo-b'));
    const index = parseYaml(await readFile(path.join(dir, 'index.yaml'), 'utf8'));
    index.entries.demo[0].digest = 'f'.repeat(64);
    await writeFile(path.join(dir, 'index.yaml'), JSON.stringify(index));
    await expect(importChart(top, ctxFor('repo-b'))).rejects.toThrow(/demo 1\.2\.3 is already listed with digest f{64}/);
  });

  it('will not overwrite an index.yaml it cannot read', async () => {
    const dir = path.join(tmp, 'repo-c');
    await importChart(top, ctxFor('repo-c'));
    await writeFile(path.join(dir, 'index.yaml'), 'entries: [unclosed\n');
    await expect(importChart(top, ctxFor('repo-c'))).rejects.toThrow(/index\.yaml: the existing index is not valid YAML/);
    expect(await readFile(path.join(dir, 'index.yaml'), 'utf8')).toBe('entries: [unclosed\n');
  });
});
