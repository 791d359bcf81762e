import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../support/cli.js';
import { CraftedBundle } from '../support/craft-bundle.js';
import { filesOnlyTarget, movedFileUrl } from '../support/files-target.js';
import { listTree } from '../support/fs-tree.js';
import { startFerryServe, startStaticServer, type StaticServer } from '../support/static-http.js';

/**
 * A file whose name is one ferry gives its temporary files (`<name>.ferry-<pid>[-…].tmp`). Every
 * write into a directory first sweeps such files whose writer is gone (a killed run's leftovers):
 * a mirrored `evil.ferry-999999.tmp` was written by one import and removed by the next import
 * into that directory, the mirror silently losing a file it was said to hold (and keeping its
 * `.sha256`). `lock` refuses such a URL, a crafted bundle carrying one is refused by `import`
 * before anything is written, and `serve` does not answer it.
 */
let work: string;
let http: StaticServer;
let host: string;
let base: CraftedBundle;
const TEMP = 'evil.ferry-999999.tmp';
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRIES: '1', FERRY_RETRY_MIN_MS: '50' });

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-hostile47-files-'));
  const srv = path.join(work, 'srv');
  await mkdir(srv, { recursive: true });
  for (const [name, content] of [['ok.txt', 'ok\n'], ['other.txt', 'other\n'], [TEMP, 'temp-named\n']]) await writeFile(path.join(srv, name), content);
  http = await startStaticServer(srv);
  host = http.url.replace('http://', '').replace(':', '-');
  await writeFile(
    path.join(work, 'manifest.yaml'),
    ['apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata: { name: h47-files }', 'files:', `  - { name: ok, url: "${http.url}/ok.txt" }`, `  - { name: other, url: "${http.url}/other.txt" }`, ''].join('\n'),
  );
  const made = await runFerry(['bundle', 'create', 'manifest.yaml', '-o', 'base.tar'], { cwd: work, env: env() });
  expect(made.code, made.stderr).toBe(0);
  base = await CraftedBundle.load(path.join(work, 'base.tar'));
}, 120_000);

afterAll(async () => {
  await http?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

const target = (name: string) => filesOnlyTarget(work, name);
const moved = (b: CraftedBundle, to: string) => movedFileUrl(b, `${http.url}/ok.txt`, `${http.url}/${to}`);

describe('a file named as ferry names its temporary files', () => {
  it('lock refuses the URL, naming it; no lock written', async () => {
    const dir = path.join(work, 'lock');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'manifest.yaml'), ['apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata: { name: t }', 'files:', `  - { name: t, url: "${http.url}/${TEMP}" }`, ''].join('\n'));
    const r = await runFerry(['lock', 'manifest.yaml'], { cwd: dir, env: env() });
    expect(r.code, r.stdout + r.stderr).not.toBe(0);
    expect(r.stderr).toContain(`its file name "${TEMP}" is one ferry gives its temporary files`);
    expect(r.stderr).not.toMatch(/unexpected error/);
    expect(await listTree(dir)).toEqual(['manifest.yaml']);
  });

  it('import of a crafted bundle carrying one refuses it before writing anything; the untouched bundle imports', { timeout: 60_000 }, async () => {
    const crafted = await moved(base.clone(), TEMP).write(path.join(work, 'crafted.tar'));
    const t = await target('import');
    const r = await runFerry(['import', crafted, '-t', t.file], { cwd: work, env: env() });
    expect(r.code, r.stdout + r.stderr).toBe(3);
    expect(r.stderr).toContain('before anything was written');
    expect(r.stderr).toContain(`${http.url}/${TEMP}: its file name "${TEMP}" is one ferry gives its temporary files`);
    expect(r.stderr).not.toMatch(/unexpected error/);
    expect(await listTree(t.filesDir)).toEqual([]);
    const ok = await runFerry(['import', path.join(work, 'base.tar'), '-t', t.file], { cwd: work, env: env() });
    expect(ok.code, ok.stderr).toBe(0);
    expect(await readFile(path.join(t.filesDir, host, 'ok.txt'), 'utf8')).toBe('ok\n');
  });

  it('serve warns that it is not served and answers 404; the other file is served', { timeout: 60_000 }, async () => {
    const crafted = await moved(base.clone(), TEMP).write(path.join(work, 'crafted-serve.tar'));
    const s = await startFerryServe([crafted], { cwd: work, env: env() });
    try {
      expect((await fetch(`${s.url}/files/${host}/${TEMP}`)).status).toBe(404);
      expect(await (await fetch(`${s.url}/files/${host}/other.txt`)).text()).toBe('other\n');
    } finally {
      await s.stop();
    }
  });
});
