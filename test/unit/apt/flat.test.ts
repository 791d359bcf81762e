/**
 * Flat APT repositories (`deb URL ./`, `deb URL /`, `deb URL binary/`): the manifest's form, the
 * Release ferry writes for a filtered one, what a source line of one asks the mirror for, and what
 * a crafted bundle carrying one may not make import write. End to end: test/e2e/apt-flat.test.ts.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aptKind } from '../../../src/kinds/apt/index.js';
import { buildRelease } from '../../../src/kinds/apt/publish.js';
import { safePoolPath } from '../../../src/kinds/apt/repo.js';
import { AptSpecSchema, flatDir, suiteDir } from '../../../src/kinds/apt/spec.js';
import { aptServeRoutes } from '../../../src/kinds/apt/serve.js';
import { aptImportProblems, craftedAptArtifact } from '../../support/apt-validation.js';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-apt-flat-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const spec = (suites: string[]) => AptSpecSchema.safeParse({ name: 'cuda', url: 'https://developer.download.nvidia.com/compute/cuda/repos/debian12/x86_64/', suites, keys: ['k.asc'] });
const issues = (suites: string[]) => {
  const r = spec(suites);
  return r.success ? '' : r.error.issues.map((i) => i.message).join('\n');
};

describe('flat APT repositories: the manifest', () => {
  it('takes the directory as a sources line names it: ./ and / (the root), binary/ (a directory)', () => {
    for (const s of [['./'], ['/'], ['binary/'], ['./binary/'], ['a/b/']]) expect(issues(s), s[0]).toBe('');
    expect([flatDir('./'), flatDir('/'), flatDir('binary/'), flatDir('./binary/'), flatDir('bookworm')]).toEqual(['', '', 'binary', 'binary', undefined]);
    expect([suiteDir('/'), suiteDir('binary/'), suiteDir('bookworm')]).toEqual(['', 'binary', 'dists/bookworm']);
  });

  it('refuses "." (apt reads it as dists/.), a directory out of the repository, a flat directory beside dists/ suites, and one flat directory inside another', () => {
    expect(issues(['.'])).toMatch(/write "\.\/"/);
    expect(issues(['../up/'])).toMatch(/flat repository's directory must be/);
    expect(issues(['a//b/'])).toMatch(/flat repository's directory must be/);
    expect(issues(['./', 'bookworm'])).toMatch(/mixes a flat repository's directory/);
    expect(issues(['./', 'binary/'])).toMatch(/"binary\/" lies in \(or is\) "\.\/"/);
    expect(issues(['a/', 'a/b/'])).toMatch(/"a\/b\/" lies in/);
  });

  it('a Filename ./x.deb (dpkg-scanpackages in the directory, as NVIDIA serves it) is the package x.deb; ./../x and ./ alone are refused', () => {
    expect(safePoolPath('./cuda_12.4_amd64.deb', 'l')).toBe('cuda_12.4_amd64.deb');
    expect(safePoolPath('binary/jenkins_2.4_all.deb', 'l')).toBe('binary/jenkins_2.4_all.deb');
    for (const bad of ['./../x.deb', './', '././/x.deb', './/etc/x.deb']) expect(() => safePoolPath(bad, 'l'), bad).toThrow(/refusing package path/);
  });
});

describe('flat APT repositories: the filtered mirror\'s Release', () => {
  const cfg = { suite: 'binary/', components: [], architectures: ['amd64'], acquireByHash: true, origin: 'jenkins.io', date: 'Sat, 01 Jun 2024 00:00:00 UTC' };
  const idx = [{ path: 'Packages', bytes: Buffer.from('Package: a\n') }];

  it('has no Components, lists Packages at the top of the directory, and names the Suite apt checks a `binary/` line against', () => {
    const r = buildRelease(cfg, idx, 'd');
    expect(r).not.toMatch(/^Components:/m);
    expect(r).not.toMatch(/^Codename:/m);
    expect(r).toMatch(/^Suite: binary$/m);
    expect(r).toMatch(/^ [0-9a-f]{64} +11 Packages$/m);
  });

  it("keeps the vendor's own Suite and Codename; the root (./) gets none of its own", () => {
    expect(buildRelease({ ...cfg, flatSuite: 'stable', codename: 'jenkins' }, idx, 'd')).toMatch(/^Suite: stable\nCodename: jenkins$/m);
    expect(buildRelease({ ...cfg, suite: './' }, idx, 'd')).not.toMatch(/^(Suite|Codename):/m);
  });

  it("refuses a vendor Suite of two lines (it would add fields under the site's signature)", () => {
    let err: unknown;
    try {
      buildRelease({ ...cfg, flatSuite: 'x\nValid-Until: Thu, 01 Jan 1970 00:00:00 UTC' }, idx, 'd');
    } catch (e) {
      err = e;
    }
    expect((err as { details?: string[] })?.details?.join('\n')).toMatch(/flatSuite .* is not one line/);
  });
});

describe('flat APT repositories: sources lines, audit and rewrite', () => {
  const url = 'https://pkg.jenkins.example/debian';
  const locked = [{ name: 'jenkins', url, mode: 'filtered', components: [], suites: [{ suite: 'binary/' }] }];
  const cuda = 'https://developer.download.nvidia.com/compute/cuda/repos/debian12/x86_64';
  const lockedRoot = [{ name: 'cuda', url: `${cuda}/`, mode: 'whole', components: [], suites: [{ suite: '/' }] }];
  const target = { apt: { dir: '/srv/apt', baseUrl: 'http://mirror.internal/apt' } };

  it('a line naming the carried directory is carried (./ and / are the root alike); another directory is a gap, not pointed at the mirror', () => {
    const jenkins = aptKind.presentation.mirrorLookups(locked as never, target as never).lookupAptRepo;
    expect(jenkins(url, { types: ['deb'], suites: ['binary/'], components: [] })).toEqual({ url: 'http://mirror.internal/apt/pkg.jenkins.example/debian', resigned: true });
    expect(jenkins(url, { types: ['deb'], suites: ['debian/'], components: [] })).toMatchObject({ gap: 'suite debian/ (carried: binary/)' });
    expect(jenkins(url, { types: ['deb'], suites: ['stable'], components: ['main'] })).toMatchObject({ gap: 'suite stable (carried: binary/)' });
    const root = aptKind.presentation.mirrorLookups(lockedRoot as never, target as never).lookupAptRepo;
    for (const s of ['/', './']) expect(root(`${cuda}/`, { types: ['deb'], suites: [s], components: [] }), s).toEqual({ url: `http://mirror.internal/apt/developer.download.nvidia.com/compute/cuda/repos/debian12/x86_64`, resigned: false });
  });

  it('audit: a flat line of a manifest entry is carried; another directory of that URL is partial', () => {
    const specs = [{ name: 'jenkins', url, suites: ['binary/'], components: ['main'], architectures: ['amd64'], packages: ['jenkins'] }];
    const match = aptKind.presentation.auditCarried({ specs, locked: [], registry: {} } as never);
    const ref = (suite: string) => ({ kind: 'apt', value: url, apt: { types: ['deb'], suites: [suite], components: [] } }) as never;
    expect(match(ref('binary/'))).not.toHaveProperty('partial');
    expect(match(ref('./'))).toEqual({ partial: `${url} is mirrored, but not suite ./ (carried: binary/)` });
  });
});

describe('flat APT repositories: a crafted bundle', () => {
  const config = (suites: string[], mode: 'whole' | 'filtered' = 'whole') => ({ name: 'cuda', url: 'https://developer.download.nvidia.com/compute/cuda/repos/debian12/x86_64', mode, suites: suites.map((suite) => ({ suite, components: [], architectures: ['amd64'] })) });

  it('a package titled over the flat directory\'s metadata (InRelease, Packages.gz, by-hash/…) or into the names publishing keeps is refused before anything is written', async () => {
    for (const [suite, title] of [
      ['./', 'InRelease'],
      ['./', 'Release.gpg'],
      ['./', 'Packages.gz'],
      ['./', 'by-hash/SHA256/00'],
      ['binary/', 'binary/InRelease'],
      ['binary/', 'binary'],
      ['binary/', '.binary.ferry/0123456789abcdef/x.deb'],
      ['binary/', 'binary.ferry-switch'],
    ]) {
      const problems = await aptImportProblems(work, config([suite], 'filtered'), [title]);
      expect(problems, `${suite} ${title}`).toContain(`refusing package path ${JSON.stringify(title)}`);
    }
    // A package beside the flat directory, or in it, is fine.
    expect(await aptImportProblems(work, config(['binary/'], 'filtered'), ['binary/app_1.0_amd64.deb', 'pool/lib_1.0_amd64.deb'])).not.toMatch(/refusing|lies inside/);
  });

  it('a flat root beside a dists/ suite (which it would hold) is refused', async () => {
    const problems = await aptImportProblems(work, config(['./', 'bookworm'], 'filtered'), []);
    expect(problems).toMatch(/suite "bookworm" lies inside suite "\.\/"/);
  });

  it('a plain directory where the flat directory is published (another mirror of that URL) is refused, not moved aside', async () => {
    const at = path.join(work, 'apt/developer.download.nvidia.com/compute/cuda/repos/debian12/x86_64');
    await mkdir(path.join(at, 'dists/stable'), { recursive: true });
    await writeFile(path.join(at, 'dists/stable/InRelease'), 'kept');
    try {
      expect(await aptImportProblems(work, config(['./']), [])).toMatch(/x86_64 is a directory, not the symlink ferry publishes the flat repository "\.\/" through/);
    } finally {
      await rm(path.join(work, 'apt'), { recursive: true, force: true });
    }
  });

  it('ferry serve does not serve such a repository (a package where InRelease is served), and says why', async () => {
    const { top, source } = craftedAptArtifact(config(['./']), ['InRelease', 'cuda_1.0_amd64.deb']);
    const warnings: string[] = [];
    const routes = await aptServeRoutes({ source: source as never, index: { schemaVersion: 2, manifests: [top] } as never, warnings });
    expect(routes).toEqual([]);
    expect(warnings.join('\n')).toMatch(/APT repository not served .*refusing package path "InRelease"/);
  });
});
