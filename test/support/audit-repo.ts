import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
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
