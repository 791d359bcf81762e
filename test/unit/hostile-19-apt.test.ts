/**
 * Hostile pass 19, APT vendor layouts (src/kinds/apt/*): a suite's own pool under
 * `dists/<codename>/pool/` (Docker CE), written into each published suite version.
 *
 * Fixed:
 * - A bundle's package titled under dists/ but outside the pool of a suite it carries was written
 *   at import as any pool file, through whatever is there: `dists/testing/…` (a suite the bundle
 *   does not carry) went through that suite's symlink into its published, supposedly immutable
 *   version; `dists/testing` itself replaced the symlink with a file (the suite gone for clients);
 *   `dists/.stable.ferry/<id>/…` went into ferry's versions. And a package `dists/stable/InRelease`
 *   (or an index path, `by-hash/…`) of a suite it does carry was written over that suite's signed
 *   metadata in the version being published — for a filtered suite whose Release did not change,
 *   in the live version, where ferry then kept it (it re-signs only when Release or InRelease is
 *   missing). Now every package under dists/ must lie under `dists/<suite>/pool/` of a suite of
 *   the artifact; validation names the rest before anything is written.
 * Held (tested elsewhere or read): `Filename: dists/<suite>/../../../x` and a component `..` or
 * `15/../x` are refused (safePoolPath, the manifest schema); two indexes giving one Filename two
 * SHA256 are refused; a clear-signed Release is parsed from the text openpgp verified, and a
 * Release.gpg by an unknown key beside a verified InRelease is not carried (its text is used only
 * when it lists the same indexes).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aptImportProblems } from '../support/apt-validation.js';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-h19-apt-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

function problemsFor(titles: string[], mode: 'whole' | 'filtered' = 'filtered'): Promise<string> {
  return aptImportProblems(work, { name: 'docker', url: 'https://download.docker.example/linux/debian', mode, suites: [{ suite: 'bookworm', components: ['stable'], architectures: ['amd64'] }] }, titles);
}

describe('hostile-19: packages under dists/ outside a carried suite pool', () => {
  for (const title of ['dists/testing/pool/stable/x.deb', 'dists/testing', 'dists/.bookworm.ferry/0123456789abcdef/pool/x.deb', 'dists/bookworm/InRelease', 'dists/bookworm/stable/binary-amd64/Packages', 'dists/bookworm/stable/binary-amd64/by-hash/SHA256/00', 'dists/bookworm/pool', 'dists']) {
    it(`refuses a package titled ${title}`, async () => {
      expect(await problemsFor(['pool/main/a/a.deb', title])).toMatch(/1 package lies under dists\/ outside the pool of a suite it carries \(dists\/<suite>\/pool\/\): ".*"; refusing to write them over published suites/);
    });
  }

  it('names five and counts the rest', async () => {
    const msg = await problemsFor(Array.from({ length: 7 }, (_, i) => `dists/other/pool/p${i}.deb`));
    expect(msg).toContain('7 packages lie under dists/');
    expect(msg).toContain('and 2 more');
  });

  it("held: Docker's dists/<codename>/pool/ and a root pool/ are no problem", async () => {
    expect(await problemsFor(['dists/bookworm/pool/stable/amd64/containerd.io_1.7_amd64.deb', 'pool/main/a/a.deb'])).not.toMatch(/under dists\//);
  });
});
