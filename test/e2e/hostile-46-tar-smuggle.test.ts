import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TAR_END, tarHeader, tarPadding } from '../../src/store/tar-index.js';
import { mustRun, runFerry } from '../support/cli.js';
import { pushLayoutImage, writeOciLayout } from '../support/images.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';
import { paxHeader, paxRecord } from '../support/tar-craft.js';
import { tarEntries } from '../support/tar-walk.js';

/**
 * Hostile inputs, round 46: a real bundle with one entry appended that GNU tar reads as a GNU
 * sparse file (PAX format 1.0: `GNU.sparse.name=index.json`) while its own header names it ".".
 * ferry's index skipped an entry named "." and ignored the GNU.sparse records, so `bundle verify`
 * passed the bundle (import pushed it, serve served it) while `tar -x` (anything unpacking
 * the README's "plain tar") wrote the appended bytes over the index.json ferry had verified. Now verify, import into a
 * real Distribution registry and serve all refuse it, naming the bundle and the header's byte,
 * and nothing reaches the registry.
 */
let work: string;
let src: RunningRegistry;
let site: RunningRegistry;
let project: string;
let good: string;
let evil: string;
let headerAt: number;
const EVIL_INDEX = '{"schemaVersion":2,"manifests":[],"smuggled":true}\n';

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-hostile46-'));
  [src, site] = await Promise.all([startRegistry({ mode: 'http' }), startRegistry({ mode: 'http' })]);
  const layout = path.join(work, 'layout');
  await writeOciLayout(layout, [{ name: 'app', platforms: [{ architecture: 'amd64', layers: [{ files: { 'app.txt': 'the verified image\n' } }] }] }]);
  await pushLayoutImage(src, layout, 'app', 'team/app:1');
  project = path.join(work, 'project');
  await mkdir(project, { recursive: true });
  await writeFile(path.join(project, 'manifest.yaml'), ['apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata: { name: smuggle }', 'images:', `  - ref: ${src.host}/team/app:1`, ''].join('\n'));
  await writeFile(path.join(project, 'target.yaml'), ['apiVersion: ferry/v1alpha1', 'kind: MirrorTarget', 'metadata: { name: site }', `registry: { url: "http://${site.host}", prefix: mirror }`, ''].join('\n'));
  const env = { FERRY_CACHE_DIR: path.join(work, 'cache') };
  const insecure = ['--insecure-registry', src.host];
  const lock = await runFerry(['lock', 'manifest.yaml', ...insecure], { cwd: project, env });
  expect(lock.code, lock.stderr).toBe(0);
  good = path.join(project, 'good.ferry.tar');
  const create = await runFerry(['bundle', 'create', 'manifest.yaml', '-o', good, '--frozen', ...insecure], { cwd: project, env });
  expect(create.code, create.stderr).toBe(0);

  // Cut the end-of-archive marker (after the last entry's padded data) and append the sparse entry.
  const bytes = await readFile(good);
  let end = 0;
  for (const e of (await tarEntries(good)).values()) end = Math.max(end, e.offset + Math.ceil(e.size / 512) * 512);
  const fragment = Buffer.from(EVIL_INDEX);
  const map = Buffer.from(`1\n0\n${fragment.length}\n`);
  const data = Buffer.concat([map, tarPadding(map.length), fragment]);
  const records = [paxRecord('GNU.sparse.major', '1'), paxRecord('GNU.sparse.minor', '0'), paxRecord('GNU.sparse.name', 'index.json'), paxRecord('GNU.sparse.realsize', String(fragment.length))].join('');
  headerAt = end;
  evil = path.join(project, 'evil.ferry.tar');
  await writeFile(evil, Buffer.concat([bytes.subarray(0, end), paxHeader(records), tarHeader('.', data.length, 'file'), data, tarPadding(data.length), TAR_END]));
}, 180_000);

afterAll(async () => {
  await Promise.all([src, site].map((r) => r?.stop()));
  if (work) await rm(work, { recursive: true, force: true });
});

const refusal = () => new RegExp(`${evil.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: PAX header at byte ${headerAt} describes a GNU sparse file \\("GNU\\.sparse\\.major"\\); bundles hold only regular files and directories`);

describe('a bundle with an entry GNU tar unpacks over index.json', () => {
  it('GNU tar extracts the appended bytes as index.json; the untouched bundle verifies', { timeout: 120_000 }, async () => {
    const out = path.join(work, 'unpacked');
    await mkdir(out);
    await mustRun('tar', ['-xf', evil, '-C', out]);
    expect(await readFile(path.join(out, 'index.json'), 'utf8')).toBe(EVIL_INDEX);
    const v = await runFerry(['bundle', 'verify', good], { timeoutMs: 60_000 });
    expect(v.code, v.stderr).toBe(0);
  });

  it('bundle verify refuses it, naming the bundle and the header', { timeout: 120_000 }, async () => {
    const v = await runFerry(['bundle', 'verify', evil], { timeoutMs: 60_000 });
    expect(v.code, v.stdout).not.toBe(0);
    expect(v.stderr).toMatch(refusal());
  });

  it('import into a Distribution registry refuses it before anything is pushed', { timeout: 120_000 }, async () => {
    const i = await runFerry(['import', evil, '--target', 'target.yaml'], { cwd: project, timeoutMs: 60_000 });
    expect(i.code, i.stdout).not.toBe(0);
    expect(i.stderr).toMatch(refusal());
    const catalog = (await (await fetch(`http://${site.host}/v2/_catalog`)).json()) as { repositories: string[] };
    expect(catalog.repositories).toEqual([]);
  });

  it('serve refuses it before listening', { timeout: 120_000 }, async () => {
    const s = await runFerry(['serve', evil, '--target', 'target.yaml', '--listen', '127.0.0.1:0'], { cwd: project, timeoutMs: 60_000 });
    expect(s.code).not.toBe(0);
    expect(s.stderr).not.toMatch(/listening|serving on/i);
    expect(s.stderr).toMatch(refusal());
  });
});
