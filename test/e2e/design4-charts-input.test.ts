import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../support/cli.js';
import { unblockFifo } from '../support/fifo.js';

/**
 * `ferry charts images <path>` on a path that is not a chart or a manifest file: a FIFO (its open
 * waited for a writer forever, and no signal ended it), a link to /dev/zero named like a manifest
 * (read without bound), a device. Each is refused at once, named, never read.
 */
let work: string;
const fifos: string[] = [];

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-design4-charts-'));
});
afterAll(async () => {
  for (const f of fifos) unblockFifo(f);
  if (work) await rm(work, { recursive: true, force: true });
});

function fifo(name: string): string {
  const p = path.join(work, name);
  execFileSync('mkfifo', [p]);
  fifos.push(p);
  return p;
}

// The child is killed after this long only so that old code's hang ends the test (as a failure).
const run = (arg: string) => runFerry(['charts', 'images', arg], { cwd: work, timeoutMs: 30_000 });

describe('charts images refuses what is neither a chart nor a manifest file, without reading it', () => {
  it('a FIFO named like a manifest', async () => {
    fifo('manifest.yaml');
    const r = await run('manifest.yaml');
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain('manifest.yaml: a FIFO, not read: not a chart directory, packaged chart or manifest');
  });

  it('a FIFO named like a packaged chart', async () => {
    fifo('app-1.0.0.tgz');
    const r = await run('app-1.0.0.tgz');
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain('app-1.0.0.tgz: a FIFO, not read');
  });

  it('a link to /dev/zero named like a manifest, and /dev/zero itself', async () => {
    await symlink('/dev/zero', path.join(work, 'zero.yaml'));
    const r = await run('zero.yaml');
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain('zero.yaml: a device, not read');
    const d = await run('/dev/zero');
    expect(d.code, d.stderr).toBe(2);
    expect(d.stderr).toContain('/dev/zero: a device, not read');
  });

  it('a .yaml file larger than a manifest may be is refused after reading at most that much', async () => {
    await writeFile(path.join(work, 'huge.yaml'), `# ${'x'.repeat(600 * 1024)}\nkind: Manifest\n`);
    const r = await run('huge.yaml');
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain('huge.yaml: 614');
    expect(r.stderr).toContain('more than the 512 KiB ferry reads of a manifest');
  });
});
