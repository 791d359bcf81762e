import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { tarHeader, tarPadding } from '../../src/store/tar-index.js';
import { craftedUpstream, expectRefusedLock, type Handler } from '../support/crafted-upstream.js';
import { paxHeader, paxRecord } from '../support/tar-craft.js';

/**
 * hostile-49: a chart repository (the attacker, an HTTP server in this test) serves chart
 * archives shaped to hurt `ferry lock`, which reads each archive it pins: thousands of levels of
 * vendored subcharts (charts/a/charts/a/…, each with its Chart.yaml: the walk over the tree
 * overflowed the stack, an "unexpected error"), and tens of thousands of entries far under the
 * 100 MiB unpacked bound. Each is refused naming the chart and the bound; no lock is written.
 */
const upstream = craftedUpstream('hostile49-charts');

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
    if (req.url === '/repo/index.yaml') return res.end(`apiVersion: v1\nentries:\n  ${name}:\n  - name: ${name}\n    version: 1.0.0\n    digest: ${digest}\n    urls: [${name}-1.0.0.tgz]\n`);
    if (req.url === `/repo/${name}-1.0.0.tgz`) {
      res.writeHead(200, { 'content-length': String(archive.length) });
      return res.end(archive);
    }
    res.writeHead(404);
    res.end();
  };
}

const lockChart = (name: string) => upstream.lock(`charts:\n  - name: ${name}\n    repo: http://${upstream.host}/repo\n    version: 1.0.0\n`);

describe('hostile-49: chart archives from a crafted repository, read by ferry lock', () => {
  it('3000 levels of vendored subcharts, each with its Chart.yaml: refused at 32 levels, naming the chart (the stack overflowed)', async () => {
    const files: Array<[string, string]> = [];
    for (let k = 0; k <= 3000; k++) files.push([`deep${'/charts/a'.repeat(k)}/Chart.yaml`, chartYaml(k ? 'a' : 'deep')]);
    upstream.handler = repoServing('deep', tgz(files));
    expectRefusedLock(await lockChart('deep'), /deep-1\.0\.0\.tgz\/charts\/a\/charts\/a[^\n]*: vendored subcharts nest more than 32 levels deep.*\(the archive from http:\/\/127\.0\.0\.1:\d+\/repo\/deep-1\.0\.0\.tgz\)/);
  });

  it('archives nested in archives 40 deep: refused at 32 levels, naming where', async () => {
    let inner = tgz([['a/Chart.yaml', chartYaml('a')]]);
    for (let k = 0; k < 40; k++) inner = tgz([['a/Chart.yaml', chartYaml('a')], ['a/charts/a-1.0.0.tgz', inner]]);
    const top = tgz([['nest/Chart.yaml', chartYaml('nest')], ['nest/charts/a-1.0.0.tgz', inner]]);
    upstream.handler = repoServing('nest', top);
    expectRefusedLock(await lockChart('nest'), /nest-1\.0\.0\.tgz\/charts\/a-1\.0\.0\.tgz\/charts\/a-1\.0\.0\.tgz[^\n]*: vendored subcharts nest more than 32 levels deep/);
  });

  it('40 000 subcharts in one archive (well under 100 MiB unpacked): refused at 20 000 entries, naming the chart', async () => {
    const files: Array<[string, string]> = [['wide/Chart.yaml', chartYaml('wide')]];
    for (let k = 0; k < 40_000; k++) files.push([`wide/charts/s${k}/Chart.yaml`, chartYaml(`s${k}`)]);
    upstream.handler = repoServing('wide', tgz(files));
    expectRefusedLock(await lockChart('wide'), /wide-1\.0\.0\.tgz: more than 20,000 files and directories in the chart archive .*\(the archive from http:\/\/127\.0\.0\.1:\d+\/repo\/wide-1\.0\.0\.tgz\)/);
  });

  it('a chart with vendored subcharts a few levels deep and hundreds of files still locks', async () => {
    const files: Array<[string, string]> = [['ok/Chart.yaml', chartYaml('ok')]];
    for (let k = 0; k < 500; k++) files.push([`ok/templates/t${k}.yaml`, `# ${k}\n`]);
    for (let k = 0; k <= 4; k++) files.push([`ok/charts/a${'/charts/a'.repeat(k)}/Chart.yaml`, chartYaml('a')]);
    upstream.handler = repoServing('ok', tgz(files));
    const r = await lockChart('ok');
    expect(r.code, r.stderr).toBe(0);
    expect(r.files).toContain('h.lock.json');
  });
});
