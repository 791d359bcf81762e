/**
 * A re-run after a killed import leaves the tree a clean import does (seen failing under load in
 * crash-1-disk and apt-atomic): the staging directory was swept only when the re-run staged
 * something there, so a run killed after placing every file left its `.ferry-staged-*.tmp` copies
 * for good; and a directory a file is placed into (a files directory, an APT pool) was never
 * swept, so a run killed between its link and its rename left `<file>.ferry-<pid>-….tmp` beside
 * the file. Both are now swept (once per directory, temp names of processes that are gone).
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../support/cli.js';
import { startStaticServer, type StaticServer } from '../support/static-http.js';

let work: string;
let server: StaticServer;
let bundle: string;
let target: string;
let filesDir: string;
let hostDir: string;
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache') });
const sha = (b: string) => createHash('sha256').update(b).digest('hex');
const tree = async (dir: string) => ((await readdir(dir, { recursive: true })) as string[]).sort();
// A pid above Linux's pid_max default (32 768) and any configured one here: no live process has it.
const DEAD = '4194305';

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-import-leftovers-'));
  const srv = path.join(work, 'srv');
  await mkdir(srv);
  const files = { 'a.txt': 'alpha\n', 'b.txt': 'bravo\n' };
  for (const [n, t] of Object.entries(files)) await writeFile(path.join(srv, n), t);
  server = await startStaticServer(srv);
  const manifest = path.join(work, 'm.yaml');
  await writeFile(
    manifest,
    ['apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata: { name: left }', 'files:', ...Object.entries(files).flatMap(([n, t]) => [`  - name: ${n}`, `    url: ${server.url}/${n}`, `    sha256: ${sha(t)}`]), ''].join('\n'),
  );
  bundle = path.join(work, 'left.ferry.tar');
  const r = await runFerry(['bundle', 'create', manifest, '-o', bundle], { env: env() });
  expect(r.code, r.stderr).toBe(0);
  filesDir = path.join(work, 'site', 'files');
  target = path.join(work, 't.yaml');
  await writeFile(target, `apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: site }\nfiles: { dir: ${filesDir}, baseUrl: https://files.site.internal }\n`);
  hostDir = path.join(filesDir, new URL(server.url).host.replace(':', '-'));
}, 120_000);

afterAll(async () => {
  await server?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('import into a files directory after a killed run', () => {
  it('every file already there: the dead run’s staged copies and placement temps are removed', async () => {
    await rm(filesDir, { recursive: true, force: true });
    const first = await runFerry(['import', bundle, '--target', target], { env: env() });
    expect(first.code, first.stderr).toBe(0);
    const clean = await tree(filesDir);
    await writeFile(path.join(filesDir, `.ferry-staged-${'a'.repeat(64)}.ferry-${DEAD}-0badc0de.tmp`), 'alpha\n');
    await writeFile(path.join(hostDir, `a.txt.ferry-${DEAD}-0badc0de.tmp`), 'alpha\n');
    const again = await runFerry(['import', bundle, '--target', target], { env: env() });
    expect(again.code, again.stderr).toBe(0);
    expect(await tree(filesDir)).toEqual(clean);
  });

  it('a file whose rename never happened: placed, and the temp beside it removed', async () => {
    await rm(filesDir, { recursive: true, force: true });
    const first = await runFerry(['import', bundle, '--target', target], { env: env() });
    expect(first.code, first.stderr).toBe(0);
    const clean = await tree(filesDir);
    await rm(path.join(hostDir, 'b.txt'));
    await writeFile(path.join(hostDir, `b.txt.ferry-${DEAD}-0badc0de.tmp`), 'bravo\n');
    const again = await runFerry(['import', bundle, '--target', target], { env: env() });
    expect(again.code, again.stderr).toBe(0);
    expect(await tree(filesDir)).toEqual(clean);
  });
});
