import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../support/cli.js';
import { sha256 } from '../support/craft-serve.js';
import { startStaticServer, type StaticServer } from '../support/static-http.js';

/**
 * Hostile inputs, round 34: a split bundle with one part swapped for the same-numbered part of
 * another bundle of the same size (the .parts file still the first bundle's).
 */
let work: string;
let files: StaticServer;
let mixed: string;
let parts: string[];

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-hostile34-split-'));
  const srv = path.join(work, 'srv');
  await mkdir(srv);
  files = await startStaticServer(srv);
  const made: Record<string, string> = {};
  for (const which of ['one', 'two']) {
    const bytes = randomBytes(300_000);
    await writeFile(path.join(srv, 'tool.bin'), bytes);
    const project = path.join(work, `split-${which}`);
    await mkdir(path.join(project, 'out'), { recursive: true });
    await writeFile(
      path.join(project, 'manifest.yaml'),
      ['apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata: { name: split }', 'files:', '  - name: tool', `    url: ${files.url}/tool.bin`, `    sha256: ${sha256(bytes).slice(7)}`, ''].join('\n'),
    );
    const c = await runFerry(['bundle', 'create', 'manifest.yaml', '-o', 'out/app.ferry.tar', '--split-size', '64K'], { cwd: project, env: { FERRY_CACHE_DIR: path.join(project, 'cache') } });
    expect(c.code, c.stderr).toBe(0);
    made[which] = path.join(project, 'out');
  }
  parts = (await readdir(made.one)).filter((f) => /\.\d{3}$/.test(f)).sort();
  for (const p of parts) expect((await stat(path.join(made.two, p))).size).toBe((await stat(path.join(made.one, p))).size);
  mixed = path.join(work, 'mixed');
  await mkdir(mixed);
  for (const p of [...parts, 'app.ferry.tar.parts']) await copyFile(path.join(made.one, p), path.join(mixed, p));
  await copyFile(path.join(made.two, parts[2]), path.join(mixed, parts[2]));
}, 300_000);

afterAll(async () => {
  await files?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('a split part swapped for the same-numbered part of another bundle', () => {
  it('import refuses naming the part and what to do; nothing is written', { timeout: 120_000 }, async () => {
    const target = path.join(work, 'target.yaml');
    await writeFile(target, 'apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: t }\nfiles:\n  dir: ./files\n  baseUrl: https://mirror.example.internal/files\n');
    await mkdir(path.join(work, 'files'));
    const imp = await runFerry(['import', path.join(mixed, parts[0]), '-t', target], { cwd: work });
    expect(imp.code).toBe(3);
    expect(imp.stderr).toMatch(new RegExp(`part 003 of ${parts.length}`));
    expect(imp.stderr).toMatch(new RegExp(`hint: Copy ${parts[2].replace(/\./g, '\\.')} again from the source`));
    expect(await readdir(path.join(work, 'files'))).toEqual([]);
  });
});
