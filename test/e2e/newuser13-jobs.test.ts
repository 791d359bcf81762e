import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand, runFerry } from '../support/cli.js';
import { startServe } from '../support/craft-serve.js';
import { BASE_FILES, pushLayoutImage, seedImages, skopeoDigest, writeOciLayout, type SeededImages } from '../support/images.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';

/**
 * A factory's job with two air-gapped rooms chained (new-user round 13): the connected side
 * builds the bundle; room A (the plant's DMZ) imports it into its registry and, as its only link
 * to room B (the production floor), pushes the bundle into that registry with `ferry bundle
 * push` (the README's "registry to registry" link); room B reads it from `oci://roomA/…` with
 * every command the README's flow names (verify, import, map, rewrite, mirror-config, sbom,
 * report) and serves it. A month later the vendor ships app:2 and the connected side sends a
 * differential bundle (`--since` last month's): room A imports it and hands it on the same way.
 * The engineer knew Zarf (`zarf package mirror-resources` from an OCI package) and oc-mirror.
 * Three real Distribution registries on loopback (upstream, room A, room B) and skopeo.
 *
 * What tripped:
 * - In room B, with the bundle only in room A's registry: `ferry map oci://…`, `ferry sbom
 *   oci://…`, `rewrite manifests --bundle oci://…`, `mirror-config --bundle oci://…` and `report
 *   --bundle oci://…` all failed with `<cwd>/oci:/roomA/bundles/app:1: cannot read bundle: no
 *   such file` (the URL taken for a path and mangled), while import, verify, serve and audit
 *   took the same URL. They now read the bundle's lock (and report its size) from the registry.
 * - `ferry bundle push` of the differential bundle refused it as "incomplete" (every base layer
 *   it leaves out on purpose listed as `missing`) with the hint "copy or recreate it": a
 *   differential could not travel registry to registry at all. It now goes to the repository
 *   that holds its base (pushed there first): push checks every blob it left out is there, and
 *   when one is not, refuses before writing anything, naming each blob and saying to push the
 *   base there first.
 * - `ferry serve oci://<differential> --base oci://<base>`: `--base` was silently ignored for a
 *   bundle in a registry; serve started, warned that base layers were `missing`, and answered 404
 *   for them, so the floor's nodes failed mid-pull. Without `--base` it served the half bundle
 *   too (a tar is refused). Now an `oci://` differential needs its base as a tar does, and the
 *   base may itself be `oci://…`.
 */
let work: string;
let upstream: RunningRegistry;
let roomA: RunningRegistry;
let roomB: RunningRegistry;
let seeded: SeededImages;
let app2: string;
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRY_MIN_MS: '50', FERRY_RETRIES: '1' });
const ferry = (args: string[]) => runFerry(args, { cwd: work, env: env() });
const bundle1 = () => `oci://${roomA.host}/bundles/factory:2026-12`;
const bundle2 = () => `oci://${roomA.host}/bundles/factory:2027-01`;
const nested = (ref: string) => ref.replace(/^([^/]+):(\d+)\//, '$1-$2/');

const manifest = (refs: string[]) => ['apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata: { name: factory }', 'images:', ...refs.map((r) => `  - ref: ${r}`), ''].join('\n');
const target = (name: string, reg: RunningRegistry) => `apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: ${name} }\nregistry:\n  url: ${reg.url}\n  prefix: mirror\n`;

async function ok(args: string[]): Promise<string> {
  const r = await ferry(args);
  expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-newuser13-'));
  [upstream, roomA, roomB] = await Promise.all([startRegistry({ mode: 'http' }), startRegistry({ mode: 'http' }), startRegistry({ mode: 'http' })]);
  seeded = await seedImages(upstream);
  await writeFile(path.join(work, 'room-a.yaml'), target('room-a', roomA));
  await writeFile(path.join(work, 'room-b.yaml'), target('room-b', roomB));
  // Connected side, month 1: lock and bundle. Room A: import, then push the bundle into its registry for room B.
  await writeFile(path.join(work, 'factory.yaml'), manifest([seeded.refs.base, seeded.refs.multi]));
  await ok(['lock', 'factory.yaml']);
  await ok(['bundle', 'create', 'factory.yaml', '-o', 'factory-1.ferry.tar']);
  await ok(['import', 'factory-1.ferry.tar', '-t', 'room-a.yaml']);
  await ok(['bundle', 'push', 'factory-1.ferry.tar', bundle1()]);
  // Month 2: the vendor's app:2 shares the base layer, which the differential leaves out.
  const layout = path.join(work, 'layout2');
  await writeOciLayout(layout, [{ name: 'app', platforms: [{ architecture: 'amd64', layers: [{ files: BASE_FILES }, { files: { 'app/VERSION': '2.0.0\n' } }] }] }]);
  await pushLayoutImage(upstream, layout, 'app', 'ferry-test/app:2');
  app2 = `${upstream.host}/ferry-test/app:2`;
  await writeFile(path.join(work, 'factory.yaml'), manifest([seeded.refs.base, seeded.refs.multi, app2]));
  await ok(['lock', 'factory.yaml']);
  await ok(['bundle', 'create', 'factory.yaml', '-o', 'factory-2.ferry.tar', '--since', 'factory-1.ferry.tar']);
  await ok(['import', 'factory-2.ferry.tar', '-t', 'room-a.yaml']);
}, 240_000);

afterAll(async () => {
  await Promise.all([upstream?.stop(), roomA?.stop(), roomB?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
});

describe('room B reads the bundle from room A\'s registry', () => {
  it('import, then map, sbom, rewrite, mirror-config and report all take the oci:// bundle', async () => {
    await ok(['bundle', 'verify', bundle1()]);
    await ok(['import', bundle1(), '-t', 'room-b.yaml']);
    expect(await skopeoDigest(roomB, `${roomB.host}/mirror/${nested(seeded.refs.base)}`)).toBe(seeded.digests.base);

    const map = await ok(['map', bundle1(), '-t', 'room-b.yaml']);
    expect(map).toContain(`${roomB.host}/mirror/${nested(seeded.refs.base)}`);
    expect(map).toContain(`${roomB.host}/mirror/${nested(seeded.refs.multi)}`);

    const sbom = JSON.parse(await ok(['sbom', bundle1()])) as { bomFormat: string; components: Array<{ name: string }> };
    expect(sbom.bomFormat).toBe('CycloneDX');
    expect(sbom.components.map((c) => c.name)).toEqual(expect.arrayContaining(['base', 'multi']));

    await writeFile(path.join(work, 'pod.yaml'), `apiVersion: v1\nkind: Pod\nmetadata: { name: line3 }\nspec:\n  containers:\n    - name: plc\n      image: ${seeded.refs.base}\n`);
    await ok(['rewrite', 'manifests', 'pod.yaml', '-t', 'room-b.yaml', '--bundle', bundle1()]);
    expect(await readFile(path.join(work, 'pod.yaml'), 'utf8')).toContain(`image: ${roomB.host}/mirror/${nested(seeded.refs.base)}`);

    await ok(['mirror-config', 'registries-conf', '-t', 'room-b.yaml', '--bundle', bundle1(), '-o', path.join(work, 'containers')]);
    expect(await readFile(path.join(work, 'containers', 'registries.conf'), 'utf8')).toContain(`location = "${roomB.host}/mirror/${upstream.host.replace(':', '-')}"`);

    const report = await ok(['report', 'factory.yaml', '--bundle', bundle1(), '-o', 'report.html']);
    expect(report).toContain('bundle: 2 artifacts');
    const html = await readFile(path.join(work, 'report.html'), 'utf8');
    expect(html).toContain(`<code>${bundle1()}</code>`);
  });
});

describe('next month: the differential bundle goes from room A to room B', () => {
  it('bundle push refuses it where its base is not, naming each blob, and takes it where its base is', async () => {
    const elsewhere = `oci://${roomA.host}/bundles/other:2027-01`;
    const refused = await ferry(['bundle', 'push', 'factory-2.ferry.tar', elsewhere]);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain('factory-2.ferry.tar is a differential bundle');
    expect(refused.stderr).toMatch(/layer sha256:[a-f0-9]{64} \(\d+ bytes\): not in 127\.0\.0\.1:\d+\/bundles\/other/);
    expect(refused.stderr).toContain(`Push its base to the same repository first (\`ferry bundle push <base bundle> oci://${roomA.host}/bundles/other:<tag>\`)`);
    expect(refused.stderr).not.toContain('recreate');
    const tags = await runCommand('skopeo', ['list-tags', '--tls-verify=false', `docker://${roomA.host}/bundles/other`]);
    expect(tags.stdout).not.toContain('2027-01');

    await ok(['bundle', 'push', 'factory-2.ferry.tar', bundle2()]);
    const pulled = path.join(work, 'pulled-2.ferry.tar');
    await ok(['bundle', 'pull', bundle2(), '-o', pulled]);
    expect((await readFile(pulled)).equals(await readFile(path.join(work, 'factory-2.ferry.tar')))).toBe(true);
    const verify = await ok(['bundle', 'verify', bundle2(), '--base', bundle1()]);
    expect(verify).toContain('complete: all');

    // Room B holds last month's import: the differential imports straight from room A's registry.
    await ok(['import', bundle2(), '-t', 'room-b.yaml']);
    expect(await skopeoDigest(roomB, `${roomB.host}/mirror/${nested(app2)}`)).toBe(await skopeoDigest(upstream, app2));
  });

  it('serve oci://<differential> needs its base, as from a tar, and with an oci:// base serves whole images', async () => {
    const alone = await runFerry(['serve', bundle2(), '--listen', '127.0.0.1:0'], { cwd: work, env: env(), timeoutMs: 30_000 });
    expect(alone.code).toBe(2);
    expect(alone.stderr).toContain('is a differential bundle');
    expect(alone.stderr).toContain('--base');

    const s = await startServe([bundle2(), '--base', bundle1(), '--listen', '127.0.0.1:0']);
    try {
      expect(s.stderr()).not.toContain('missing');
      const dest = path.join(work, 'floor-copy');
      const copy = await runCommand('skopeo', ['copy', '--src-tls-verify=false', `docker://${s.host}/${nested(app2)}`, `oci:${dest}:app`]);
      expect(copy.code, copy.stderr).toBe(0);
    } finally {
      await s.stop();
    }
  });
});
