import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { stringify as stringifyYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand, runFerry } from '../support/cli.js';
import { packageChart, writeRepoIndex } from '../support/chart-repo.js';
import { mountTmpfs, unmountAll } from '../support/tmpfs.js';
import { startStaticServer, type StaticServer } from '../support/static-http.js';

/**
 * A full (or missing) TMPDIR, for every command that writes to the temporary directory: `report
 * --bundle` (a copy of the bundle's manifest) and `charts images` (the charts it fetches). The
 * error names the directory, says it is TMPDIR and what to set, and nothing is left there. (It
 * said "error: cannot write: no space left on the device", with the hint about -o and the cache.)
 */

let work: string;
let server: StaticServer;
let bundle: string;
let chartsManifest: string;
let fullTmp: string;
const mounts: string[] = [];
const env = (tmp: string) => ({ TMPDIR: tmp, FERRY_CACHE_DIR: path.join(work, 'cache') });

function expectTempDirError(r: { code: number; stderr: string }, dir: string, what: string, reason: string): void {
  expect(r.code, r.stderr).toBe(1);
  expect(r.stderr).toContain(`error: ${dir} (TMPDIR): cannot write ${what} in the temporary directory: ${reason}`);
  expect(r.stderr).toContain('hint: Point TMPDIR at a writable directory with room (TMPDIR=<dir> ferry …)');
  expect(r.stderr).not.toMatch(/node:internal|\n\s+at |unexpected error/);
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-crash-3-tmpdir-'));
  const srv = path.join(work, 'srv');
  await mkdir(path.join(srv, 'charts'), { recursive: true });
  await writeFile(path.join(srv, 'f.txt'), 'hello\n');
  const src = path.join(work, 'chart-src', 'tiny');
  await mkdir(path.join(src, 'templates'), { recursive: true });
  await writeFile(path.join(src, 'Chart.yaml'), 'apiVersion: v2\nname: tiny\nversion: 0.1.0\n');
  await writeFile(path.join(src, 'templates', 'pod.yaml'), 'apiVersion: v1\nkind: Pod\nmetadata: { name: tiny }\nspec:\n  containers:\n    - name: c\n      image: example.org/tiny:1.0\n');
  await writeRepoIndex(path.join(srv, 'charts'), [await packageChart(src, path.join(srv, 'charts'))]);
  server = await startStaticServer(srv);
  const manifest = path.join(work, 'tmp.yaml');
  await writeFile(manifest, stringifyYaml({ apiVersion: 'ferry/v1alpha1', kind: 'Manifest', metadata: { name: 'tmp' }, files: [{ name: 'f', url: `${server.url}/f.txt` }] }));
  bundle = path.join(work, 'tmp.ferry.tar');
  const made = await runFerry(['bundle', 'create', manifest, '-o', bundle], { env: { FERRY_CACHE_DIR: path.join(work, 'cache') } });
  expect(made.code, made.stderr).toBe(0);
  chartsManifest = path.join(work, 'charts.yaml');
  await writeFile(chartsManifest, stringifyYaml({ apiVersion: 'ferry/v1alpha1', kind: 'Manifest', metadata: { name: 'c' }, charts: [{ name: 'tiny', repo: `${server.url}/charts`, version: '0.1.0' }] }));
  fullTmp = await mountTmpfs(path.join(work, 'full-tmp'), '256k', mounts);
  await runCommand('dd', ['if=/dev/zero', `of=${path.join(fullTmp, 'filler')}`, 'bs=64k']);
}, 120_000);

afterAll(async () => {
  await server?.close();
  await unmountAll(mounts);
  if (work) await rm(work, { recursive: true, force: true });
});

describe('a full or missing TMPDIR', () => {
  it('report --bundle: the temporary directory is named, with TMPDIR to set, and nothing is left there', async () => {
    const r = await runFerry(['report', '--bundle', bundle], { env: env(fullTmp) });
    expectTempDirError(r, fullTmp, 'a copy of ferry/manifest.yaml', 'no space left on the device');
    expect(r.stderr).toContain(', or free space there');
    expect(await readdir(fullTmp)).toEqual(['filler']);
  });

  it('charts images <manifest>: the same, for the charts it fetches', async () => {
    const r = await runFerry(['charts', 'images', chartsManifest], { env: env(fullTmp) });
    expectTempDirError(r, fullTmp, 'the charts it fetches', 'no space left on the device');
    expect(await readdir(fullTmp)).toEqual(['filler']);
  });

  it('a TMPDIR that does not exist is said so', async () => {
    const missing = path.join(work, 'no-such-tmp');
    const r = await runFerry(['report', '--bundle', bundle], { env: env(missing) });
    expectTempDirError(r, missing, 'a copy of ferry/manifest.yaml', 'it does not exist');
  });

  it('with room, both work (the failures above were the temporary directory)', async () => {
    const roomy = path.join(work, 'roomy-tmp');
    await mkdir(roomy);
    const rep = await runFerry(['report', '--bundle', bundle, '-o', path.join(work, 'r.html')], { env: env(roomy) });
    expect(rep.code, rep.stderr).toBe(0);
    const ci = await runFerry(['charts', 'images', chartsManifest], { env: env(roomy) });
    expect(ci.code, ci.stderr).toBe(0);
    expect(ci.stdout).toContain('example.org/tiny:1.0');
    expect(await readdir(roomy)).toEqual([]);
  });
});
