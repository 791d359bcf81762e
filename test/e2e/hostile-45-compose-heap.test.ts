import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { AuditReport } from '../../src/audit/audit.js';
import { runFerry } from '../support/cli.js';
import { writeTree } from '../support/fs-tree.js';
import { NESTED_SITE_TARGET } from '../support/offline-lock.js';

/**
 * Hostile pass 45: each `docker compose` command line run in a shell that exports something copied
 * the names the project `.env` sets to values built from shell variables (scan.ts withShellEnv's
 * setUnknown): 8 scripts of 64 such lines over a `.env` of 200 000 `V=${X}` values held 512
 * copies (out of a 512 MB heap). The shell's names are now read over the `.env`'s without a copy.
 */
const MANIFEST = 'apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata:\n  name: m\nimages: []\n';
let work: string | undefined;
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('docker compose in exporting shells, over a .env of values from shell variables', () => {
  it('512 command lines stay within 512 MB of heap; what the shell sets still decides', async () => {
    const files: Record<string, string> = {
      '.env': 'REG=env.vendor.io\nTAG=${CI_TAG}\n' + Array.from({ length: 200_000 }, (_, i) => `V${i}=\${X${i}}\n`).join(''),
      'compose.yaml': 'services:\n  app:\n    image: ${REG}/app:${TAG:-1}\n',
    };
    for (let f = 0; f < 8; f++) files[`run${f}.sh`] = Array.from({ length: 64 }, (_, i) => `export A${f}_${i}=v${f === 0 && i === 0 ? ' TAG=2' : ''}\ndocker compose up\n`).join('');
    work = await mkdtemp(path.join(os.tmpdir(), 'ferry-h45-heap-'));
    await writeTree(path.join(work, 'big'), files);
    await writeFile(path.join(work, 'm.yaml'), MANIFEST);
    await writeFile(path.join(work, 't.yaml'), NESTED_SITE_TARGET);
    const r = await runFerry(['audit', 'big', '--manifest', 'm.yaml', '--target', 't.yaml', '--format', 'json'], { cwd: work, env: { NODE_OPTIONS: '--max-old-space-size=512' } });
    // Old code: out of heap (no report).
    expect(r.code, r.stderr.slice(-2000)).toBe(0);
    const values = (JSON.parse(r.stdout) as AuditReport).findings.filter((x) => x.file === 'big/compose.yaml' && x.line === 3).map((x) => x.value);
    // TAG exported as 2 by run0.sh's first line: known from there on; elsewhere the .env's TAG is set from the CI's, unknown (its default does not apply).
    expect(values).toContain('env.vendor.io/app:2');
    expect(values).toContain('${REG}/app:${TAG:-1}');
    expect(values).not.toContain('env.vendor.io/app:1');
  }, 180_000);
});
