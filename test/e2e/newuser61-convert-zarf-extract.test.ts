import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { startStaticServer, type StaticServer } from '../support/chart-repo.js';
import { mustRun, mustRunFerry, runFerry } from '../support/cli.js';
import { filesOnlyTarget } from '../support/files-target.js';

/**
 * newuser61: a Zarf package that downloads the helm CLI tarball and takes the binary out of it
 * (`extractPath:`), with `shasum:` as Zarf reads it: the SHA-256 of the extracted file (Zarf's
 * SHAsMatch on extractPath; its own test package 00-extract-path pins "Hello World!\n" so). convert
 * had pinned the archive to that sum, and `lock` refused every such package with a digest mismatch.
 * Upstream is a loopback HTTP server holding a tarball made with tar; the imported archive is
 * unpacked with tar at the site and its binary checked against the Zarf shasum, as the note says.
 */

let work: string;
let web: StaticServer;
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRIES: '1', FERRY_RETRY_MIN_MS: '50' });
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const HELM = '#!/bin/sh\necho "version.BuildInfo{Version:\\"v3.16.3\\"}"\n';
const TGZ = 'helm-v3.16.3-linux-amd64.tar.gz';
const NOTES = 'release notes for the site\n';

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-newuser61-'));
  const root = path.join(work, 'web');
  await mkdir(path.join(work, 'src', 'linux-amd64'), { recursive: true });
  await mkdir(root, { recursive: true });
  await writeFile(path.join(work, 'src', 'linux-amd64', 'helm'), HELM, { mode: 0o755 });
  await mustRun('tar', ['-czf', path.join(root, TGZ), '-C', path.join(work, 'src'), 'linux-amd64']);
  await writeFile(path.join(root, 'NOTES.txt'), NOTES);
  web = await startStaticServer(root);
}, 60_000);

afterAll(async () => {
  await web?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('newuser61: Zarf files with extractPath and shasum', () => {
  it('carries the archive unpinned by the extracted file\'s shasum; lock, bundle and import work and the site can check the binary', async () => {
    const pkg = path.join(work, 'pkg');
    await mkdir(pkg, { recursive: true });
    await writeFile(
      path.join(pkg, 'zarf.yaml'),
      [
        'kind: ZarfPackageConfig',
        'metadata: { name: edge-tools }',
        'components:',
        '  - name: tools',
        '    required: true',
        '    files:',
        `      - source: ${web.url}/${TGZ}`,
        `        shasum: ${sha256(HELM).toUpperCase()}`,
        '        target: /usr/local/bin/helm',
        '        extractPath: linux-amd64/helm',
        '        executable: true',
        `      - source: ${web.url}/NOTES.txt`,
        `        shasum: ${sha256(NOTES)}`,
        '        target: /opt/notes.txt',
        '',
      ].join('\n'),
    );
    const r = await runFerry(['convert', 'zarf', 'zarf.yaml', '-o', 'manifest.yaml'], { cwd: pkg, env: { ...process.env, ...env() } });
    expect(r.code, r.stderr).toBe(0);
    const m = parseYaml(await readFile(path.join(pkg, 'manifest.yaml'), 'utf8')) as { files: unknown[] };
    // The archive under its own name, without the extracted file's sum; a plain file keeps its pin.
    expect(m.files).toEqual([
      { name: TGZ, url: `${web.url}/${TGZ}` },
      { name: 'notes.txt', url: `${web.url}/NOTES.txt`, sha256: sha256(NOTES) },
    ]);
    const note = r.stderr.split('\n').findIndex((l) => l.startsWith('note: zarf.yaml:7 (component tools): ') && l.includes(TGZ));
    expect(note, r.stderr).toBeGreaterThanOrEqual(0);
    expect(r.stderr.split('\n')[note]).toContain('SHA-256 of linux-amd64/helm');
    expect(r.stderr.split('\n')[note + 1]).toContain(`tar -xOf <archive> linux-amd64/helm | sha256sum\` gives ${sha256(HELM)}`);

    // lock pins the archive by what it is, then the bundle goes to a files target.
    await mustRunFerry(['lock', 'manifest.yaml'], { cwd: pkg, env: env() });
    const lock = JSON.parse(await readFile(path.join(pkg, 'edge-tools.lock.json'), 'utf8')) as { files: Array<{ url: string; sha256: string }> };
    const archive = await readFile(path.join(work, 'web', TGZ));
    expect(lock.files.find((f) => f.url.endsWith(TGZ))?.sha256).toBe(sha256(archive));
    await mustRunFerry(['bundle', 'create', 'manifest.yaml', '-o', 'tools.ferry.tar'], { cwd: pkg, env: env() });
    const { file: target, filesDir } = await filesOnlyTarget(work, 'site');
    await mustRunFerry(['import', path.join(pkg, 'tools.ferry.tar'), '--target', target], { cwd: path.dirname(target) });
    const imported = path.join(filesDir, '127.0.0.1-' + new URL(web.url).port, TGZ);
    expect(sha256(await readFile(imported))).toBe(sha256(archive));
    // What the note tells the site to run gives the sum Zarf would have checked.
    const out = await mustRun('sh', ['-c', `tar -xOf "$1" linux-amd64/helm | sha256sum`, 'sh', imported]);
    expect(out.stdout.split(' ')[0]).toBe(sha256(HELM));
  }, 120_000);
});
