import { randomBytes } from 'node:crypto';
import { appendFile, copyFile, mkdir, mkdtemp, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { mapFileUrl } from '../../src/mapping/index.js';
import { runFerry } from './cli.js';
import { fetchOutcome, sha256, startServe, type RunningServe } from './craft-serve.js';
import { startStaticServer, type StaticServer } from './static-http.js';

/**
 * Two split bundles of the same size (one 300 000-byte file each, `--split-size 64K`) made by
 * ferry from `files` serving `srv`, and `<work>/mixed`: the first one's parts and .parts list
 * with part 003 swapped for the second one's. Returns it, the first bundle's directory (`good`),
 * the second one's (`other`: a whole bundle of its own, another file at the same URL) and the part names.
 */
export async function swappedSplitBundle(work: string, srv: string, files: StaticServer): Promise<{ mixed: string; good: string; other: string; parts: string[]; fileUrl: string }> {
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
  const parts = (await readdir(made.one)).filter((f) => /\.\d{3}$/.test(f)).sort();
  for (const p of parts) expect((await stat(path.join(made.two, p))).size).toBe((await stat(path.join(made.one, p))).size);
  const mixed = path.join(work, 'mixed');
  await mkdir(mixed);
  for (const p of [...parts, 'app.ferry.tar.parts']) await copyFile(path.join(made.one, p), path.join(mixed, p));
  await copyFile(path.join(made.two, parts[2]), path.join(mixed, parts[2]));
  return { mixed, good: made.one, other: made.two, parts, fileUrl: `${files.url}/tool.bin` };
}

/**
 * `ferry serve <args>` answers the 300 000-byte file at `filePath` whole, and says nothing of
 * any part (every part matched its .parts list).
 */
export async function expectServedWhole(args: string[], filePath: string): Promise<void> {
  const s = await startServe([...args, '--listen', '127.0.0.1:0']);
  try {
    const got = await fetchOutcome(`${s.url}${filePath}`);
    expect(got.status).toBe(200);
    expect(got.complete).toBe(true);
    expect(got.body?.length).toBe(300_000);
  } finally {
    expect(await s.stop()).toBe(0);
  }
  expect(s.stderr()).not.toMatch(/part \d{3} of|warning/);
}

/** Wait (polling, at most 30 s) until serve's stderr matches `pattern`; fails showing it otherwise. */
export async function untilSaid(s: RunningServe, pattern: RegExp): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!pattern.test(s.stderr())) {
    if (Date.now() > deadline) throw new Error(`not said within 30 s: ${pattern}; serve said:\n${s.stderr()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A copy of the split bundle in `from` (its parts and .parts list) in the new directory `to`; returns its first part. */
export async function copySplit(from: string, to: string): Promise<string> {
  await mkdir(to, { recursive: true });
  const names = (await readdir(from)).filter((f) => /\.(\d{3}|parts)$/.test(f)).sort();
  for (const f of names) await copyFile(path.join(from, f), path.join(to, f));
  return path.join(to, names[0]);
}

/** The split bundle in `from` as one tar at `out` (`cat` of its parts in order is the tar). */
export async function joinSplit(from: string, out: string): Promise<string> {
  await writeFile(out, '');
  for (const f of (await readdir(from)).filter((n) => /\.\d{3}$/.test(n)).sort()) await appendFile(out, await readFile(path.join(from, f)));
  return out;
}

/** `file` replaced by a copy of `by`, renamed over it (a new inode at the same name, as a copy tool does it). */
export async function renameOver(by: string, file: string): Promise<void> {
  await copyFile(by, `${file}.incoming`);
  await rename(`${file}.incoming`, file);
}

/**
 * A differential bundle against `good` (the split bundle swappedSplitBundle made, in its project
 * directory): its file is left out (the base carries it) and one more file, `extra` served by
 * `files` from `srv` as extra.txt, travels. Returns the differential's path and the extra file's URL.
 */
export async function differentialOfGood(good: string, firstPart: string, srv: string, files: StaticServer, extra: Buffer): Promise<{ diff: string; extraUrl: string }> {
  await writeFile(path.join(srv, 'extra.txt'), extra);
  const project = path.dirname(good);
  const extraUrl = `${files.url}/extra.txt`;
  await writeFile(
    path.join(project, 'manifest-2.yaml'),
    (await readFile(path.join(project, 'manifest.yaml'), 'utf8')) + ['  - name: extra', `    url: ${extraUrl}`, `    sha256: ${sha256(extra).slice(7)}`, ''].join('\n'),
  );
  const c = await runFerry(['bundle', 'create', 'manifest-2.yaml', '-o', 'diff/app-2.ferry.tar', '--since', path.join(good, firstPart)], {
    cwd: project,
    env: { FERRY_CACHE_DIR: path.join(project, 'cache') },
  });
  expect(c.code, c.stderr).toBe(0);
  expect(c.stdout).toMatch(/differential against bundle/);
  return { diff: path.join(project, 'diff', 'app-2.ferry.tar'), extraUrl };
}

export interface SwappedSplitSetup {
  /** The test file's directory (removed after it). */
  work: string;
  files: StaticServer;
  split: Awaited<ReturnType<typeof swappedSplitBundle>>;
}

/**
 * A test file's beforeAll/afterAll: a fresh directory named after `prefix`, a static server of its
 * `srv` and the bundles swappedSplitBundle makes there. The fields are set once beforeAll ran.
 */
export function useSwappedSplit(prefix: string): SwappedSplitSetup {
  const got = {} as SwappedSplitSetup;
  beforeAll(async () => {
    got.work = await mkdtemp(path.join(os.tmpdir(), `${prefix}-`));
    const srv = path.join(got.work, 'srv');
    await mkdir(srv);
    got.files = await startStaticServer(srv);
    got.split = await swappedSplitBundle(got.work, srv, got.files);
  }, 300_000);
  afterAll(async () => {
    await got.files?.close();
    if (got.work) await rm(got.work, { recursive: true, force: true });
  });
  return got;
}

let sites = 0;
/**
 * A new directory under `setup.work` with a files-only mirror target (`files.dir: <dir>/files`):
 * the directory, the target file, the files directory and where the bundle's one file lands there.
 */
export async function filesSite(setup: SwappedSplitSetup): Promise<{ dir: string; target: string; filesDir: string; landed: string }> {
  const dir = path.join(setup.work, `site-${++sites}`);
  await mkdir(dir);
  const target = path.join(dir, 'site.yaml');
  await writeFile(target, `apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: site }\nfiles: { dir: ${dir}/files, baseUrl: https://files.example }\n`);
  const filesDir = path.join(dir, 'files');
  return { dir, target, filesDir, landed: path.join(filesDir, mapFileUrl(setup.split.fileUrl, { baseUrl: 'https://files.example' }).path) };
}

/** The sha256 (hex) of the good bundle's one file, as its manifest.yaml records it. */
export async function goodFileSum(setup: SwappedSplitSetup): Promise<string> {
  return /sha256: ([0-9a-f]{64})/.exec(await readFile(path.join(path.dirname(setup.split.good), 'manifest.yaml'), 'utf8'))![1];
}

/**
 * useSwappedSplit plus the good split joined into one tar (`bundle`) and its file's sha256
 * (`goodSum`), set once beforeAll ran: what the staged-import tests read.
 */
export function useJoinedGoodSplit(prefix: string): { setup: SwappedSplitSetup; bundle: string; goodSum: string } {
  const got = { setup: useSwappedSplit(prefix), bundle: '', goodSum: '' };
  beforeAll(async () => {
    got.goodSum = await goodFileSum(got.setup);
    got.bundle = await joinSplit(got.setup.split.good, path.join(got.setup.work, 'app.ferry.tar'));
  }, 300_000);
  return got;
}
