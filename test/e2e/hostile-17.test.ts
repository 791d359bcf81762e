import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TAR_END, tarHeader, tarPadding } from '../../src/store/tar-index.js';
import { runFerry } from '../support/cli.js';

/**
 * Hostile pass 17 (today's merges), end to end.
 *
 * What tripped:
 * - `ferry report --bundle` (no manifest) loads the manifest inside the bundle, and loading hashes
 *   every local file it names (chart values, keys) into the manifest's digest with readFile: a
 *   crafted manifest naming /dev/zero read until 2 GiB of memory, one naming a FIFO waited for a
 *   writer forever (not even SIGTERM ended it). The same for `ferry lock --check` on any manifest.
 * - `ferry lock --check` (and every reader of the lock) on a FIFO where the lock should be
 *   waited forever in open().
 * Now a referenced file is opened without waiting and hashed only when it is a regular file of
 * sane size; a lock that is a FIFO, socket or device is refused, named.
 */
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-hostile17-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const hex = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const noCrash = (stderr: string) => expect(stderr).not.toMatch(/unexpected error|This is a bug|\n\s+at /);
const EVIL = '"><img src=x onerror=alert(1)>\x1b]0;pwned\x07';

/** A bundle holding `manifest` as ferry/manifest.yaml (every file listed in its checksums). */
async function bundleWith(name: string, manifest: string, manifestName: string): Promise<string> {
  const lock = { apiVersion: 'ferry/v1alpha1', kind: 'Lock', manifest: { name: manifestName, digest: `sha256:${'0'.repeat(64)}` }, images: [] };
  const files = new Map<string, Buffer>([
    ['oci-layout', Buffer.from('{"imageLayoutVersion":"1.0.0"}')],
    ['ferry/bundle.json', Buffer.from(JSON.stringify({ formatVersion: 1, ferryVersion: '0.1.0', manifestName }))],
    ['ferry/lock.json', Buffer.from(JSON.stringify(lock))],
    ['ferry/manifest.yaml', Buffer.from(manifest)],
    ['index.json', Buffer.from('{"schemaVersion":2,"manifests":[]}')],
  ]);
  files.set('ferry/checksums.sha256', Buffer.from([...files].map(([k, b]) => `${hex(b)}  ${k}\n`).sort().join('')));
  const file = path.join(dir, name);
  await writeFile(file, Buffer.concat([...[...files].flatMap(([k, b]) => [tarHeader(k, b.length, 'file'), b, tarPadding(b.length)]), TAR_END]));
  return file;
}

describe('report --bundle: the manifest inside a crafted bundle', () => {
  it('naming /dev/zero, a FIFO and /proc/kcore as values files, HTML in its fields: the report is made, nothing is read from them', async () => {
    const fifo = path.join(dir, 'values-fifo');
    execFileSync('mkfifo', [fifo]);
    const manifest = [
      'apiVersion: ferry/v1alpha1',
      'kind: Manifest',
      'metadata: {name: evil}',
      'charts:',
      `  - name: ${JSON.stringify(EVIL)}`,
      '    repo: https://charts.example.com',
      '    version: 1.0.0',
      `    values: [/dev/zero, ${JSON.stringify(fifo)}, /proc/kcore, ../../../../etc/passwd]`,
      '',
    ].join('\n');
    const tar = await bundleWith('evil.ferry.tar', manifest, 'evil');
    const out = path.join(dir, 'report.html');
    const r = await runFerry(['report', '--bundle', tar, '-o', out], { cwd: dir, timeoutMs: 60_000 });
    noCrash(r.stderr);
    expect(r.code, r.stderr).toBe(0);
    const html = await readFile(out, 'utf8');
    expect(html).not.toContain('<img src=x');
    expect(html).not.toContain('\x1b');
  });

  it('an invalid manifest inside the bundle is named as the bundle\'s member, not as a temporary copy that is gone', async () => {
    const tar = await bundleWith('bad.ferry.tar', 'apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: {name: bad}\ncharts:\n  - name: "<script>"\n    repo: https://charts.example.com\n    version: 1.0.0\n', 'bad');
    const r = await runFerry(['report', '--bundle', tar, '-o', path.join(dir, 'bad.html')], { cwd: dir, timeoutMs: 60_000 });
    noCrash(r.stderr);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${tar} (ferry/manifest.yaml): 1 problem in manifest`);
    expect(r.stderr).not.toContain('ferry-report-');
  });
});

describe('ferry lock --check', () => {
  it('a manifest naming /dev/zero and a FIFO as values files: answered, nothing read from them', async () => {
    const fifo = path.join(dir, 'check-fifo');
    execFileSync('mkfifo', [fifo]);
    const m = path.join(dir, 'check.yaml');
    await writeFile(m, `apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: {name: check}\ncharts:\n  - name: c\n    repo: https://charts.example.com\n    version: 1.0.0\n    values: [/dev/zero, ${JSON.stringify(fifo)}]\n`);
    const r = await runFerry(['lock', '--check', m], { cwd: dir, timeoutMs: 60_000 });
    noCrash(r.stderr);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain('out of date: no lock file');
  });

  it('a FIFO where the lock should be: refused, named, without waiting for a writer', async () => {
    const m = path.join(dir, 'fifo.yaml');
    await writeFile(m, 'apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: {name: fifo}\n');
    execFileSync('mkfifo', [path.join(dir, 'fifo.lock.json')]);
    const r = await runFerry(['lock', '--check', m], { cwd: dir, timeoutMs: 60_000 });
    noCrash(r.stderr);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain('fifo.lock.json: the lock file is not a regular file');
  });
});
