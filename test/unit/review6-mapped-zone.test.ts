import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { auditReferences } from '../../src/audit/audit.js';
import { buildConnectionModel } from '../../src/audit/model.js';
import { scanPaths } from '../../src/audit/scan.js';
import { validateManifest } from '../../src/kinds/schema.js';

/**
 * A zone address written without /bits is one address of its own family: an IPv4-mapped IPv6
 * host (::ffff:10.0.0.5) is that IPv4 address. The default prefix was taken from the host's
 * family (/128), longer than the IPv4 address it was compared with, so it never matched.
 */
describe('audit: a zone address without /bits and an IPv4-mapped IPv6 host', () => {
  it('is internal, as it is against the zone written as a /32 or a wider CIDR', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-review6-mapped-'));
    try {
      await writeFile(path.join(dir, 'app.yaml'), 'a: http://[::ffff:10.0.0.5]:8080/api\nb: http://[::ffff:10.0.0.6]/x\n');
      const loaded = {
        manifest: validateManifest({ apiVersion: 'ferry/v1alpha1', kind: 'Manifest', metadata: { name: 'mapped' }, zones: [{ name: 'site', cidrs: ['10.0.0.5'] }, { name: 'net', external: true }] }, 'inline'),
        file: 'm.yaml',
        dir: '.',
        digest: 'sha256:x',
      };
      const report = auditReferences(buildConnectionModel(loaded), undefined, await scanPaths([dir], dir), { manifestFile: 'm.yaml', kinds: [] });
      const byValue = Object.fromEntries(report.findings.map((f) => [f.value, f.class]));
      expect(byValue).toEqual({ 'http://[::ffff:10.0.0.5]:8080/api': 'internal', 'http://[::ffff:10.0.0.6]/x': 'undeclared' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
