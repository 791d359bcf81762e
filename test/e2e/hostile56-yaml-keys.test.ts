import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify as stringifyYaml } from 'yaml';
import { runFerry } from '../support/cli.js';
import { packageChart, startStaticServer, type PackagedChart, type StaticServer } from '../support/chart-repo.js';

/**
 * hostile56: the yaml library's duplicate-key check compares each key of a map with every key
 * before it. A chart repository's index.yaml in a shape ferry cannot stream one section of (JSON,
 * which Helm reads too, or flow style) is parsed whole: 100 000 chart names under `entries` did
 * not finish in 120 s (40 000 keys: 71 s). Now every YAML ferry reads goes through one module that
 * parses in linear time and, where the real reader refuses a key written twice (Helm's index.yaml:
 * sigs.k8s.io/yaml UnmarshalStrict), finds it with one Set a map. A loopback nginx repository.
 */
let work: string;
let repo: StaticServer;
let chart: PackagedChart;
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRY_MIN_MS: '50', FERRY_RETRIES: '1' });

function indexEntry(c: PackagedChart): Record<string, unknown> {
  return { apiVersion: 'v2', name: c.name, version: c.version, urls: [path.basename(c.file)], digest: c.digest, created: '2026-01-01T00:00:00Z' };
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-h56-'));
  const src = path.join(work, 'src', 'wanted');
  await mkdir(path.join(src, 'templates'), { recursive: true });
  await writeFile(path.join(src, 'Chart.yaml'), stringifyYaml({ apiVersion: 'v2', name: 'wanted', version: '1.2.3' }));
  await writeFile(path.join(src, 'templates', 'cm.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: wanted\n');
  for (const sub of ['big', 'dup']) await mkdir(path.join(work, 'web', sub), { recursive: true });
  chart = await packageChart(src, path.join(work, 'web', 'big'));
  await writeFile(path.join(work, 'web', 'dup', path.basename(chart.file)), await readFile(chart.file));
  // 100 000 chart names, the wanted one last, as one JSON document, a name a line (no `entries:` line to stream a section from).
  const filler: string[] = [];
  for (let i = 0; i < 100_000; i++) filler.push(`"chart-${i}":[{"apiVersion":"v2","name":"chart-${i}","version":"0.1.0","urls":["chart-${i}-0.1.0.tgz"]}]`);
  const wanted = `"wanted":${JSON.stringify([indexEntry(chart)])}`;
  await writeFile(path.join(work, 'web', 'big', 'index.yaml'), `{"apiVersion":"v1","entries":{\n${filler.join(',\n')},\n${wanted}}}\n`);
  // The wanted chart's entry written twice, the second pointing elsewhere: Helm refuses this index.
  const other = { ...indexEntry(chart), urls: ['https://elsewhere.invalid/wanted-1.2.3.tgz'] };
  await writeFile(path.join(work, 'web', 'dup', 'index.yaml'), `{"apiVersion":"v1","entries":{${wanted},"other":[],"wanted":${JSON.stringify([other])}}}\n`);
  repo = await startStaticServer(path.join(work, 'web'));
}, 60_000);

afterAll(async () => {
  await repo?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

async function lockFrom(sub: string) {
  const dir = path.join(work, `run-${sub}`);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'manifest.yaml'), stringifyYaml({ apiVersion: 'ferry/v1alpha1', kind: 'Manifest', metadata: { name: sub }, charts: [{ name: 'wanted', repo: `${repo.url}/${sub}`, version: '1.2.3', images: 'none' }] }));
  const r = await runFerry(['lock', 'manifest.yaml'], { cwd: dir, env: env() });
  return { r, dir };
}

describe('hostile56: YAML map keys are checked in linear time', () => {
  it('locks one chart from an index of 100 000 chart names parsed whole (did not finish in 120 s: each key compared with every key before it)', async () => {
    const { r, dir } = await lockFrom('big');
    expect(r.stderr).not.toMatch(/Map keys must be unique/);
    expect(r.code, r.stderr).toBe(0);
    const lock = JSON.parse(await readFile(path.join(dir, 'big.lock.json'), 'utf8')) as { charts?: Array<Record<string, unknown>> } & Record<string, unknown>;
    const text = JSON.stringify(lock);
    expect(text).toContain(`sha256:${chart.digest}`);
    expect(text).toContain('"wanted"');
    expect(text).toContain('1.2.3');
  }, 90_000);

  it('refuses an index that writes a chart name twice, as Helm does, naming the line', async () => {
    const { r } = await lockFrom('dup');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Map keys must be unique \("wanted" is written twice\) at line 1, column \d+/);
    expect(r.stderr).not.toMatch(/elsewhere\.invalid/);
  }, 60_000);
});
