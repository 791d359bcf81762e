import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlobStore } from '../../src/store/blob-store.js';
import { packBundle } from '../../src/store/bundle-pack.js';
import { runFerry } from '../support/cli.js';
import { cycloneDxValidator } from '../support/cyclonedx.js';

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

let work: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-hostile-26-sbom-'));
});
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

const deb = (name: string, version: string, arch: string) => ({ name, version, architecture: arch, filename: `pool/main/x/${name}_${arch}.deb`, sha256: sha256(name + version), size: 1000 });

/** A bundle (no blobs) whose lock carries one APT repository with `packages`. */
async function aptBundle(file: string, packages: Array<ReturnType<typeof deb>>): Promise<string> {
  const store = new BlobStore(path.join(work, 'empty-store'));
  await store.init();
  const lock = {
    apiVersion: 'ferry/v1alpha1',
    kind: 'Lock',
    manifest: { name: 'apt-app', digest: `sha256:${sha256('apt-app')}` },
    images: [],
    apt: [{ name: 'debian', url: 'http://deb.debian.org/debian', mode: 'filtered', components: ['main'], architectures: ['amd64'], packages: ['curl'], suites: [{ suite: 'bookworm', signedBy: 'ABCD', release: [], indexes: [], packages }] }],
  };
  const bundle = path.join(work, file);
  await packBundle({ store, index: { schemaVersion: 2, manifests: [] }, metadata: { manifestYaml: 'x', lock: JSON.stringify(lock), manifestName: 'apt-app' }, output: bundle });
  return bundle;
}

/**
 * `ferry sbom` of a bundle whose lock (the bundle's, so crafted) names packages with characters
 * that mean something in a purl or are not Unicode at all: each stays inside its purl component
 * (the BOM checked against the CycloneDX 1.6 schema), and what no SBOM field can hold is refused
 * by its place in the lock.
 */
describe('sbom of a bundle whose lock names crafted packages', () => {
  it('names with spaces, quotes, <, #, ?, & and @ stay one purl component each; the BOM validates against the CycloneDX 1.6 schema', async () => {
    const bundle = await aptBundle('crafted.ferry.tar', [deb('cu rl"<x>#?&', '1:2@3/4#5', 'amd64&x=y'), deb('plain', '1.0', 'amd64')]);
    const r = await runFerry(['sbom', bundle]);
    expect(r.code, r.stderr).toBe(0);
    const bom = JSON.parse(r.stdout) as { components: Array<{ purl: string; 'bom-ref': string }> };
    const validate = await cycloneDxValidator();
    expect(validate(bom), JSON.stringify(validate.errors)).toBe(true);
    expect(bom.components.map((c) => c.purl)).toContain('pkg:deb/debian/cu%20rl%22%3Cx%3E%23%3F%26@1%3A2%403%2F4%235?arch=amd64%26x%3Dy&distro=debian-12');
  });

  it('a lone UTF-16 surrogate in a package name (JSON can spell one) is refused by its place in the lock, not a crash', async () => {
    const bundle = await aptBundle('surrogate.ferry.tar', [deb('plain', '1.0', 'amd64'), deb('surrogate\ud800', '1', 'amd64')]);
    for (const format of ['cyclonedx', 'spdx']) {
      const r = await runFerry(['sbom', bundle, '--format', format]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain('ferry/lock.json apt[0].suites[0].packages[1].name: "surrogate\\ud800" is not well-formed Unicode');
      expect(r.stderr).toContain('rebuild the bundle');
      expect(r.stdout).toBe('');
    }
  });
});
