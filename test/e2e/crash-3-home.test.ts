import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../support/cli.js';
import { startStaticServer, type StaticServer } from '../support/static-http.js';

/**
 * HOME in an odd place (a CI job's HOME=/proc/self, a service user's HOME=/dev/null): Node's
 * recursive mkdir loops forever where a directory exists but nothing can be made in it, so
 * `ferry --version` (the compile cache) and every command with the default download cache spun
 * at 100% CPU. Now the compile cache is skipped and the download cache is refused, naming it and
 * how to give another. The timeout only stops a spinning run; the assertions are on the outcome.
 */

let work: string;
let server: StaticServer;
let manifest: string;
const SPIN_GUARD = { timeoutMs: 60_000 };

/** HOME as given, and no other variable that would choose a cache directory instead. */
function homeEnv(home: string): NodeJS.ProcessEnv {
  return { HOME: home, XDG_CACHE_HOME: '', FERRY_CACHE_DIR: '', FERRY_COMPILE_CACHE: '', NODE_COMPILE_CACHE: '' };
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-crash-3-home-'));
  await writeFile(path.join(work, 'f.txt'), 'hello\n');
  server = await startStaticServer(work);
  manifest = path.join(work, 'home.yaml');
  await writeFile(manifest, ['apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata: { name: home }', 'files:', '  - name: f', `    url: ${server.url}/f.txt`, ''].join('\n'));
});

afterAll(async () => {
  await server?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('HOME under /proc or on a device', () => {
  for (const home of ['/proc/self', '/proc/self/fd']) {
    it(`ferry --version with HOME=${home} runs (without the compile cache)`, async () => {
      const r = await runFerry(['--version'], { env: homeEnv(home), ...SPIN_GUARD });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^\d+\.\d+\.\d+/);
    });
  }

  for (const home of ['/proc/self', '/proc/self/fd', '/dev/null']) {
    it(`lock with HOME=${home} refuses the download cache by name and says how to give another`, async () => {
      const r = await runFerry(['lock', manifest, '-o', path.join(work, 'out.lock.json')], { env: homeEnv(home), ...SPIN_GUARD });
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toContain(`error: cannot create the download cache ${home}/.cache/ferry/store (the default, under HOME (${home}))`);
      expect(r.stderr).toContain('hint: Give ferry a writable cache directory with --cache-dir <dir> or FERRY_CACHE_DIR=<dir>');
      expect(r.stderr).not.toMatch(/node:internal|\n\s+at /);
    });
  }

  it('--cache-dir under /proc is refused the same way, naming the option', async () => {
    const r = await runFerry(['lock', manifest, '-o', path.join(work, 'out.lock.json'), '--cache-dir', '/proc/self/ferry-cache'], { env: homeEnv(work), ...SPIN_GUARD });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain('error: cannot create the download cache /proc/self/ferry-cache (--cache-dir)');
  });

  it('a writable HOME still gets its cache (and the lock is written)', async () => {
    const home = path.join(work, 'home');
    const r = await runFerry(['lock', manifest, '-o', path.join(work, 'ok.lock.json')], { env: homeEnv(home), ...SPIN_GUARD });
    expect(r.code, r.stderr).toBe(0);
  });
});
