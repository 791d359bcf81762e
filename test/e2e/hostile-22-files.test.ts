import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mustRun, runCommand, runFerry } from '../support/cli.js';
import { CraftedBundle } from '../support/craft-bundle.js';
import { filesOnlyTarget, movedFileUrl } from '../support/files-target.js';
import { listTree } from '../support/fs-tree.js';
import { startFerryServe, startStaticServer, type StaticServer } from '../support/static-http.js';

/**
 * A bundle whose file URLs cannot each have a place of their own under files.dir, as someone
 * with write access to it would make one (lock refuses such URLs; a crafted bundle skips the
 * lock): `a%2Fb` beside `a/b` (one path), `tools` beside `tools/x.tar` (a file where a
 * directory must be), a 230-byte file name (past what a file system takes with ferry's
 * suffixes). Import refuses it before writing anything (it overwrote one file with the other
 * in silence, and stopped halfway with "unexpected error: ENAMETOOLONG" or "is a directory");
 * serve answers neither of two URLs that share a path. A file's upstream `x.img.sha256` is not
 * replaced by ferry's own line.
 */
let work: string;
let srv: string;
let http: StaticServer;
let host: string;
let base: CraftedBundle;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRIES: '1', FERRY_RETRY_MIN_MS: '50' });
const img = randomBytes(5000);
const upstreamSums = `${sha(img)} *x.img\n`;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-hostile22-files-'));
  srv = path.join(work, 'srv');
  for (const [name, content] of Object.entries({ 'a/b': 'a-b', 'c.img': 'c', tools: 'tools', 'd/x.tar': 'x', 'short.iso': 'iso', 'x.img': img, 'x.img.sha256': upstreamSums })) {
    await mkdir(path.dirname(path.join(srv, name)), { recursive: true });
    await writeFile(path.join(srv, name), content);
  }
  http = await startStaticServer(srv);
  host = http.url.replace('http://', '').replace(':', '-');
  const files = ['a/b', 'c.img', 'tools', 'd/x.tar', 'short.iso'].map((f, i) => `  - { name: f${i}, url: "${http.url}/${f}" }`);
  files.push(`  - { name: x, url: "${http.url}/x.img", checksums: { url: "${http.url}/x.img.sha256" } }`);
  await writeFile(path.join(work, 'manifest.yaml'), ['apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata: { name: hostile22-files }', 'files:', ...files, ''].join('\n'));
  const made = await runFerry(['bundle', 'create', 'manifest.yaml', '-o', 'base.tar'], { cwd: work, env: env() });
  expect(made.code, made.stderr).toBe(0);
  base = await CraftedBundle.load(path.join(work, 'base.tar'));
}, 120_000);

afterAll(async () => {
  await http?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

const target = (name: string) => filesOnlyTarget(work, name);
const moved = (b: CraftedBundle, from: string, to: string) => movedFileUrl(b, `${http.url}/${from}`, `${http.url}/${to}`);

describe('files whose mirror paths clash', () => {
  let crafted: string;
  beforeAll(async () => {
    const b = base.clone();
    moved(b, 'c.img', 'a%2Fb');
    moved(b, 'd/x.tar', 'tools/x.tar');
    moved(b, 'short.iso', `${'L'.repeat(230)}.iso`);
    crafted = await b.write(path.join(work, 'crafted.tar'));
  });

  it('import refuses the bundle before writing anything, naming each clash', async () => {
    const t = await target('import-clash');
    const r = await runFerry(['import', crafted, '-t', t.file], { cwd: work, env: env() });
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toContain('3 problems found before anything was written; nothing was imported');
    expect(r.stderr).toContain(`${http.url}/a%2Fb: ${http.url}/a/b maps to the same mirror path ${host}/a/b; only one file can be there`);
    expect(r.stderr).toMatch(new RegExp(`${http.url}/tools/x\\.tar: its mirror path ${host}/tools/x\\.tar needs ${host}/tools to be a directory, where ${http.url}/tools is a file|${http.url}/tools: its mirror path ${host}/tools is the directory of ${http.url}/tools/x\\.tar`));
    expect(r.stderr).toContain('a segment of its mirror path is 234 bytes long; ferry writes at most 200');
    expect(r.stderr).not.toMatch(/unexpected error|ENAMETOOLONG/);
    expect(await listTree(t.filesDir)).toEqual([]);
  }, 60_000);

  it('serve answers neither of two URLs on one path, and the rest as import would write them', async () => {
    const s = await startFerryServe([crafted], { cwd: work, env: env() });
    try {
      const get = async (p: string) => {
        const res = await fetch(`${s.url}/files/${host}/${p}`);
        return { status: res.status, body: res.status === 200 ? await res.text() : '' };
      };
      expect(await get('a/b')).toEqual({ status: 404, body: '' });
      expect(await get('a/b.sha256')).toEqual({ status: 404, body: '' });
      expect((await get('x.img.sha256')).body).toBe(upstreamSums);
    } finally {
      await s.stop();
    }
  }, 60_000);
});

describe('a file whose checksum file is <file>.sha256 upstream', () => {
  it('import writes the upstream checksum file there, not ferry\'s own line, and sha256sum -c passes', async () => {
    const t = await target('import-sums');
    for (let run = 0; run < 2; run++) {
      const r = await runFerry(['import', path.join(work, 'base.tar'), '-t', t.file], { cwd: work, env: env() });
      expect(r.code, r.stderr).toBe(0);
      expect(await readFile(path.join(t.filesDir, host, 'x.img.sha256'), 'utf8')).toBe(upstreamSums);
    }
    await mustRun('sha256sum', ['-c', 'x.img.sha256'], { cwd: path.join(t.filesDir, host) });
    const plain = await runCommand('sha256sum', ['-c', 'b.sha256'], { cwd: path.join(t.filesDir, host, 'a') });
    expect(plain.code, plain.stderr).toBe(0);
  }, 60_000);
});
