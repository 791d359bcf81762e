import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../support/cli.js';
import { ferryKilledWhen } from '../support/registry-walk.js';
import { pseudoRandomStream } from '../support/images.js';
import { startStaticServer, type StaticServer } from '../support/static-http.js';

/**
 * `bundle create --since <old bundle>` (a differential) killed (-9) at a spread of points: as
 * soon as its `.partial` exists, once the journal shows fetched blobs, and at the rename. What is
 * under the final name is the clean run's bundle or nothing; the re-run (resuming or restarting
 * the `.partial`) gives the clean run's bytes, leaves no temp file, verifies against its base, and
 * imports on top of the base into a files directory.
 */

let work: string;
let server: StaticServer;
let v2: string;
let base: string;
let ref: string;
const data: Record<string, Buffer> = {};
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const sha256File = async (f: string) => sha(await readFile(f));
const exists = (f: string) => stat(f).then(() => true, () => false);
const env = (cache: string) => ({ FERRY_CACHE_DIR: path.join(work, cache) });

function manifestText(names: string[]): string {
  return ['apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata: { name: since }', 'files:', ...names.flatMap((n) => [`  - name: ${n.replace('.', '-')}`, `    url: ${server.url}/${n}`, `    sha256: ${sha(data[n])}`]), ''].join('\n');
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-crash-3-since-'));
  const srv = path.join(work, 'srv');
  await mkdir(srv);
  for (const [name, size] of [['a.bin', 3_000_000], ['b.bin', 2_000_000], ['c.bin', 2_500_000], ['d.bin', 1_500_000]] as const) {
    const chunks: Buffer[] = [];
    for await (const c of pseudoRandomStream(size, `crash3-since-${name}`)) chunks.push(c as Buffer);
    data[name] = Buffer.concat(chunks);
    await writeFile(path.join(srv, name), data[name]);
  }
  server = await startStaticServer(srv);
  const v1 = path.join(work, 'v1', 'since.yaml');
  await mkdir(path.dirname(v1));
  await writeFile(v1, manifestText(['a.bin', 'b.bin']));
  base = path.join(work, 'base.ferry.tar');
  const made = await runFerry(['bundle', 'create', v1, '-o', base], { env: env('cache-base') });
  expect(made.code, made.stderr).toBe(0);
  v2 = path.join(work, 'v2', 'since.yaml');
  await mkdir(path.dirname(v2));
  await writeFile(v2, manifestText(['a.bin', 'c.bin', 'd.bin']));
  ref = path.join(work, 'ref-diff.ferry.tar');
  const diff = await runFerry(['bundle', 'create', v2, '-o', ref, '--since', base], { env: env('cache-ref') });
  expect(diff.code, diff.stderr).toBe(0);
}, 120_000);

afterAll(async () => {
  await server?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('bundle create --since, killed', () => {
  const journalLines = async (out: string) => (await readFile(`${out}.partial.json`, 'utf8').catch(() => '')).split('\n').filter((l) => l.startsWith('sha256:')).length;
  const points: Array<[string, (out: string) => Promise<boolean>]> = [
    ['the .partial exists', (out) => exists(`${out}.partial`)],
    ['a blob is journalled', async (out) => (await journalLines(out)) >= 1],
    ['two blobs are journalled', async (out) => (await journalLines(out)) >= 2],
    ['the bundle is under its name', (out) => exists(out)],
  ];
  for (const [i, [label, point]] of points.entries()) {
    it(`killed once ${label}: the final name holds the clean differential or nothing; the re-run equals it, verifies and imports on the base`, async () => {
      const dir = path.join(work, `kill-${i}`);
      await mkdir(dir);
      const out = path.join(dir, 'diff.ferry.tar');
      await ferryKilledWhen(['bundle', 'create', v2, '-o', out, '--since', base, '-q'], env(`cache-kill-${i}`), () => point(out));
      if (await exists(out)) expect(await sha256File(out)).toBe(await sha256File(ref));
      const again = await runFerry(['bundle', 'create', v2, '-o', out, '--since', base], { env: env(`cache-kill-${i}`) });
      expect(again.code, again.stderr).toBe(0);
      expect(await sha256File(out)).toBe(await sha256File(ref));
      expect(await readdir(dir)).toEqual(['diff.ferry.tar']);
      const verify = await runFerry(['bundle', 'verify', out, '--base', base], { env: env(`cache-kill-${i}`) });
      expect(verify.code, verify.stderr).toBe(0);

      const site = path.join(dir, 'site');
      const target = path.join(dir, 'target.yaml');
      await writeFile(target, `apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: dir }\ndirectory: ${site}/layout\nfiles: { dir: ${site}/files, baseUrl: https://files.example }\n`);
      for (const b of [base, out]) {
        const imp = await runFerry(['import', b, '--target', target], { env: env(`cache-kill-${i}`) });
        expect(imp.code, imp.stderr).toBe(0);
      }
      const files = (await readdir(path.join(site, 'files'), { recursive: true, withFileTypes: true })).filter((e) => e.isFile());
      const hashes = await Promise.all(files.map((e) => sha256File(path.join(e.parentPath, e.name))));
      for (const n of ['a.bin', 'c.bin', 'd.bin']) expect(hashes).toContain(sha(data[n]));
    }, 120_000);
  }
});
