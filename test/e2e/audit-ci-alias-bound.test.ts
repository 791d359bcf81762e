import { rm } from 'node:fs/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { auditTreeReport } from '../support/audit-repo.js';
import { NESTED_SITE_TARGET } from '../support/offline-lock.js';

const MANIFEST = 'apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: site }\nimages: []\n';
const works: string[] = [];
afterAll(async () => {
  for (const w of works) await rm(w, { recursive: true, force: true });
});

/**
 * A GitLab pipeline whose jobs merge one anchor 120 times passes the yaml library's alias bound:
 * it was silently not read as a pipeline (a job variable filled into an image left unread, nothing
 * said). Now it is said, at the file, without failing --fail-on: every reference written out is
 * still found where it is written.
 */
describe('a CI pipeline past the alias bound', () => {
  it('is listed as not read as a pipeline, and what it writes out is still found', async () => {
    const lines = ['.defaults: &defaults', '  image: registry.vendor.example/ci/builder:1.0', '  tags: [docker]'];
    for (let i = 0; i < 120; i++) lines.push(`job${i}:`, '  <<: *defaults', '  script: [make]');
    const { work, report } = await auditTreeReport('ferry-ci-alias-', 'repo', { '.gitlab-ci.yml': lines.join('\n') + '\n' }, MANIFEST, NESTED_SITE_TARGET);
    works.push(work);
    const note = report.skipped.filter((s) => s.file === 'repo/.gitlab-ci.yml');
    expect(note).toHaveLength(1);
    expect(note[0].reason).toContain('not read as a CI pipeline');
    expect(note[0].unscanned).toBe(false);
    expect(report.findings.some((f) => f.value === 'registry.vendor.example/ci/builder:1.0' && f.line === 2)).toBe(true);
  }, 60_000);
});
