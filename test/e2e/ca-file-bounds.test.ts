import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../support/cli.js';

/**
 * A CA file (`--ca-file`, SSL_CERT_FILE, NODE_EXTRA_CA_CERTS) that is a FIFO was read whole with a
 * blocking read: `lock` hung for ever before sending anything. It is now opened without blocking,
 * checked to be a regular file of at most 16 MiB, and refused by name otherwise.
 */
let work: string;
const HUNG_MS = 20_000;
const MANIFEST = 'apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: m }\nfiles:\n  - name: f\n    url: https://127.0.0.1:9/f.txt\n    sha256: ' + 'a'.repeat(64) + '\n';

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-ca-bounds-'));
  await writeFile(path.join(work, 'm.yaml'), MANIFEST);
  execFileSync('mkfifo', [path.join(work, 'ca.fifo')]);
  await writeFile(path.join(work, 'huge.pem'), '');
  await truncate(path.join(work, 'huge.pem'), 17 * 1024 * 1024);
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('CA files are read within bounds', () => {
  it('--ca-file naming a FIFO is refused, naming it (was a lock hung for ever)', async () => {
    const r = await runFerry(['lock', 'm.yaml', '--ca-file', 'ca.fifo', '-o', 'x.lock.json'], { cwd: work, timeoutMs: HUNG_MS });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain('CA file ca.fifo is not a regular file');
  }, 60_000);

  it('SSL_CERT_FILE naming a FIFO is refused the same way', async () => {
    const r = await runFerry(['lock', 'm.yaml', '-o', 'x.lock.json'], { cwd: work, timeoutMs: HUNG_MS, env: { ...process.env, SSL_CERT_FILE: path.join(work, 'ca.fifo') } });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain('is not a regular file');
  }, 60_000);

  it('a CA file over 16 MiB is refused before it is read', async () => {
    const r = await runFerry(['lock', 'm.yaml', '--ca-file', 'huge.pem', '-o', 'x.lock.json'], { cwd: work, timeoutMs: HUNG_MS });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain('CA file huge.pem is larger than 16777216 bytes');
  }, 60_000);
});
