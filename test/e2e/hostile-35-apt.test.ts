import { appendFile, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aptGet, makeGpgKey, type GpgKey } from '../support/apt-repo.js';
import { runFerry } from '../support/cli.js';
import { CraftedBundle, type Desc } from '../support/craft-bundle.js';
import { writeDirectoryTarget } from '../support/offline-lock.js';
import { aptPath, buildServeBundle, startServe, type ServeFixture } from '../support/craft-serve.js';

/**
 * Hostile inputs, round 35: a filtered APT mirror's Packages index is ferry's own (made at
 * create from the upstream stanzas the lock pins) and import and serve publish it signed with
 * the site key. A crafted bundle that changes a stanza — another Version, a stanza for a
 * package the lock does not carry pointing at a carried .deb, one package's Filename pointing
 * at another's .deb — with every blob digest and ferry/checksums.sha256 recomputed, is refused
 * by import, `bundle verify` and serve, naming the stanza: the site key never vouches for what
 * the lock did not pin. The untouched bundle still serves, and apt-get installs from it.
 */
let work: string;
let fx: ServeFixture;
let site: GpgKey;
let siteTarget: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-hostile35-apt-'));
  fx = await buildServeBundle(work);
  site = await makeGpgKey(work, 'site');
  siteTarget = path.join(work, 'site-target.yaml');
  await writeFile(
    siteTarget,
    ['apiVersion: ferry/v1alpha1', 'kind: MirrorTarget', 'metadata: { name: site }', 'apt:', `  dir: ${path.join(work, 'served-apt')}`, '  baseUrl: http://127.0.0.1:1/apt', `  signingKey: ${site.secretKey}`, ''].join('\n'),
  );
}, 300_000);

afterAll(async () => {
  await fx?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

const GENERATED = 'dists/bookworm/main/binary-amd64/Packages';
const title = (d: Desc) => d.annotations?.['org.opencontainers.image.title'] ?? '';
const isFiltered = (d: Desc) => d.annotations?.['io.ferry.kind'] === 'apt' && d.annotations?.['io.ferry.source'] === fx.aptUrls.filtered;

/** The filtered mirror's generated Packages, its stanzas by Package. */
function stanzas(b: CraftedBundle): Map<string, string> {
  const top = b.index.manifests.find(isFiltered)!;
  const m = b.json<{ layers: Desc[] }>(top.digest);
  const gen = m.layers.find((l) => title(l) === GENERATED)!;
  const out = new Map<string, string>();
  for (const st of b.blob(gen.digest).toString('utf8').split(/\n\n+/)) {
    const name = /^Package: (.+)$/m.exec(st)?.[1];
    if (name) out.set(name, st.trimEnd());
  }
  return out;
}

/** A copy whose generated Packages is `text`, the manifest, index.json and checksums following. */
async function withGenerated(name: string, edit: (byName: Map<string, string>) => string): Promise<string> {
  const b = await CraftedBundle.load(fx.bundle);
  const text = edit(stanzas(b));
  b.editArtifact(isFiltered, ({ manifest }) => {
    const gen = manifest.layers.find((l) => title(l) === GENERATED)!;
    Object.assign(gen, b.putBlob(Buffer.from(text)));
  });
  return b.write(path.join(work, `${name}.ferry.tar`));
}

const field = (st: string, f: string) => new RegExp(`^${f}: (.+)$`, 'm').exec(st)![1];
const setField = (st: string, f: string, v: string) => st.replace(new RegExp(`^${f}: .+$`, 'm'), `${f}: ${v}`);

async function filesUnder(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => [])).filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name)));
}

/** Import into a fresh site mirror, `bundle verify` and `serve --target` (which signs): each refuses naming `named`; import writes no repository. */
async function refusedEverywhere(out: string, name: string, named: RegExp): Promise<void> {
  const root = path.join(work, name);
  // The directory target (layout, files) with an apt: section re-signing with the site key.
  const t = await writeDirectoryTarget(root, name);
  await appendFile(t, ['apt:', `  dir: ${JSON.stringify(path.join(root, 'mirror'))}`, '  baseUrl: http://127.0.0.1:1/apt', `  signingKey: ${site.secretKey}`, ''].join('\n'));
  const r = await runFerry(['import', out, '--target', t]);
  expect(r.code, r.stderr).not.toBe(0);
  expect(r.stderr).toMatch(named);
  expect(r.stderr).toMatch(/bundle's lock/);
  expect((await filesUnder(path.join(root, 'mirror'))).filter((f) => /InRelease|Packages|\.deb$/.test(f))).toEqual([]);
  const v = await runFerry(['bundle', 'verify', out]);
  expect(v.code, v.stdout + v.stderr).not.toBe(0);
  expect(v.stdout + v.stderr).toMatch(named);
  const s = await runFerry(['serve', out, '--listen', '127.0.0.1:0', '--target', siteTarget], { timeoutMs: 60_000 });
  expect(s.code, s.stdout + s.stderr).not.toBe(0);
  expect(s.stderr).toMatch(named);
}

describe("a filtered mirror's generated Packages holds only what the lock pins", () => {
  it('the untouched bundle: served signed with the site key, apt-get installs jq from it', { timeout: 180_000 }, async () => {
    const s = await startServe([fx.bundle, '--listen', '127.0.0.1:0', '--target', siteTarget]);
    try {
      const client = path.join(work, 'client-clean');
      await mkdir(client, { recursive: true });
      // Only libc6 installed (jq's one dependency outside the mirror): the rest comes from the served index.
      const status = path.join(client, 'status');
      await writeFile(status, 'Package: libc6\nStatus: install ok installed\nPriority: optional\nArchitecture: amd64\nMulti-Arch: same\nVersion: 2.36-9+deb12u99\nDescription: stand-in\n');
      const opts = ['-o', `Dir::State::status=${status}`, '-o', 'APT::Architecture=amd64', '-o', 'APT::Architectures::=amd64'];
      const sources = `deb [signed-by=${site.publicKey}] ${s.url}${aptPath(fx.aptUrls.filtered, '').replace(/\/$/, '')} bookworm main`;
      const up = await aptGet(client, sources, [...opts, 'update']);
      expect(up.code, up.stdout + up.stderr).toBe(0);
      expect(up.stdout + up.stderr).not.toMatch(/^(W|E):/m);
      const inst = await aptGet(client, sources, [...opts, 'install', '--download-only', 'jq']);
      expect(inst.code, inst.stdout + inst.stderr).toBe(0);
      const got = (await readdir(path.join(client, 'var/cache/apt/archives'))).filter((f) => f.endsWith('.deb')).sort();
      expect(got.map((f) => f.replace(/_.*/, ''))).toEqual(['jq', 'libjq1', 'libonig5']);
    } finally {
      await s.stop();
    }
  });

  it("a stanza whose Version is not the lock's (apt would take it for an upgrade): refused everywhere, naming the package", { timeout: 240_000 }, async () => {
    const out = await withGenerated('version', (by) => [...by.values()].map((st) => (field(st, 'Package') === 'jq' ? setField(st, 'Version', '99:9.9-evil') : st)).join('\n\n') + '\n');
    await refusedEverywhere(out, 'version', /jq[\s\S]*Version[\s\S]*99:9\.9-evil/);
  });

  it('a stanza for a package the lock does not carry, pointing at a carried .deb: refused everywhere', { timeout: 240_000 }, async () => {
    const out = await withGenerated('stray', (by) => {
      const onig = by.get('libonig5')!;
      return [...by.values(), setField(onig, 'Package', 'sudo')].join('\n\n') + '\n';
    });
    await refusedEverywhere(out, 'stray', /sudo[\s\S]*lock/);
  });

  it("one package's Filename, Size and SHA256 pointing at another carried .deb: refused everywhere", { timeout: 240_000 }, async () => {
    const out = await withGenerated('swapped', (by) => {
      const jq = by.get('jq')!;
      const lib = ['Filename', 'Size', 'SHA256'].reduce((st, f) => setField(st, f, field(jq, f)), by.get('libjq1')!);
      return [...by.values()].map((st) => (field(st, 'Package') === 'libjq1' ? lib : st)).join('\n\n') + '\n';
    });
    await refusedEverywhere(out, 'swapped', /libjq1[\s\S]*jq_/);
  });

  it('a field the stanza check does not compare (Depends, Conflicts): refused everywhere, the lock pinning every byte of the generated Packages', { timeout: 240_000 }, async () => {
    // jq told to depend on sudo and to conflict with libc6: Package, Version, Architecture,
    // Filename, Size and SHA256 all still the lock's.
    const out = await withGenerated('depends', (by) =>
      [...by.values()].map((st) => (field(st, 'Package') === 'jq' ? setField(st, 'Depends', 'libjq1 (= 1.6-2.1), sudo') + '\nConflicts: libc6' : st)).join('\n\n') + '\n',
    );
    await refusedEverywhere(out, 'depends', /Packages[\s\S]*not the one the bundle's lock pins/);
  });

  it("a lock written before ferry pinned the generated Packages: each stanza still held to the lock's packages", { timeout: 240_000 }, async () => {
    const b = await CraftedBundle.load(fx.bundle);
    const lock = b.getJson<{ apt: Array<{ suites: Array<{ generated?: unknown }> }> }>('ferry/lock.json');
    let dropped = 0;
    for (const e of lock.apt) for (const s of e.suites) if (s.generated) (delete s.generated, dropped++);
    expect(dropped).toBeGreaterThan(0);
    b.setJson('ferry/lock.json', lock);
    const clean = await b.write(path.join(work, 'old-lock.ferry.tar'));
    const v = await runFerry(['bundle', 'verify', clean]);
    expect(v.code, v.stdout + v.stderr).toBe(0);
    // The same Version craft as above, under the old lock: the stanza check still refuses it.
    const c = await CraftedBundle.load(clean);
    const text = [...stanzas(c).values()].map((st) => (field(st, 'Package') === 'jq' ? setField(st, 'Version', '99:9.9-evil') : st)).join('\n\n') + '\n';
    c.editArtifact(isFiltered, ({ manifest }) => {
      Object.assign(manifest.layers.find((l) => title(l) === GENERATED)!, c.putBlob(Buffer.from(text)));
    });
    const crafted = await c.write(path.join(work, 'old-lock-version.ferry.tar'));
    await refusedEverywhere(crafted, 'old-lock-version', /jq[\s\S]*Version[\s\S]*99:9\.9-evil/);
  });
});
