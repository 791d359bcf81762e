import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { AuditReport } from '../../src/audit/audit.js';
import { runFerry } from '../support/cli.js';
import { writeTree } from '../support/fs-tree.js';
import { NESTED_SITE_TARGET } from '../support/offline-lock.js';

/**
 * Hostile pass 45: a Dockerfile Compose services build was parsed again whole for every service
 * building it, and every FROM line with a variable was read again for each: a 320 KB Dockerfile
 * of 20 000 `FROM ${B}/app:1` lines built by 64 services took 5 s and wrote 13 MB of report,
 * growing with both. Each distinct set of build args is read once now, and at most 64 such FROM
 * lines a Dockerfile take the builds' args; the rest keep the ARG default, and a skipped row says so.
 */
const MANIFEST = 'apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata:\n  name: m\nimages: []\n';
let work: string | undefined;
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('a Dockerfile of many templated FROM lines built by many services', () => {
  it('the first 64 take the build args, the rest the ARG default, and the bound is a skipped row', async () => {
    const services = Array.from({ length: 32 }, (_, i) => `  s${i}:\n    build:\n      context: .\n      args:\n        B: build.example.com\n`).join('');
    work = await mkdtemp(path.join(os.tmpdir(), 'ferry-h45-df-'));
    await writeTree(path.join(work, 'app'), {
      Dockerfile: 'ARG B=default.example.com\n' + Array.from({ length: 100 }, (_, i) => `FROM \${B}/app${i}:1\n`).join(''),
      'compose.yaml': `services:\n${services}`,
    });
    await writeFile(path.join(work, 'm.yaml'), MANIFEST);
    await writeFile(path.join(work, 't.yaml'), NESTED_SITE_TARGET);
    const r = await runFerry(['audit', 'app', '--manifest', 'm.yaml', '--target', 't.yaml', '--format', 'json'], { cwd: work });
    expect(r.code, r.stderr.slice(-2000)).toBe(0);
    const report = JSON.parse(r.stdout) as AuditReport;
    const images = report.findings.filter((x) => x.file === 'app/Dockerfile' && x.kind === 'image').map((x) => x.value);
    expect(images.filter((v) => v.startsWith('build.example.com/'))).toHaveLength(64);
    expect(images).toContain('build.example.com/app63:1');
    expect(images).toContain('default.example.com/app64:1');
    expect(images).not.toContain('build.example.com/app64:1');
    expect(report.skipped.filter((s) => s.file === 'app/Dockerfile').map((s) => s.reason)).toEqual([expect.stringMatching(/more than 64 FROM lines with a variable.*from line 66 on are read with the Dockerfile's ARG defaults only/)]);
  }, 60_000);
});
