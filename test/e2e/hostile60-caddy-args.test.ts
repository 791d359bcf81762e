import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AuditReport } from '../../src/audit/audit.js';
import { runFerry } from '../support/cli.js';
import { writeTree } from '../support/fs-tree.js';
import { NESTED_SITE_TARGET } from '../support/offline-lock.js';

const MANIFEST = 'apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: site }\nimages: []\n';

/**
 * hostile60: a Caddy snippet's line of a thousand `{args[:]}` pasted by imports of 32 long
 * arguments was filled in (tens of MB a line) before its length was checked, each import anew: a
 * 4 MB Caddyfile did not end in 10 minutes. The line is refused before it is built, and a refused
 * line spends the file's pasted-characters budget.
 */
describe('hostile60: Caddy import arguments', () => {
  it('a snippet line that would fill in past the bound is a note that fails --fail-on, and the audit ends', { timeout: 120_000 }, async () => {
    const lines = ['(s) {'];
    for (let i = 0; i < 20; i++) lines.push(`  reverse_proxy ${'{args[:]}'.repeat(1000)}`);
    lines.push('}');
    const arg = Array.from({ length: 32 }, () => 'a'.repeat(1000)).join(' ');
    for (let i = 0; i < 20; i++) lines.push(`import s ${arg}`);
    const work = await mkdtemp(path.join(os.tmpdir(), 'ferry-h60-caddy-'));
    try {
      await writeTree(path.join(work, 'site'), { Caddyfile: `${lines.join('\n')}\n` });
      await writeFile(path.join(work, 'm.yaml'), MANIFEST);
      await writeFile(path.join(work, 't.yaml'), NESTED_SITE_TARGET);
      // Killed if it does not end (the old reader did not): the run then fails, not the suite.
      const r = await runFerry(['audit', 'site', '--manifest', 'm.yaml', '--target', 't.yaml', '--format', 'json', '--fail-on', 'unmapped'], { cwd: work, timeoutMs: 60_000 });
      expect(r.code, r.stderr.slice(-2000)).toBe(5);
      const report = JSON.parse(r.stdout) as AuditReport;
      // Nothing else in the file fails it: the lines not read do.
      const cut = report.skipped.find((s) => s.reason.startsWith('site/Caddyfile:23: import s: the snippet (s) at site/Caddyfile:1 line site/Caddyfile:2 filled in, an argument longer than 1024 characters or a line longer than 65536'));
      expect(cut, JSON.stringify(report.skipped).slice(0, 2000)).toBeDefined();
      expect(cut!.unscanned).toBe(true);
      expect(report.wouldFail.unmapped).toBe(true);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
});
