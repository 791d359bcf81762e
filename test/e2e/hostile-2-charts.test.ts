import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../support/cli.js';

/**
 * Hostile chart repositories and chart archives: an in-process HTTP server on loopback answers
 * an index.yaml or serves an archive as a crafted repository could, and `ferry lock` /
 * `ferry charts images` must end in a clear error naming the chart and the bound, with no lock
 * written, no crash and memory bounded.
 */
type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

let work: string;
let server: http.Server;
let base: string;
let handler: Handler;
let n = 0;
/** A gzip'd tar of 1 GiB of zeros (1 MB on disk) under a chart's templates/. */
let bomb: Buffer;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-hostile2-charts-'));
  server = http.createServer((req, res) => handler(req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const src = path.join(work, 'bomb-src', 'bomb');
  await mkdir(path.join(src, 'templates'), { recursive: true });
  await writeFile(path.join(src, 'Chart.yaml'), 'apiVersion: v2\nname: bomb\nversion: 1.0.0\n');
  await writeFile(path.join(src, 'templates', 'big.yaml'), '');
  await truncate(path.join(src, 'templates', 'big.yaml'), 1024 ** 3);
  execFileSync('tar', ['-C', path.dirname(src), '-czf', path.join(work, 'bomb-1.0.0.tgz'), 'bomb']);
  bomb = await readFile(path.join(work, 'bomb-1.0.0.tgz'));
  await rm(path.join(work, 'bomb-src'), { recursive: true });
});

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
  if (work) await rm(work, { recursive: true, force: true });
});

async function lockChart(name: string) {
  const dir = path.join(work, `c${++n}`);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'manifest.yaml'), `apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: h }\ncharts:\n  - name: ${name}\n    repo: ${base}/repo\n    version: 1.0.0\n`);
  const r = await runFerry(['lock', 'manifest.yaml'], { cwd: dir, env: { FERRY_CACHE_DIR: path.join(dir, 'cache'), FERRY_RETRIES: '0' }, timeoutMs: 60_000 });
  return { ...r, files: await readdir(dir) };
}

function refused(r: Awaited<ReturnType<typeof lockChart>>, problem: RegExp): void {
  expect(r.code, r.stderr).not.toBe(0);
  expect(r.code, r.stderr).not.toBe(137);
  expect(r.stderr).toMatch(problem);
  expect(r.stderr).not.toMatch(/unexpected error|failed unexpectedly|\n\s+at /);
  expect(r.files.filter((f) => f.endsWith('.lock.json'))).toEqual([]);
}

/** Serves index.yaml as `index` writes it (and 404 for anything else). */
function repoWith(index: (res: http.ServerResponse) => void, extra: Record<string, Buffer> = {}): Handler {
  return (req, res) => {
    res.on('error', () => {});
    if (req.url === '/repo/index.yaml') return index(res);
    const body = extra[req.url!];
    if (body) {
      res.writeHead(200, { 'content-length': String(body.length) });
      return res.end(body);
    }
    res.writeHead(404);
    res.end();
  };
}

/** Writes `head`, then `chunk` forever (until the client goes away). */
function endless(res: http.ServerResponse, head: string, chunk: Buffer): void {
  res.writeHead(200, { 'content-type': 'application/x-yaml' });
  res.write(head);
  const more = () => {
    while (!res.destroyed && res.write(chunk));
    if (!res.destroyed) res.once('drain', more);
  };
  more();
}

describe('index.yaml', () => {
  it('a line that never ends is refused at 1 MiB (readline buffered it whole, without bound)', async () => {
    handler = repoWith((res) => endless(res, 'apiVersion: v1\nentries:\n  x:\n  - name: x\n    description: ', Buffer.alloc(1 << 16, 0x61)));
    refused(await lockChart('x'), /index\.yaml: a line longer than 1048576 bytes; refusing to read on/);
  });

  it('an alias bomb in the chart\'s section is refused by the YAML parser, not expanded', async () => {
    const lol = ['  x:', '  - name: x', '    version: 1.0.0', '    urls: [x.tgz]', '    a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let i = 1; i < 10; i++) lol.push(`    a${i}: &a${i} [${Array(9).fill(`*a${i - 1}`).join(',')}]`);
    handler = repoWith((res) => res.end(`apiVersion: v1\nentries:\n${lol.join('\n')}\n`));
    refused(await lockChart('x'), /index\.yaml is not valid YAML: .*[Ee]xcessive alias count/);
  });

  it('an archive URL that is not http(s) (file:, garbage) is refused naming it (garbage was "unexpected error")', async () => {
    for (const url of ['file:///etc/passwd', 'http://[']) {
      handler = repoWith((res) => res.end(`apiVersion: v1\nentries:\n  x:\n  - name: x\n    version: 1.0.0\n    urls: ["${url}"]\n`));
      refused(await lockChart('x'), new RegExp(`x 1\\.0\\.0 has the archive URL "${url.replace(/[/[.]/g, '\\$&')}", which is not an http\\(s\\) URL`));
    }
  });
});

describe('chart archives', () => {
  it('a decompression bomb served by a repository is refused at 100 MiB unpacked, naming the chart', async () => {
    const digest = createHash('sha256').update(bomb).digest('hex');
    handler = repoWith((res) => res.end(`apiVersion: v1\nentries:\n  bomb:\n  - name: bomb\n    version: 1.0.0\n    digest: ${digest}\n    urls: [bomb-1.0.0.tgz]\n`), { '/repo/bomb-1.0.0.tgz': bomb });
    refused(await lockChart('bomb'), /bomb-1\.0\.0\.tgz: unpacks to more than 104857600 bytes; refusing it \(a decompression bomb\?\)/);
  });

  it('subchart archives nested in the archive share the budget (each one alone is under it)', async () => {
    // Two levels: the outer chart vendors 3 copies of an archive that vendors the 1 GiB bomb's 40 MiB cousin.
    const dir = path.join(work, 'nested');
    const mid = path.join(dir, 'mid');
    await mkdir(path.join(mid, 'templates'), { recursive: true });
    await writeFile(path.join(mid, 'Chart.yaml'), 'apiVersion: v2\nname: mid\nversion: 1.0.0\n');
    await writeFile(path.join(mid, 'templates', 'big.yaml'), '');
    await truncate(path.join(mid, 'templates', 'big.yaml'), 40 * 1024 ** 2);
    const top = path.join(dir, 'top');
    await mkdir(path.join(top, 'charts'), { recursive: true });
    await writeFile(path.join(top, 'Chart.yaml'), 'apiVersion: v2\nname: top\nversion: 1.0.0\n');
    for (const i of [1, 2, 3]) execFileSync('tar', ['-C', dir, '-czf', path.join(top, 'charts', `mid${i}-1.0.0.tgz`), 'mid']);
    execFileSync('tar', ['-C', dir, '-czf', path.join(dir, 'top-1.0.0.tgz'), 'top']);
    const r = await runFerry(['charts', 'images', path.join(dir, 'top-1.0.0.tgz')], { timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/top-1\.0\.0\.tgz\/charts\/mid\d-1\.0\.0\.tgz: unpacks to more than 104857600 bytes/);
    expect(r.stderr).not.toMatch(/unexpected|\n\s+at /);
  });
});
