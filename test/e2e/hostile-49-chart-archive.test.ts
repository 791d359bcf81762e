import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tarHeader, tarPadding } from '../../src/store/tar-index.js';
import { runFerry } from '../support/cli.js';
import { paxHeader, paxRecord } from '../support/tar-craft.js';

/**
 * hostile-49: a chart repository (the attacker, an HTTP server in this test) serves chart
 * archives shaped to hurt `ferry lock`, which reads each archive it pins: thousands of levels of
 * vendored subcharts (charts/a/charts/a/…, each with its Chart.yaml: the walk over the tree
 * overflowed the stack, an "unexpected error"), and tens of thousands of entries far under the
 * 100 MiB unpacked bound. Each is refused naming the chart and the bound; no lock is written.
 */
type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

let work: string;
let server: http.Server;
let base: string;
let handler: Handler;
let n = 0;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-hostile49-charts-'));
  server = http.createServer((req, res) => handler(req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
  if (work) await rm(work, { recursive: true, force: true });
});

/** A gzip'd tar of `files` (name → text), long names in PAX records as `helm package` writes them. */
function tgz(files: Array<[string, string | Buffer]>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, content] of files) {
    const data = Buffer.isBuffer(content) ? content : Buffer.from(content);
    if (Buffer.byteLength(name) > 99) parts.push(paxHeader(paxRecord('path', name)));
    parts.push(tarHeader(Buffer.byteLength(name) > 99 ? 'long' : name, data.length, 'file'), data, tarPadding(data.length));
  }
  parts.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(parts));
}

const chartYaml = (name: string) => `apiVersion: v2\nname: ${name}\nversion: 1.0.0\n`;

/** A repository whose index.yaml lists `name` 1.0.0 at `<name>-1.0.0.tgz`, served as `archive`. */
function repoServing(name: string, archive: Buffer): Handler {
  const digest = createHash('sha256').update(archive).digest('hex');
  return (req, res) => {
    res.on('error', () => {});
    if (req.url === '/repo/index.yaml') return res.end(`apiVersion: v1\nentries:\n  ${name}:\n  - name: ${name}\n    version: 1.0.0\n    digest: ${digest}\n    urls: [${name}-1.0.0.tgz]\n`);
    if (req.url === `/repo/${name}-1.0.0.tgz`) {
      res.writeHead(200, { 'content-length': String(archive.length) });
      return res.end(archive);
    }
    res.writeHead(404);
    res.end();
  };
}

async function lockChart(name: string) {
  const dir = path.join(work, `c${++n}`);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'manifest.yaml'), `apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: h }\ncharts:\n  - name: ${name}\n    repo: ${base}/repo\n    version: 1.0.0\n`);
  const r = await runFerry(['lock', 'manifest.yaml'], { cwd: dir, env: { FERRY_CACHE_DIR: path.join(dir, 'cache'), FERRY_RETRIES: '0' }, timeoutMs: 90_000 });
  return { ...r, files: await readdir(dir) };
}

function refused(r: Awaited<ReturnType<typeof lockChart>>, problem: RegExp): void {
  expect(r.code, r.stderr).not.toBe(0);
  expect(r.code, r.stderr).not.toBe(137);
  expect(r.stderr).toMatch(problem);
  expect(r.stderr).not.toMatch(/unexpected error|failed unexpectedly|Maximum call stack|\n\s+at /);
  expect(r.files.filter((f) => f.endsWith('.lock.json'))).toEqual([]);
}

describe('hostile-49: chart archives from a crafted repository, read by ferry lock', () => {
  it('3000 levels of vendored subcharts, each with its Chart.yaml: refused at 32 levels, naming the chart (the stack overflowed)', async () => {
    const files: Array<[string, string]> = [];
    for (let k = 0; k <= 3000; k++) files.push([`deep${'/charts/a'.repeat(k)}/Chart.yaml`, chartYaml(k ? 'a' : 'deep')]);
    handler = repoServing('deep', tgz(files));
    refused(await lockChart('deep'), /deep-1\.0\.0\.tgz\/charts\/a\/charts\/a[^\n]*: vendored subcharts nest more than 32 levels deep.*\(the archive from http:\/\/127\.0\.0\.1:\d+\/repo\/deep-1\.0\.0\.tgz\)/);
  });

  it('archives nested in archives 40 deep: refused at 32 levels, naming where', async () => {
    let inner = tgz([['a/Chart.yaml', chartYaml('a')]]);
    for (let k = 0; k < 40; k++) inner = tgz([['a/Chart.yaml', chartYaml('a')], ['a/charts/a-1.0.0.tgz', inner]]);
    const top = tgz([['nest/Chart.yaml', chartYaml('nest')], ['nest/charts/a-1.0.0.tgz', inner]]);
    handler = repoServing('nest', top);
    refused(await lockChart('nest'), /nest-1\.0\.0\.tgz\/charts\/a-1\.0\.0\.tgz\/charts\/a-1\.0\.0\.tgz[^\n]*: vendored subcharts nest more than 32 levels deep/);
  });

  it('40 000 subcharts in one archive (well under 100 MiB unpacked): refused at 20 000 entries, naming the chart', async () => {
    const files: Array<[string, string]> = [['wide/Chart.yaml', chartYaml('wide')]];
    for (let k = 0; k < 40_000; k++) files.push([`wide/charts/s${k}/Chart.yaml`, chartYaml(`s${k}`)]);
    handler = repoServing('wide', tgz(files));
    refused(await lockChart('wide'), /wide-1\.0\.0\.tgz: more than 20,000 files and directories in the chart archive .*\(the archive from http:\/\/127\.0\.0\.1:\d+\/repo\/wide-1\.0\.0\.tgz\)/);
  });

  it('a chart with vendored subcharts a few levels deep and hundreds of files still locks', async () => {
    const files: Array<[string, string]> = [['ok/Chart.yaml', chartYaml('ok')]];
    for (let k = 0; k < 500; k++) files.push([`ok/templates/t${k}.yaml`, `# ${k}\n`]);
    for (let k = 0; k <= 4; k++) files.push([`ok/charts/a${'/charts/a'.repeat(k)}/Chart.yaml`, chartYaml('a')]);
    handler = repoServing('ok', tgz(files));
    const r = await lockChart('ok');
    expect(r.code, r.stderr).toBe(0);
    expect(r.files).toContain('h.lock.json');
  });
});
