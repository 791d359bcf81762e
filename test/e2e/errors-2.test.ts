import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand, runFerry, type RunResult } from '../support/cli.js';
import { startStaticServer, type StaticServer } from '../support/static-http.js';

/**
 * Mistakes and failures a user meets outside the first hour: where a bundle is written, a disk
 * that cannot take it. Each says the place and what to do, with the documented exit code, never
 * "unexpected error".
 */

let work: string;
let server: StaticServer;
let manifest: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-errors2-'));
  const body = randomBytes(64 * 1024);
  await mkdir(path.join(work, 'www'));
  await writeFile(path.join(work, 'www', 'blob.bin'), body);
  server = await startStaticServer(path.join(work, 'www'));
  manifest = path.join(work, 'm.yaml');
  await writeFile(manifest, [
    'apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata:', '  name: errs', 'files:',
    '  - name: blob', `    url: ${server.url}/blob.bin`, `    sha256: ${createHash('sha256').update(body).digest('hex')}`, '',
  ].join('\n'));
  await writeFile(path.join(work, 'a-file'), 'x');
  await mkdir(path.join(work, 'a-directory'));
});

afterAll(async () => {
  await server?.close();
  if (work && !process.env.FERRY_TEST_KEEP) await rm(work, { recursive: true, force: true });
});

function mustMount(r: RunResult) {
  if (r.code !== 0) throw new Error(`mount tmpfs failed (these tests need root): ${r.stderr}`);
}

function clean(stderr: string) {
  expect(stderr).not.toMatch(/unexpected error|ENOENT|EISDIR|EEXIST|EROFS|ENOSPC|    at /);
}

describe('bundle create -o names a place that cannot take the bundle', () => {
  it('a directory as -o: usage error naming it, with a file name to use', async () => {
    const r = await runFerry(['bundle', 'create', manifest, '-o', path.join(work, 'a-directory')]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/a-directory: is a directory, not a bundle file\nhint: Name the bundle file/);
    clean(r.stderr);
  });

  it('a path under a file: usage error naming the file in the way', async () => {
    const r = await runFerry(['bundle', 'create', manifest, '-o', path.join(work, 'a-file', 'b.tar')]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/a-file is a file, not a directory/);
    clean(r.stderr);
  });

  it('a directory that does not exist yet is created (not an error)', async () => {
    const r = await runFerry(['bundle', 'create', manifest, '-o', path.join(work, 'new', 'dir', 'b.tar')]);
    expect(r.code, r.stderr).toBe(0);
  });

});

/** A read-only and a full file system, as tmpfs mounts (the tests run as root in this tree's CI). */
describe('a disk that cannot take the bundle or the import', () => {
  const ro = () => path.join(work, 'ro-mount');
  const full = () => path.join(work, 'full-mount');
  beforeAll(async () => {
    await mkdir(ro());
    await mkdir(full());
    await runCommand('mount', ['-t', 'tmpfs', '-o', 'ro,size=64k', 'tmpfs', ro()]).then(mustMount);
    await runCommand('mount', ['-t', 'tmpfs', '-o', 'size=16k', 'tmpfs', full()]).then(mustMount);
  });
  afterAll(async () => {
    await runCommand('umount', [ro()]);
    await runCommand('umount', [full()]);
  });

  it('bundle create -o on a read-only file system: usage error before fetching', async () => {
    const r = await runFerry(['bundle', 'create', manifest, '-o', path.join(ro(), 'b.tar')]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/ro-mount\/b\.tar: cannot write in \S*ro-mount: read-only file system\nhint: Write the bundle to a directory/);
    expect(r.stderr).not.toMatch(/fetched/);
    clean(r.stderr);
  });

  it('bundle create on a full disk: "no space left", how to resume, exit 1', async () => {
    const r = await runFerry(['bundle', 'create', manifest, '-o', path.join(full(), 'b.tar')]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/^error: .*no space left on the device\nhint: Free space on the disk ferry writes to .*resumes/m);
    clean(r.stderr);
  });

  it('import into a files directory on a full disk: "no space left", exit 1', async () => {
    const bundle = path.join(work, 'ok.tar');
    expect((await runFerry(['bundle', 'create', manifest, '-o', bundle])).code).toBe(0);
    const target = path.join(work, 'full-target.yaml');
    await writeFile(target, `apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata:\n  name: full\nfiles:\n  dir: ${full()}/files\n  baseUrl: http://files.example/\n`);
    const r = await runFerry(['import', bundle, '-t', target]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/no space left on the device[^\n]*\nhint: /);
    clean(r.stderr);
  });

  it('import into a files directory to be made on a read-only mount: "read-only file system", not "unexpected error"', async () => {
    const bundle = path.join(work, 'ok.tar');
    if ((await runFerry(['bundle', 'verify', bundle])).code !== 0) expect((await runFerry(['bundle', 'create', manifest, '-o', bundle])).code).toBe(0);
    const target = path.join(work, 'ro-target.yaml');
    await writeFile(target, `apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata:\n  name: ro\nfiles:\n  dir: ${ro()}/files/site\n  baseUrl: http://files.example/\n`);
    const r = await runFerry(['import', bundle, '-t', target]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/ro-mount\/files: cannot mkdir: read-only file system\nhint: Write to a place on a writable file system/);
    clean(r.stderr);
  });
});

describe('probe --proxy', () => {
  it('a URL that only parses by reading a typo as a path is refused, not probed as http:80', async () => {
    const r = await runFerry(['probe', manifest, '--proxy', 'http//proxy.example:3128']);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/^error: --proxy http: not a proxy URL \(it has a path or a space: "\/\/proxy\.example:3128"\)\nhint: A proxy is a URL such as/m);
    expect(r.stdout).toBe('');
    clean(r.stderr);
  });
});
