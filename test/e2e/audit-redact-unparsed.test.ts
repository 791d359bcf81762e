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
 * A URL with credentials that the WHATWG parser refuses (a control byte in the host, a port past
 * 65535) was reported with its password, since the redaction only masked URLs it could parse
 * (hostile59). Its userinfo and secret query parameters are masked whatever the URL's shape.
 */
describe('audit never reports a password, even in a URL that does not parse', () => {
  it('masks userinfo and secret parameters of unparseable URLs in findings', async () => {
    const { work, report } = await auditTreeReport('ferry-redact-', 'site', {
      'a.yaml': 'url: "https://user:s3cret@host\u001b[31m.example/x"\n',
      'b.sh': 'curl https://admin:hunter2@dl.vendor.example:99999/x?X-Amz-Signature=sig123\n',
    }, MANIFEST, NESTED_SITE_TARGET);
    works.push(work);
    const text = JSON.stringify(report);
    expect(text).not.toContain('s3cret');
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain('sig123');
    expect(report.findings.some((f) => f.value.startsWith('https://***:***@dl.vendor.example:99999/x'))).toBe(true);
  }, 60_000);

  it('a URL ends at a control byte: an OSC 8 hyperlink gives its URL, not the BEL after it', async () => {
    const { work, report } = await auditTreeReport('ferry-redact-osc-', 'site', {
      'motd.txt': 'see \u001b]8;;https://docs.vendor.example/a\u0007the docs\u001b]8;;\u0007 today\n',
    }, MANIFEST, NESTED_SITE_TARGET);
    works.push(work);
    expect(report.findings.map((f) => f.value)).toEqual(['https://docs.vendor.example/a']);
  }, 60_000);
});
