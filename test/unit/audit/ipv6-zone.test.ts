import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { auditReferences } from '../../../src/audit/audit.js';
import { buildConnectionModel } from '../../../src/audit/model.js';
import { referencesIn, scanPaths } from '../../../src/audit/scan.js';
import { validateManifest } from '../../../src/kinds/schema.js';

/**
 * IPv6 literals in audited files: `http://[fd00::5]:8080/` was cut at the bracket (the finding
 * read `http://[fd00::5`), and a zone's IPv6 CIDR never matched, so an address inside the site's
 * own network was reported as undeclared egress.
 */
describe('IPv6 literal URLs and zone CIDRs', () => {
  it('a URL with a bracketed IPv6 host is found whole, port and path included', () => {
    expect(referencesIn('endpoint: http://[fd00::5]:8080/api', false)).toEqual([{ kind: 'url', value: 'http://[fd00::5]:8080/api' }]);
    expect(referencesIn('see https://user@[2001:db8::1]/x and https://a.example.com/]', false).map((r) => r.value)).toEqual(['https://user@[2001:db8::1]/x', 'https://a.example.com/']);
  });

  it("an address inside a zone's IPv6 CIDR is internal; one outside every zone is still undeclared", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-ipv6-zone-'));
    try {
      await writeFile(path.join(dir, 'app.yaml'), 'a: http://[fd00::5]:8080/api\nb: http://[2001:db8::1]/x\nc: http://10.1.2.3/\nd: http://[fd00::9]/one\n');
      const loaded = {
        manifest: validateManifest(
          { apiVersion: 'ferry/v1alpha1', kind: 'Manifest', metadata: { name: 'v6' }, zones: [{ name: 'site', cidrs: ['10.0.0.0/8', 'fd00::/8'] }, { name: 'lab', cidrs: ['fd00::9'] }, { name: 'net', external: true }] },
          'inline',
        ),
        file: 'm.yaml',
        dir: '.',
        digest: 'sha256:x',
      };
      const report = auditReferences(buildConnectionModel(loaded), undefined, await scanPaths([dir], dir), { manifestFile: 'm.yaml', kinds: [] });
      const byValue = Object.fromEntries(report.findings.map((f) => [f.value, f.class]));
      expect(byValue).toEqual({ 'http://[fd00::5]:8080/api': 'internal', 'http://[fd00::9]/one': 'internal', 'http://10.1.2.3/': 'internal', 'http://[2001:db8::1]/x': 'undeclared' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
