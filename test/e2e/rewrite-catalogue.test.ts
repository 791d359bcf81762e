import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../support/cli.js';
import { startStaticServer, type StaticServer } from '../support/static-http.js';

/**
 * A cloud-image catalogue after import: ferry rewrites its URLs to the file mirror and leaves the
 * checksums alone; with the upstream stopped, every rewritten URL serves bytes that match the
 * catalogue's own checksum.
 */
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
let work: string;
let upstream: StaticServer | undefined;
let mirror: StaticServer;
let image: Buffer;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-rewrite-catalogue-'));
  const srv = path.join(work, 'srv');
  await mkdir(path.join(srv, 'noble/current'), { recursive: true });
  image = randomBytes(256 * 1024 + 3);
  await writeFile(path.join(srv, 'noble/current/noble-server-cloudimg-amd64.img'), image);
  await writeFile(path.join(srv, 'noble/current/install.sh'), '#!/bin/sh\necho hi\n');
  upstream = await startStaticServer(srv);
  await mkdir(path.join(work, 'files'), { recursive: true });
  mirror = await startStaticServer(path.join(work, 'files'));
  const u = upstream.url;
  await writeFile(
    path.join(work, 'manifest.yaml'),
    [
      'apiVersion: ferry/v1alpha1',
      'kind: Manifest',
      'metadata: { name: cat }',
      'files:',
      '  - name: noble',
      `    url: ${u}/noble/current/noble-server-cloudimg-amd64.img`,
      `    sha256: ${sha(image)}`,
      '  - name: installer',
      `    url: ${u}/noble/current/install.sh`,
      '',
    ].join('\n'),
  );
  const env = { FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRY_MIN_MS: '50' };
  let r = await runFerry(['lock', 'manifest.yaml'], { cwd: work, env });
  expect(r.code, r.stderr).toBe(0);
  r = await runFerry(['bundle', 'create', 'manifest.yaml', '-o', 'cat.tar', '--frozen'], { cwd: work, env });
  expect(r.code, r.stderr).toBe(0);
  await writeFile(path.join(work, 'target.yaml'), `apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: site }\nfiles:\n  dir: ./files\n  baseUrl: ${mirror.url}/\n`);
  r = await runFerry(['import', 'cat.tar', '-t', 'target.yaml'], { cwd: work, env });
  expect(r.code, r.stderr).toBe(0);
}, 300_000);

afterAll(async () => {
  await upstream?.close();
  await mirror?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('rewrite catalogue', () => {
  it('rewritten URLs serve the bytes the untouched checksums describe (upstream stopped)', async () => {
    const u = upstream!.url;
    const catalogue = path.join(work, 'images.json');
    const original = {
      images: [{ name: 'ubuntu-24.04', url: `${u}/noble/current/noble-server-cloudimg-amd64.img`, sha256: sha(image) }],
      installer: `${u}/noble/current/install.sh`,
      homepage: 'https://ubuntu.com/',
    };
    await writeFile(catalogue, JSON.stringify(original, null, 2) + '\n');
    const r = await runFerry(['rewrite', 'catalogue', catalogue, '-t', 'target.yaml', '--bundle', 'cat.tar'], { cwd: work });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`images.json:5  ${u}/noble/current/noble-server-cloudimg-amd64.img → ${mirror.url}/`);
    const out = JSON.parse(await readFile(catalogue, 'utf8'));
    expect(out.images[0].sha256).toBe(original.images[0].sha256);
    expect(out.homepage).toBe('https://ubuntu.com/');
    expect(out.images[0].url.startsWith(`${mirror.url}/`)).toBe(true);

    await upstream!.close();
    upstream = undefined;
    const res = await fetch(out.images[0].url);
    expect(res.status).toBe(200);
    expect(sha(Buffer.from(await res.arrayBuffer()))).toBe(out.images[0].sha256);
    const script = await fetch(out.installer);
    expect(await script.text()).toBe('#!/bin/sh\necho hi\n');

    // A URL at the mirrored origin that the lock does not pin fails; nothing is written.
    const text = path.join(work, 'notes.txt');
    const before = `get ${original.installer} and ${u}/noble/current/missing.iso\n`;
    await writeFile(text, before);
    const bad = await runFerry(['rewrite', 'catalogue', text, '-t', 'target.yaml', '--bundle', 'cat.tar'], { cwd: work });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(`${u}/noble/current/missing.iso`);
    expect(await readFile(text, 'utf8')).toBe(before);
  });
});
