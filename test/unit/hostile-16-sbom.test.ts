import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { expect, it } from 'vitest';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import { linkableUrl, renderCycloneDx, renderSpdx } from '../../src/commands/sbom.js';
import { LockSchema } from '../../src/kinds/schema.js';
const require = createRequire(import.meta.url);
const CDX_SCHEMAS = path.join(path.dirname(require.resolve('@cyclonedx/cyclonedx-library/package.json')), 'res', 'schema');
/**
 * Hostile pass 16: the SBOM of a bundle whose ferry/lock.json is crafted (the lock schema takes any
 * string for a chart's, an APT repository's or a file's URL, a name, a version, a platform).
 *
 * What tripped: a URL with a line break or a space became the CycloneDX component's distribution
 * reference as it was, so the whole document failed the CycloneDX 1.6 schema (`iri-reference`),
 * and SPDX's downloadLocation (any `scheme://` passed); a `javascript:` URL was written as a link.
 * Now such a URL is no link (CycloneDX: none; SPDX: NOASSERTION). Held: names, versions,
 * architectures and platforms are percent-encoded in purls and bom-refs (`lib/../x`, `@ ? # & =`).
 */
const hex = (n: number) => n.toString(16).padStart(64, '0');
it('a crafted lock gives a CycloneDX document its schema accepts and SPDX download locations that are URLs', async () => {
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: true });
  (addFormats as unknown as { default: (a: Ajv) => void }).default(ajv);
  (require('ajv-formats-draft2019') as (a: Ajv) => Ajv)(ajv);
  for (const name of ['spdx.SNAPSHOT.schema.json', 'jsf-0.82.SNAPSHOT.schema.json', 'cryptography-defs.SNAPSHOT.schema.json']) ajv.addSchema(JSON.parse(await readFile(path.join(CDX_SCHEMAS, name), 'utf8')), `http://cyclonedx.org/schema/${name}`);
  const validate = ajv.compile(JSON.parse(await readFile(path.join(CDX_SCHEMAS, 'bom-1.6.SNAPSHOT.schema.json'), 'utf8')));
  const lock = LockSchema.parse({
    apiVersion: 'ferry/v1alpha1', kind: 'Lock', manifest: { name: 'site', digest: 'sha256:' + hex(1) },
    images: [{ source: 'x', ref: 'registry.example.com/a/b:1', digest: 'sha256:' + hex(2), mediaType: 'm', size: 1, manifests: [{ platform: 'linux/amd64?x=1#f\n', digest: 'sha256:' + hex(3), mediaType: 'm', size: 1 }], blobs: [] }],
    charts: [{ name: 'web"<script>\n', version: '1.0@x?y#z', requested: '1', repo: 'https://charts.example.com/a b\n<x>', url: 'https://charts.example.com/ web.tgz\n', digest: 'sha256:' + hex(5), size: 1, source: 'http', images: [] }],
    apt: [{ name: 'deb\n', url: 'https://deb.example.com/debian/ x\n', mode: 'whole', components: ['main'], architectures: ['amd64'], unsatisfied: [], suites: [{ suite: 'bookworm\n?x', signedBy: 'A', release: [], indexes: [], packages: [{ name: 'lib/../x y', version: '1:2.3~x@?#', architecture: 'amd64&arch=i386', filename: 'pool/ x\n.deb', sha256: hex(6), size: 1 }] }] }],
    files: [{ name: '../x\n', url: 'javascript:alert(1)', sha256: hex(7), size: 1 }, { name: 'y', url: 'https://files.example/ a b\nc', sha256: hex(8), size: 1 }, { name: 'z', url: 'https://files.example/z%20a.tar?x=1#f', sha256: hex(9), size: 1 }],
  });
  const cdx = JSON.parse(await renderCycloneDx({ lock, lockBytes: Buffer.from('x'), name: 'site' } as never));
  expect(validate(cdx), JSON.stringify(validate.errors?.slice(0, 3))).toBe(true);
  type Comp = { name: string; purl: string; externalReferences?: Array<{ url: string }>; components?: Comp[] };
  const urls = (cdx.components as Comp[]).map((c) => [c.name, (c.externalReferences ?? []).map((r) => r.url)]);
  expect(urls).toContainEqual(['web"<script>\n', []]);
  expect(urls).toContainEqual(['../x\n', []]);
  expect(urls).toContainEqual(['z', ['https://files.example/z%20a.tar?x=1#f']]);
  // Held: encoded, one purl each, nothing of the name leaks into the qualifiers.
  expect((cdx.components as Comp[]).map((c) => c.purl)).toContain('pkg:deb/debian/lib%2F..%2Fx%20y@1%3A2.3~x%40%3F%23?arch=amd64%26arch%3Di386');
  const spdx = JSON.parse(renderSpdx({ lock, lockBytes: Buffer.from('x'), name: 'site' } as never));
  const where = Object.fromEntries(spdx.packages.map((p: { name: string; downloadLocation: string }) => [p.name, p.downloadLocation]));
  expect(where).toEqual({ b: 'NOASSERTION', 'web"<script>\n': 'NOASSERTION', 'lib/../x y': 'NOASSERTION', '../x\n': 'NOASSERTION', y: 'NOASSERTION', z: 'https://files.example/z%20a.tar?x=1#f' });
});

it('a link is a download scheme and URL characters only', () => {
  for (const bad of ['javascript:alert(1)', 'javascript://x%0aalert(1)', 'https://a.example/ b', 'https://a.example/\nb', 'https://a.example/%zz', 'file:///etc/passwd', 'https://a.example/\u0085', 'https://a.example/"><x>', 'https://'])
    expect(linkableUrl(bad), bad).toBeUndefined();
  for (const good of ['https://charts.example.com/web-1.2.3.tgz', 'http://deb.example.com/debian/pool/main/a/a_1%3A2_amd64.deb', 'oci://ghcr.io/org/charts', 'https://[::1]:8443/x'])
    expect(linkableUrl(good), good).toBe(good);
});
