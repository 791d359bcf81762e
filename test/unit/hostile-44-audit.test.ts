import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scanPaths } from '../../src/audit/scan.js';
import { writeTree } from '../support/fs-tree.js';

/**
 * Hostile pass 44, `ferry audit`'s docker compose command lines (scan.ts composeRuns,
 * runtime-vars.ts composeCliIn / ShellExports).
 *
 * What tripped:
 * - Each command line's --env-file list was parsed and merged again, env file by env file, each
 *   merge copying all values so far: 16 lines naming one 3 MB env file 8 times took 97 s and 1.4 GB.
 * - Each command line run in an exporting shell copied the whole project `.env`
 *   (test/e2e/hostile-44-compose-heap.test.ts).
 * - A name exported above and then changed (`REG=docker.io`, `REG+=…`, `unset`, `read`) kept its
 *   exported value, and `set -a` assignments were not exported at all: the `.env`'s or the first
 *   export's host was reported as known while Compose gets another.
 */
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-h44-audit-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** An env file of `n` values (`V0=x0` …), about 14 bytes each. */
const bigEnv = (n: number, first = '') => first + Array.from({ length: n }, (_, i) => `V${i}=x${i}\n`).join('');

describe('docker compose command lines: work bounded by what was written, not by lines × values', () => {
  it(
    'an env file named by many command lines, many times each, is parsed once and each list read once',
    async () => {
      const root = path.join(dir, 'envfiles');
      const line = `docker compose ${Array(16).fill('--env-file big.env').join(' ')} up\n`;
      await writeTree(root, { 'big.env': bigEnv(200_000, 'REG=env.vendor.io\n'), 'compose.yaml': 'services:\n  app:\n    image: ${REG}/app:1\n', 'run.sh': line.repeat(64) });
      const res = await scanPaths([root], root);
      const app = res.references.filter((r) => r.file === 'compose.yaml' && r.kind === 'image');
      expect(app.map((r) => r.value)).toEqual(['env.vendor.io/app:1']);
      expect(app[0].provenance).toContain('as run.sh:1 runs it (--env-file)');
    },
    // Old code: 1 024 parses and merges of a 3 MB env file (about 12 minutes).
    90_000,
  );
});

describe('a name exported above a command line and changed after', () => {
  it('a later assignment, +=, unset or read makes it unknown; set -a exports what it sets', async () => {
    const root = path.join(dir, 'changed');
    await writeTree(root, {
      'compose.yaml': 'services:\n  a:\n    image: ${REG}/a:1\n  b:\n    image: ${REG2}/b:1\n  c:\n    image: ${REG3}/c:1\n  d:\n    image: ${REG4}/d:1\n  e:\n    image: ${REG5}/e:1\n  f:\n    image: ${REG6}/f:1\n',
      '.env': 'REG=env.vendor.io\nREG2=env2.vendor.io\nREG3=env3.vendor.io\nREG4=env4.vendor.io\nREG5=env5.vendor.io\nREG6=env6.vendor.io\n',
      'up.sh': [
        '#!/bin/sh',
        'export REG=internal.corp REG2=internal2.corp REG4=internal4.corp REG5=internal5.corp',
        'REG=docker.io',
        'REG2+=.evil.io',
        'unset REG4',
        'read -r REG5',
        'set -a',
        'REG3=allexport.vendor.io',
        'set +a',
        'REG6=not-exported.vendor.io',
        'docker compose up -d',
        '',
      ].join('\n'),
    });
    const res = await scanPaths([root], root);
    const at = (line: number) => res.references.filter((r) => r.file === 'compose.yaml' && r.line === line && r.kind === 'image');
    // Old code: internal.corp/a:1, internal2.corp/b:1, internal4.corp/d:1, internal5.corp/e:1 (the first export, shown as known) and env3.vendor.io/c:1.
    const unknown: Array<[number, string]> = [
      [3, '${REG}/a:1'],
      [5, '${REG2}/b:1'],
      [9, '${REG4}/d:1'],
      [11, '${REG5}/e:1'],
    ];
    for (const [line, value] of unknown) {
      expect(at(line).map((r) => r.value)).toEqual([value]);
      expect(at(line)[0].provenance).toMatch(/exported with 2 values above it|changed at line/);
    }
    expect(at(7).map((r) => r.value)).toEqual(['allexport.vendor.io/c:1']);
    // Not exported (no set -a, no export): Compose reads the .env's.
    expect(at(13).map((r) => r.value)).toEqual(['env6.vendor.io/f:1']);
  });
});
