import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify as stringifyYaml } from 'yaml';
import { mustRun, runFerry } from '../support/cli.js';
import { packageChart, startStaticServer, writeRepoIndex, type PackagedChart, type StaticServer } from '../support/chart-repo.js';
import { makeGpgKey, type GpgKey } from '../support/apt-repo.js';

/**
 * hostile55: a chart provenance is signed text, but a signature vouches for bytes, not for what
 * they cost to read (and a bundle's lock may record any key). Its two YAML documents were read
 * with the yaml library's duplicate-key check, which compares each key with every key before it: a
 * signed 1 MiB `files:` map of 33 000 names took 23 s (20 000: ~8 s), and was then taken. Now the
 * signed text is held to 32 768 YAML tokens (Helm's: a Chart.yaml and one `files:` entry) and a key
 * written twice is found with one Set a map. Real gpg --clearsign, a loopback nginx repository.
 */
let work: string;
let vendor: GpgKey;
let repo: StaticServer;
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRY_MIN_MS: '50', FERRY_RETRIES: '1' });

async function clearsign(text: string, out: string): Promise<void> {
  await writeFile(`${out}.msg`, text);
  await mustRun('gpg', ['--batch', '--yes', '--pinentry-mode', 'loopback', '--passphrase', '', '--local-user', vendor.fingerprint, '--clearsign', '--output', out, `${out}.msg`], { env: { GNUPGHOME: vendor.home } });
  await rm(`${out}.msg`);
}

async function publish(stable: string, name: string, files: (archive: string, sum: string) => string): Promise<PackagedChart> {
  const src = path.join(work, 'src', name);
  await mkdir(path.join(src, 'templates'), { recursive: true });
  await writeFile(path.join(src, 'Chart.yaml'), stringifyYaml({ apiVersion: 'v2', name, version: '1.0.0' }));
  await writeFile(path.join(src, 'templates', 'cm.yaml'), `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n`);
  const c = await packageChart(src, stable);
  await clearsign(`apiVersion: v2\nname: ${name}\nversion: 1.0.0\n\n...\nfiles:\n${files(path.basename(c.file), `sha256:${c.digest}`)}`, `${c.file}.prov`);
  return c;
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-h55-prov-'));
  vendor = await makeGpgKey(work, 'vendor');
  const stable = path.join(work, 'web', 'stable');
  await mkdir(stable, { recursive: true });
  const dense = await publish(stable, 'dense', (archive, sum) => `${Array.from({ length: 20_000 }, (_v, i) => `  o${i}: x\n`).join('')}  ${archive}: ${sum}\n`);
  const aliased = await publish(stable, 'aliased', (archive, sum) => `  &name ${archive}: ${sum}\n  *name : sha256:${'0'.repeat(64)}\n`);
  const plain = await publish(stable, 'plain', (archive, sum) => `  ${archive}: ${sum}\n`);
  await writeRepoIndex(stable, [dense, aliased, plain]);
  repo = await startStaticServer(path.join(work, 'web'));
}, 120_000);

afterAll(async () => {
  await repo?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

async function lockChart(name: string) {
  const dir = path.join(work, name);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'vendor.asc'), await readFile(vendor.publicKey));
  await writeFile(path.join(dir, 'manifest.yaml'), stringifyYaml({ apiVersion: 'ferry/v1alpha1', kind: 'Manifest', metadata: { name }, charts: [{ name, repo: `${repo.url}/stable`, version: '1.0.0', images: 'none', keys: ['vendor.asc'] }] }));
  return runFerry(['lock', 'manifest.yaml'], { cwd: dir, env: env() });
}

describe('hostile55: a signed chart provenance is read within bounds', () => {
  it('a signed provenance listing 20 000 files is refused by its YAML token count, naming the chart (was ~8 s of duplicate-key checks, then locked)', async () => {
    const r = await lockChart('dense');
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/chart dense 1\.0\.0 \(http:\/\/127\.0\.0\.1:\d+\/stable\): its provenance is signed but its text holds more than 32768 YAML tokens/);
  });

  it('the archive named twice through a YAML alias is a key written twice: refused', async () => {
    const r = await lockChart('aliased');
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/chart aliased 1\.0\.0 .*: its provenance is signed but its `files:` document is not valid YAML \(Map keys must be unique/);
  });

  it('a provenance as Helm writes it still locks (a control)', async () => {
    const r = await lockChart('plain');
    expect(r.code, r.stderr).toBe(0);
  });
});
