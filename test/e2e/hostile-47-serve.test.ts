import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mapFileUrl } from '../../src/mapping/index.js';
import { runCommand, runFerry } from '../support/cli.js';
import { startServe, type RunningServe } from '../support/craft-serve.js';
import { pushLayoutImage, writeOciLayout } from '../support/images.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';
import { startStaticServer, type StaticServer } from '../support/static-http.js';

/**
 * Round 47: `ferry serve` (the built CLI, a real bundle of three repositories and two files, one
 * of them empty) asked as a hostile or merely unusual client asks: a `Range` in a unit it does not
 * have, a suffix range of an empty file, and page sizes of the catalog and tag lists that are no
 * whole numbers.
 */
let work: string;
let reg: RunningRegistry;
let files: StaticServer;
let s: RunningServe;
let repo: (name: string) => string;
let emptyPath: string;
let dataPath: string;
const data = Buffer.from('0123456789abcdefghij'.repeat(500));
const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-hostile47-serve-'));
  reg = await startRegistry({ mode: 'http' });
  const layout = path.join(work, 'layout');
  await writeOciLayout(layout, [{ name: 'x', platforms: [{ architecture: 'amd64', layers: [{ files: { 'etc/x': 'x\n' } }] }] }]);
  for (const ref of ['p/a:1', 'p/a:2', 'p/a:3', 'p/b:1', 'p/c:1']) await pushLayoutImage(reg, layout, 'x', ref);
  const srv = path.join(work, 'srv');
  await mkdir(srv, { recursive: true });
  await writeFile(path.join(srv, 'empty.txt'), '');
  await writeFile(path.join(srv, 'data.bin'), data);
  files = await startStaticServer(srv);
  const manifest = [
    'apiVersion: ferry/v1alpha1',
    'kind: Manifest',
    'metadata: { name: h47-serve }',
    'images:',
    ...['p/a:1', 'p/a:2', 'p/a:3', 'p/b:1', 'p/c:1'].map((r) => `  - ref: ${reg.host}/${r}`),
    'files:',
    `  - { name: empty, url: "${files.url}/empty.txt" }`,
    `  - { name: data, url: "${files.url}/data.bin" }`,
    '',
  ].join('\n');
  await writeFile(path.join(work, 'manifest.yaml'), manifest);
  const made = await runFerry(['bundle', 'create', 'manifest.yaml', '-o', 'b.tar'], { cwd: work, env: { FERRY_CACHE_DIR: path.join(work, 'cache') } });
  expect(made.code, made.stderr).toBe(0);
  repo = (name: string) => `${reg.host.replace(':', '-')}/p/${name}`;
  emptyPath = `/files/${mapFileUrl(`${files.url}/empty.txt`, { baseUrl: 'http://x' }).path}`;
  dataPath = `/files/${mapFileUrl(`${files.url}/data.bin`, { baseUrl: 'http://x' }).path}`;
  s = await startServe([path.join(work, 'b.tar'), '--listen', '127.0.0.1:0']);
}, 300_000);

afterAll(async () => {
  await s?.stop();
  await files?.close();
  await reg?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

async function ask(p: string, headers: Record<string, string> = {}, method = 'GET') {
  const r = await fetch(`${s.url}${p}`, { method, headers });
  return { status: r.status, headers: r.headers, body: Buffer.from(await r.arrayBuffer()) };
}

describe('Range in a unit the server does not have', () => {
  it('is ignored (RFC 9110 14.2): the whole body, 200, GET and HEAD alike, for a file and a registry blob (it was 416)', async () => {
    const layerDigest = ((await (await fetch(`${s.url}/v2/${repo('a')}/manifests/1`, { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } })).json()) as { layers: Array<{ digest: string; size: number }> }).layers[0];
    for (const [p, whole] of [[dataPath, data.length], [`/v2/${repo('a')}/blobs/${layerDigest.digest}`, layerDigest.size]] as const) {
      for (const range of ['items=0-1', 'pages=2', 'none=0-']) {
        const got = await ask(p, { Range: range });
        expect(got.status, `${p} ${range}`).toBe(200);
        expect(got.body.length).toBe(whole);
        expect(got.headers.get('content-range')).toBeNull();
        const head = await ask(p, { Range: range }, 'HEAD');
        expect(head.status).toBe(200);
        expect(head.headers.get('content-length')).toBe(String(whole));
      }
    }
    expect(sha((await ask(dataPath, { Range: 'items=0-1' })).body)).toBe(sha(data));
    // The unit is case-insensitive: still a range.
    const upper = await ask(dataPath, { Range: 'Bytes=10-19' });
    expect(upper.status).toBe(206);
    expect(upper.body.toString()).toBe('abcdefghij');
    // Bytes with a broken spec is still refused.
    expect((await ask(dataPath, { Range: 'bytes=1e3-' })).status).toBe(416);
  });
});

describe('a suffix range of an empty file', () => {
  it('is the whole (empty) body, 200, with no Content-Range naming bytes 0 to -1; curl -r -5 succeeds', async () => {
    for (const method of ['GET', 'HEAD']) {
      const got = await ask(emptyPath, { Range: 'bytes=-5' }, method);
      expect(got.status, method).toBe(200);
      expect(got.headers.get('content-range'), method).toBeNull();
      expect(got.headers.get('content-length')).toBe('0');
      expect(got.body.length).toBe(0);
    }
    // A range that starts in it is still unsatisfiable, as before.
    expect((await ask(emptyPath, { Range: 'bytes=0-' })).status).toBe(416);
    const out = path.join(work, 'curl-empty');
    const c = await runCommand('curl', ['-sS', '--fail', '-r', '-5', '-o', out, `${s.url}${emptyPath}`]);
    expect(c.code, c.stderr).toBe(0);
    expect((await readFile(out)).length).toBe(0);
  });
});

describe('page sizes of the catalog and tag lists', () => {
  it('n that is no whole number (-1, 1e9, 10abc, 1.5, 0x10, a 20-digit number) is refused 400 PAGINATION_NUMBER_INVALID, GET and HEAD (1e9 was a page of one, -1 an empty list)', async () => {
    for (const list of ['/v2/_catalog', `/v2/${repo('a')}/tags/list`]) {
      for (const n of ['-1', '1e9', '10abc', '1.5', '0x10', ' 2', '99999999999999999999']) {
        const got = await ask(`${list}?n=${encodeURIComponent(n)}`);
        expect(got.status, `${list} n=${n}`).toBe(400);
        expect(JSON.parse(got.body.toString()).errors[0].code).toBe('PAGINATION_NUMBER_INVALID');
        expect(got.headers.get('link')).toBeNull();
        expect((await ask(`${list}?n=${encodeURIComponent(n)}`, {}, 'HEAD')).status).toBe(400);
      }
    }
  });

  it('whole numbers page as before: n=1 walks every repository by its Link, n=0 is empty, a large n is everything', async () => {
    const seen: string[] = [];
    let next: string | undefined = '/v2/_catalog?n=1';
    for (let i = 0; next && i < 10; i++) {
      const got = await ask(next);
      expect(got.status).toBe(200);
      seen.push(...(JSON.parse(got.body.toString()) as { repositories: string[] }).repositories);
      next = /<([^>]+)>; rel="next"/.exec(got.headers.get('link') ?? '')?.[1];
    }
    expect(seen).toEqual([repo('a'), repo('b'), repo('c')]);
    expect(JSON.parse((await ask('/v2/_catalog?n=0')).body.toString())).toEqual({ repositories: [] });
    expect(JSON.parse((await ask(`/v2/${repo('a')}/tags/list?n=123456789012345`)).body.toString())).toEqual({ name: repo('a'), tags: ['1', '2', '3'] });
    const two = await ask(`/v2/${repo('a')}/tags/list?n=2`);
    expect(JSON.parse(two.body.toString()).tags).toEqual(['1', '2']);
    expect(two.headers.get('link')).toMatch(/last=2/);
    // `last` need not be a tag: the page starts after where it would sort; past the end, nothing.
    expect(JSON.parse((await ask(`/v2/${repo('a')}/tags/list?last=1a`)).body.toString()).tags).toEqual(['2', '3']);
    expect(JSON.parse((await ask(`/v2/${repo('a')}/tags/list?last=0`)).body.toString()).tags).toEqual(['1', '2', '3']);
    expect(JSON.parse((await ask(`/v2/${repo('a')}/tags/list?last=9`)).body.toString()).tags).toEqual([]);
  });
});
