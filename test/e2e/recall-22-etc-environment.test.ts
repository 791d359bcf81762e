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
 * `/etc/environment` (pam_env: every login's environment) is read as an env file (newuser64): a
 * host under a key (`LICENSE_SERVER=lic.vendor.example`) is found by its key, as the same line
 * in `app.env` is; before, the file was plain text and such a host was missed. A file named
 * `environment` elsewhere stays text.
 */
describe('recall22: /etc/environment is an env file', () => {
  it('finds a host by its key; an `environment` file outside etc/ is still text', async () => {
    const { work, report } = await auditTreeReport('ferry-recall22-env-', 'host', {
      'etc/environment': ['PATH="/usr/local/sbin:/usr/local/bin:/usr/bin"', 'LICENSE_SERVER=lic.vendor.example', ''].join('\n'),
      'docs/environment': ['LICENSE_SERVER=docs-only.vendor.example', ''].join('\n'),
    }, MANIFEST, NESTED_SITE_TARGET);
    works.push(work);
    const lic = report.findings.filter((f) => f.file === 'host/etc/environment');
    expect(lic.map((f) => [f.line, f.keyPath, f.host])).toEqual([[2, 'LICENSE_SERVER', 'lic.vendor.example']]);
    expect(report.findings.some((f) => f.file === 'host/docs/environment' && f.keyPath === 'LICENSE_SERVER')).toBe(false);
  }, 60_000);
});
