import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { packageChart, type PackagedChart } from '../support/chart-repo.js';
import { runFerry } from '../support/cli.js';
import { startFerryServe, startStaticServer, type StaticServer } from '../support/static-http.js';

/**
 * Chart names Helm allows (letters, digits, `.`, `_`, `-`) that are also the names of what every
 * JavaScript object inherits: `constructor`, `__proto__`, `toString`. index.yaml is a map from
 * chart name to versions; import looked a bundle's chart up in it as a plain object, so a chart
 * named `constructor` found Object's constructor function there and import died with "unexpected
 * error" after the archive was written, and one named `__proto__` replaced the map's prototype
 * instead of adding an entry: its archive was written and index.yaml never listed it. Real charts
 * from a loopback repository, locked and bundled by ferry; helm's own index.yaml shape read back.
 */
const NAMES = ['constructor', '__proto__', 'toString', 'hello'];
let work: string;
let http: StaticServer;
let charts: PackagedChart[];
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRIES: '1', FERRY_RETRY_MIN_MS: '50' });

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-hostile47-charts-'));
  const repo = path.join(work, 'public', 'charts');
  charts = [];
  for (const name of NAMES) {
    const src = path.join(work, 'src', name);
    await mkdir(path.join(src, 'templates'), { recursive: true });
    await writeFile(path.join(src, 'Chart.yaml'), stringifyYaml({ apiVersion: 'v2', name, version: '1.0.0', description: `the ${name} chart` }));
    await writeFile(path.join(src, 'templates', 'cm.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n');
    charts.push(await packageChart(src, repo));
  }
  // Built from a list of pairs: an object literal keyed `__proto__` would set a prototype, not a key.
  const entries = Object.fromEntries(charts.map((c) => [c.name, [{ apiVersion: 'v2', name: c.name, version: c.version, urls: [path.basename(c.file)], digest: c.digest }]]));
  await writeFile(path.join(repo, 'index.yaml'), stringifyYaml({ apiVersion: 'v1', entries }));
  http = await startStaticServer(path.join(work, 'public'));
  const manifest = { apiVersion: 'ferry/v1alpha1', kind: 'Manifest', metadata: { name: 'h47' }, charts: NAMES.map((name) => ({ repo: `${http.url}/charts`, name, version: '1.0.0', images: [] })) };
  await writeFile(path.join(work, 'manifest.yaml'), stringifyYaml(manifest));
  const r = await runFerry(['bundle', 'create', 'manifest.yaml', '-o', 'b.tar'], { cwd: work, env: env() });
  expect(r.code, r.stderr).toBe(0);
}, 180_000);

afterAll(async () => {
  await http?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

async function newTarget(name: string): Promise<{ target: string; chartsDir: string }> {
  const dir = path.join(work, name);
  await mkdir(dir, { recursive: true });
  const target = path.join(dir, 'target.yaml');
  await writeFile(target, stringifyYaml({ apiVersion: 'ferry/v1alpha1', kind: 'MirrorTarget', metadata: { name: 'site' }, charts: { dir: './charts', baseUrl: 'http://charts.site.internal' } }));
  return { target, chartsDir: path.join(dir, 'charts') };
}

/** index.yaml's entries as own keys (a `__proto__` key read as a key, not a prototype). */
function listed(text: string): Map<string, Array<Record<string, unknown>>> {
  const doc = parseYaml(text) as { entries: Record<string, Array<Record<string, unknown>>> };
  return new Map(Object.entries(doc.entries));
}

describe('charts named constructor, __proto__ and toString (valid Helm names)', () => {
  it('import writes each archive and lists each in index.yaml with its own digest; a second import of the bundle changes nothing', async () => {
    const { target, chartsDir } = await newTarget('import');
    const r = await runFerry(['import', path.join(work, 'b.tar'), '--target', target], { cwd: path.dirname(target), env: env() });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/unexpected error/);
    const index = await readFile(path.join(chartsDir, 'index.yaml'), 'utf8');
    const entries = listed(index);
    expect([...entries.keys()].sort()).toEqual([...NAMES].sort());
    for (const c of charts) {
      const versions = entries.get(c.name)!;
      expect(versions).toHaveLength(1);
      expect(versions[0]).toMatchObject({ name: c.name, version: '1.0.0', digest: c.digest, urls: [`http://charts.site.internal/${c.name}-1.0.0.tgz`], description: `the ${c.name} chart` });
    }
    expect((await readdir(chartsDir)).filter((f) => f.endsWith('.tgz')).sort()).toEqual(NAMES.map((n) => `${n}-1.0.0.tgz`).sort());
    // Again: every chart found where the first import listed it (the same archive, the same entry).
    const again = await runFerry(['import', path.join(work, 'b.tar'), '--target', target], { cwd: path.dirname(target), env: env() });
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(await readFile(path.join(chartsDir, 'index.yaml'), 'utf8')).toBe(index);
  });

  it('serve lists each in /charts/index.yaml and answers its archive', async () => {
    const s = await startFerryServe([path.join(work, 'b.tar')], { cwd: work, env: env() });
    try {
      const entries = listed(await (await fetch(`${s.url}/charts/index.yaml`)).text());
      expect([...entries.keys()].sort()).toEqual([...NAMES].sort());
      for (const c of charts) {
        const got = await fetch(`${s.url}/charts/${encodeURIComponent(c.name)}-1.0.0.tgz`);
        expect(got.status).toBe(200);
        expect(Buffer.from(await got.arrayBuffer()).equals(await readFile(c.file))).toBe(true);
      }
    } finally {
      await s.stop();
    }
  });
});
