import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../support/cli.js';
import { startStaticServer, type StaticServer } from '../support/static-http.js';
import { swappedSplitBundle } from '../support/swapped-split.js';

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
  ({ mixed, parts } = await swappedSplitBundle(work, srv, files));
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
