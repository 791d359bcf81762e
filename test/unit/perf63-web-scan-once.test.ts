import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { scanPaths } from '../../src/audit/scan.js';
import { clearFsHooks, fired, firstEndsWith, fsHook } from '../support/fs-hooks.js';

/**
 * perf63: a plain text file is scanned once, after every file's web server facts are known (an
 * nginx file included by another is read with the upstream groups and maps of the files it is
 * joined to), no longer scanned alone first and again with them. Its text is not held across the
 * scan: it is read a second time, and a file that changed between the two reads (its facts taken
 * from one version, its findings from the other) is listed as not scanned. The change is made
 * deterministic by renaming a new version over the file just after its first open (vi.mock of
 * node:fs/promises, test/support/fs-hooks.ts).
 */
vi.mock('node:fs/promises', async (importOriginal) => (await import('../support/fs-hooks.js')).hookedFsPromises(await importOriginal()));

// As `ferry audit` scans (audit/charts.ts auditPaths): the texts it does not need afterwards are not kept.
let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-perf63-'));
  await mkdir(path.join(dir, 'conf.d'));
  await writeFile(path.join(dir, 'nginx.conf'), 'http {\n  upstream backend {\n    server app.internal.example:8080;\n  }\n  include conf.d/*.conf;\n}\n');
  await writeFile(path.join(dir, 'conf.d', 'site.conf'), 'server {\n  location / {\n    proxy_pass http://backend;\n  }\n}\n');
});
afterEach(async () => {
  clearFsHooks();
  await rm(dir, { recursive: true, force: true });
});
afterAll(clearFsHooks);

describe('perf63: each plain text file scanned once, with its include context', () => {
  it("an included file's proxy_pass is read with the including file's upstream group, one finding", async () => {
    const res = await scanPaths(['.'], dir, { textPatterns: [] });
    const site = res.references.filter((r) => r.file === 'conf.d/site.conf');
    expect(site.map((r) => [r.line, r.value])).toEqual([[3, 'http://backend']]);
    expect(site[0].inCluster).toMatch(/nginx upstream group backend \(nginx\.conf:2\)/);
    expect(res.references.some((r) => r.file === 'nginx.conf' && r.value.includes('app.internal.example'))).toBe(true);
    expect(res.skipped).toEqual([]);
  });

  it('a file rewritten between its two reads is listed as not scanned, nothing of either version reported', async () => {
    const site = path.join(dir, 'conf.d', 'site.conf');
    const hook = fsHook({
      call: 'open',
      when: 'after',
      match: firstEndsWith('conf.d/site.conf'),
      run: async () => {
        // Another process replaces the file while the scan goes on (the first read holds the old one open).
        await writeFile(`${site}.new`, 'server {\n  location / {\n    proxy_pass http://evil.example.com;\n  }\n}\n');
        await rename(`${site}.new`, site);
      },
    });
    const res = await scanPaths(['.'], dir, { textPatterns: [] });
    expect(fired(hook)).toBe(true);
    expect(res.references.filter((r) => r.file === 'conf.d/site.conf')).toEqual([]);
    expect(res.skipped).toEqual([{ file: 'conf.d/site.conf', reason: expect.stringMatching(/^changed while the audit read it .*not scanned: audit it again/), unscanned: true }]);
    // The rest of the scan is whole.
    expect(res.references.some((r) => r.file === 'nginx.conf' && r.value.includes('app.internal.example'))).toBe(true);
  });
});
