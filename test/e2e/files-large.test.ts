import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FERRY, mustRun, runCommand } from '../support/cli.js';
import { startStaticServer, type StaticServer } from '../support/static-http.js';

/**
 * A 1 GiB file streams through lock → bundle create → import with bounded memory. The file is
 * made at test time (sparse, so it costs no disk on the server side); peak RSS of each ferry
 * process is measured with GNU time and printed for the report.
 */

const GiB = 1024 * 1024 * 1024;
const RSS_LIMIT_KB = 400 * 1024;

let work: string;
let server: StaticServer;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-files-large-'));
  const srv = path.join(work, 'srv');
  await mkdir(srv, { recursive: true });
  await mustRun('truncate', ['-s', String(GiB + 4093), path.join(srv, 'big.img')]);
  const sum = (await mustRun('sha256sum', ['big.img'], { cwd: srv })).stdout;
  await writeFile(path.join(srv, 'SHA256SUMS'), sum);
  server = await startStaticServer(srv);
});

afterAll(async () => {
  await server?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

async function timed(args: string[], cwd: string): Promise<{ code: number; stderr: string; stdout: string; maxRssKb: number }> {
  const r = await runCommand('/usr/bin/time', ['-v', process.execPath, FERRY, ...args], {
    cwd,
    env: { FERRY_CACHE_DIR: path.join(work, 'cache') },
  });
  const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr);
  return { ...r, maxRssKb: m ? Number(m[1]) : NaN };
}

describe('files: a file larger than 1 GiB', () => {
  it('is fetched, bundled, verified and imported with bounded memory', async () => {
    const dir = path.join(work, 'p');
    await mkdir(dir, { recursive: true });
    await writeFile(
      path.join(dir, 'manifest.yaml'),
      ['apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata: { name: big }', 'files:', '  - name: big', `    url: ${server.url}/big.img`, '    checksums:', `      url: ${server.url}/SHA256SUMS`, ''].join('\n'),
    );
    await writeFile(
      path.join(dir, 'target.yaml'),
      ['apiVersion: ferry/v1alpha1', 'kind: MirrorTarget', 'metadata: { name: t }', 'files: { dir: ./mirror, baseUrl: "http://mirror.internal/files" }', ''].join('\n'),
    );
    const create = await timed(['bundle', 'create', 'manifest.yaml', '-o', 'big.ferry.tar', '-q'], dir);
    expect(create.code, create.stderr).toBe(0);
    const imp = await timed(['import', 'big.ferry.tar', '-t', 'target.yaml', '-q'], dir);
    expect(imp.code, imp.stderr).toBe(0);
    const host = new URL(server.url).host.replace(':', '-');
    expect((await stat(path.join(dir, 'mirror', host, 'big.img'))).size).toBe(GiB + 4093);
    // Report figures (no timing assertions): peak RSS of the ferry processes.
    console.log(`files-large: peak RSS bundle create ${Math.round(create.maxRssKb / 1024)} MiB, import ${Math.round(imp.maxRssKb / 1024)} MiB for a ${GiB + 4093}-byte file`);
    expect(create.maxRssKb).toBeLessThan(RSS_LIMIT_KB);
    expect(imp.maxRssKb).toBeLessThan(RSS_LIMIT_KB);
  });
});
