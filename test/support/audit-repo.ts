import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import type { AuditReport, Finding } from '../../src/audit/audit.js';
import { runFerry } from './cli.js';
import { writeTree } from './fs-tree.js';

/**
 * A new user's repository audited: `files` written under `<work>/repo`, the manifest and target
 * beside it, and `ferry audit repo --format json` run there (nothing on stderr). Returns the work
 * directory and the findings, with `at(file, line)` and `one(file, line)` (exactly one finding there).
 */
export async function auditRepo(prefix: string, files: Record<string, string>, manifest: string, target: string) {
  const work = await mkdtemp(path.join(os.tmpdir(), prefix));
  await writeTree(path.join(work, 'repo'), files);
  await writeFile(path.join(work, 'm.yaml'), manifest);
  await writeFile(path.join(work, 't.yaml'), target);
  const r = await runFerry(['audit', 'repo', '--manifest', 'm.yaml', '--target', 't.yaml', '--format', 'json'], { cwd: work });
  expect(r.stderr).toBe('');
  const findings = (JSON.parse(r.stdout) as AuditReport).findings;
  const at = (file: string, line: number): Finding[] => findings.filter((f) => f.file === file && f.line === line);
  const one = (file: string, line: number): Finding => {
    const list = at(file, line);
    expect(list, `${file}:${line}: ${JSON.stringify(list)}`).toHaveLength(1);
    return list[0];
  };
  return { work, findings, at, one };
}

/**
 * `ferry audit <dir> --format json` over `files` written under `<work>/<dir>`, the manifest and
 * target beside it (`env` for the CLI, a heap cap); exit 0 expected, its stderr shown otherwise.
 * The caller removes `work`.
 */
export async function auditTreeReport(prefix: string, dir: string, files: Record<string, string>, manifest: string, target: string, env?: NodeJS.ProcessEnv): Promise<{ work: string; report: AuditReport }> {
  const work = await mkdtemp(path.join(os.tmpdir(), prefix));
  await writeTree(path.join(work, dir), files);
  await writeFile(path.join(work, 'm.yaml'), manifest);
  await writeFile(path.join(work, 't.yaml'), target);
  const r = await runFerry(['audit', dir, '--manifest', 'm.yaml', '--target', 't.yaml', '--format', 'json'], { cwd: work, ...(env ? { env } : {}) });
  expect(r.code, r.stderr.slice(-2000)).toBe(0);
  return { work, report: JSON.parse(r.stdout) as AuditReport };
}

/**
 * Inside a describe: the repository audited once before its tests (auditRepo) and removed after
 * them. `findings`, `work`, `at` and `one` read that audit (from the tests, not at collection).
 */
export function auditedRepo(prefix: string, files: Record<string, string>, manifest: string, target: string) {
  let got: Awaited<ReturnType<typeof auditRepo>> | undefined;
  beforeAll(async () => {
    got = await auditRepo(prefix, files, manifest, target);
  });
  afterAll(async () => {
    if (got) await rm(got.work, { recursive: true, force: true });
  });
  const ready = () => {
    if (!got) throw new Error(`${prefix}: the repository was not audited (its beforeAll failed)`);
    return got;
  };
  return {
    get findings(): Finding[] {
      return ready().findings;
    },
    get work(): string {
      return ready().work;
    },
    at: (file: string, line: number): Finding[] => ready().at(file, line),
    one: (file: string, line: number): Finding => ready().one(file, line),
  };
}

const EMPTY_MANIFEST = 'apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata:\n  name: m\nimages: []\n';

/**
 * `ferry audit tree` in `dir` (a crafted tree under `dir/tree`) with an empty manifest, killed
 * after `timeoutMs` so a run of old code that hangs leaves no process behind; exit 0 expected.
 */
export async function auditTree(dir: string, timeoutMs: number): Promise<AuditReport> {
  await writeFile(path.join(dir, 'm.yaml'), EMPTY_MANIFEST);
  const r = await runFerry(['audit', 'tree', '--manifest', 'm.yaml', '--format', 'json'], { cwd: dir, timeoutMs });
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as AuditReport;
}
