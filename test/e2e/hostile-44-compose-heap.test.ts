import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { AuditReport } from '../../src/audit/audit.js';
import { runFerry } from '../support/cli.js';
import { writeTree } from '../support/fs-tree.js';
import { NESTED_SITE_TARGET } from '../support/offline-lock.js';

/**
 * Hostile pass 44: each `docker compose` command line run in a shell that exports something copied
 * the project `.env` whole (scan.ts withShellEnv), and so did each value with a variable the shell
 * sets to a value not known (var-scalars.ts interpolateWith): 8 scripts of 64 such lines over a
 * 200 000-value `.env` held 512 copies (4 GB). The shell's values are now read over the `.env`'s.
 */
const MANIFEST = 'apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata:\n  name: m\nimages: []\n';
let work: string | undefined;
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('docker compose in exporting shells, over a large .env', () => {
  it('512 command lines each exporting its own value stay within 512 MB of heap', async () => {
    const files: Record<string, string> = {
      '.env': 'REG=env.vendor.io\n' + Array.from({ length: 200_000 }, (_, i) => `V${i}=x${i}\n`).join(''),
      'compose.yaml': 'services:\n  app:\n    image: ${REG}/app:1\n  b:\n    image: ${B}/b:1\n',
    };
    for (let f = 0; f < 8; f++) files[`run${f}.sh`] = Array.from({ length: 64 }, (_, i) => `export A${f}_${i}=v B="$(pick ${i})"\ndocker compose up\n`).join('');
    work = await mkdtemp(path.join(os.tmpdir(), 'ferry-h44-heap-'));
    await writeTree(path.join(work, 'big'), files);
    await writeFile(path.join(work, 'm.yaml'), MANIFEST);
    await writeFile(path.join(work, 't.yaml'), NESTED_SITE_TARGET);
    const r = await runFerry(['audit', 'big', '--manifest', 'm.yaml', '--target', 't.yaml', '--format', 'json'], { cwd: work, env: { NODE_OPTIONS: '--max-old-space-size=512' } });
    // Old code: out of heap (no report).
    expect(r.code, r.stderr.slice(-2000)).toBe(0);
    const findings = (JSON.parse(r.stdout) as AuditReport).findings.filter((x) => x.file === 'big/compose.yaml');
    // 16 ways and one saying the other command lines are not read.
    expect(findings.filter((x) => x.line === 3).map((x) => x.value).sort()).toEqual(['${REG}/app:1', ...Array(16).fill('env.vendor.io/app:1')]);
    expect(new Set(findings.filter((x) => x.line === 5).map((x) => x.host))).toEqual(new Set(['unknown']));
  }, 180_000);
});
