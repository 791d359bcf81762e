import { createHash, randomBytes } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mustRun, runFerry } from '../support/cli.js';
import { BASE_FILES, pushLayoutImage, seedImages, skopeoDigest, writeOciLayout, type SeededImages } from '../support/images.js';
import { skopeoEnv, startRegistry, type RunningRegistry } from '../support/registry.js';
import { startFerryServe, startStaticServer, type StaticServer } from '../support/static-http.js';
import { tarEntries } from '../support/tar-walk.js';
import { packageChart, writeRepoIndex } from '../support/chart-repo.js';
import { downloadDebs, makeGpgKey, publishWithAptly } from '../support/apt-repo.js';

/**
 * Issue 14: differential bundles (`--since`) and split bundles (`--split-size`), end to end with
 * the built CLI, real docker-registries and skopeo as the independent reader.
 */
let work: string;
let upstream: RunningRegistry;
let seeded: SeededImages;
let files: StaticServer;
let full: string;
let app2: string;
let tool1: Buffer;
let tool2: Buffer;
const targets: RunningRegistry[] = [];
const sizes: Record<string, number> = {};
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRY_MIN_MS: '50' });
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

function manifestYaml(images: string[], fileLines: string[]): string {
  return ['apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata: { name: app }', 'images:', ...images.map((r) => `  - ref: ${r}`), 'files:', ...fileLines, ''].join('\n');
}

const fileEntry = (name: string, bytes: Buffer) => [`  - name: ${name}`, `    url: ${files.url}/${name}`, `    sha256: ${sha256(bytes)}`];

async function writeTarget(name: string, reg: RunningRegistry): Promise<string> {
  const file = path.join(work, `${name}.yaml`);
  await mkdir(path.join(work, `${name}-files`), { recursive: true });
  await writeFile(
    file,
    `apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: ${name} }\nregistry:\n  url: ${reg.url}\n  prefix: mirror\nfiles:\n  dir: ./${name}-files\n  baseUrl: https://mirror.example.internal/files\n`,
  );
  return file;
}

async function catalog(reg: RunningRegistry): Promise<string[]> {
  const r = await mustRun('curl', ['-sS', `${reg.url}/v2/_catalog`]);
  return (JSON.parse(r.stdout) as { repositories: string[] }).repositories ?? [];
}

async function newTarget(name: string): Promise<{ reg: RunningRegistry; file: string }> {
  const reg = await startRegistry({ mode: 'http' });
  targets.push(reg);
  return { reg, file: await writeTarget(name, reg) };
}

/** The mirror reference of an upstream one under the target's `prefix: mirror` (nested mapping). */
const mirrored = (reg: RunningRegistry, ref: string) => `${reg.host}/mirror/${ref.replace(/^([^/]+):(\d+)\//, '$1-$2/')}`;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-diffsplit-'));
  upstream = await startRegistry({ mode: 'http' });
  seeded = await seedImages(upstream);
  // The changed image: app:2 shares the base layer with app:1 and has a new app layer.
  const layout2 = path.join(work, 'layout2');
  await writeOciLayout(layout2, [{ name: 'app', platforms: [{ architecture: 'amd64', layers: [{ files: BASE_FILES }, { randomBytes: 512 * 1024, seed: 'app-2' }], cmd: ['/app/server.sh'] }] }]);
  await pushLayoutImage(upstream, layout2, 'app', 'ferry-test/app:2');
  app2 = `${upstream.host}/ferry-test/app:2`;
  await mkdir(path.join(work, 'srv'), { recursive: true });
  tool1 = randomBytes(6 * 1024 * 1024 + 11);
  tool2 = randomBytes(300 * 1024 + 5);
  await writeFile(path.join(work, 'srv', 'tool-1.bin'), tool1);
  await writeFile(path.join(work, 'srv', 'tool-2.bin'), tool2);
  files = await startStaticServer(path.join(work, 'srv'));

  await writeFile(path.join(work, 'v1.yaml'), manifestYaml([seeded.refs.base, seeded.refs.app, seeded.refs.multi], fileEntry('tool-1.bin', tool1)));
  const lock = await runFerry(['lock', 'v1.yaml'], { cwd: work, env: env() });
  expect(lock.code, lock.stderr).toBe(0);
  full = path.join(work, 'full.ferry.tar');
  const create = await runFerry(['bundle', 'create', 'v1.yaml', '-o', full, '--frozen'], { cwd: work, env: env() });
  expect(create.code, create.stderr).toBe(0);
  sizes.full = (await stat(full)).size;
  // Both manifests are named app: keep the first lock before the second manifest rewrites app.lock.json.
  await copyFile(path.join(work, 'app.lock.json'), path.join(work, 'v1.lock.json'));
}, 600_000);

afterAll(async () => {
  for (const t of targets) await t.stop();
  await upstream?.stop();
  await files?.close();
  // The figures the issue asks for, in the test output.
  console.log(`diff-split sizes (bytes): ${JSON.stringify(sizes)}`);
  if (work && !process.env.FERRY_TEST_KEEP) await rm(work, { recursive: true, force: true });
});

describe('split bundles', () => {
  let parts: string[];
  const splitDir = () => path.join(work, 'split');
  const first = () => path.join(splitDir(), 'app.ferry.tar.001');

  it('writes parts no larger than the split size; cat gives the byte-identical tar; sha256sum -c checks the parts', async () => {
    await mkdir(splitDir(), { recursive: true });
    const r = await runFerry(['bundle', 'create', 'v1.yaml', '-o', path.join(splitDir(), 'app.ferry.tar'), '--frozen', '--split-size', '1M', '--json'], { cwd: work, env: env() });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { parts: Array<{ file: string; size: number }> };
    parts = (await readdir(splitDir())).filter((f) => /\.\d{3}$/.test(f)).sort();
    expect(parts.length).toBeGreaterThan(3);
    expect(out.parts.map((p) => path.basename(p.file))).toEqual(parts);
    for (const p of parts) expect((await stat(path.join(splitDir(), p))).size).toBeLessThanOrEqual(1024 * 1024);
    sizes.parts = parts.length;
    sizes.partBytes = (await stat(first())).size;
    const joined = path.join(work, 'joined.tar');
    await mustRun('sh', ['-c', `cat ${parts.join(' ')} > ${joined}`], { cwd: splitDir() });
    await mustRun('cmp', [joined, full]);
    await mustRun('sha256sum', ['-c', 'app.ferry.tar.parts'], { cwd: splitDir() });
    // skopeo reads the reassembled tar.
    const raw = await mustRun('skopeo', ['inspect', '--raw', `oci-archive:${joined}:${seeded.refs.app}`]);
    expect(`sha256:${sha256(raw.stdout)}`).toBe(seeded.digests.app);
  });

  it('bundle verify, import and serve take the first part', async () => {
    const v = await runFerry(['bundle', 'verify', first()], { cwd: work });
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toContain('OK');
    const { reg, file } = await newTarget('split-site');
    const imp = await runFerry(['import', first(), '-t', file, '--json'], { cwd: work, env: env() });
    expect(imp.code, imp.stderr).toBe(0);
    for (const key of ['base', 'app', 'multi'] as const) expect(await skopeoDigest(reg, mirrored(reg, seeded.refs[key]))).toBe(seeded.digests[key]);
    expect(sha256(await readFile(path.join(work, 'split-site-files', files.url.replace(/^http:\/\//, '').replace(':', '-'), 'tool-1.bin')))).toBe(sha256(tool1));
    const served = await startFerryServe([first()], { cwd: work });
    try {
      const host = new URL(served.url).host;
      const raw = await mustRun('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${host}/${seeded.refs.multi.replace(/^([^/]+):(\d+)\//, '$1-$2/')}`], { env: skopeoEnv() });
      expect(`sha256:${sha256(raw.stdout)}`).toBe(seeded.digests.multi);
    } finally {
      await served.stop();
    }
  });

  it('a flipped byte in one part is named by its part', async () => {
    const damaged = path.join(work, 'split-damaged');
    await mkdir(damaged);
    for (const p of [...parts, 'app.ferry.tar.parts']) await copyFile(path.join(splitDir(), p), path.join(damaged, p));
    const victim = path.join(damaged, parts[2]);
    const bytes = await readFile(victim);
    bytes[1000] ^= 0xff;
    await writeFile(victim, bytes);
    const v = await runFerry(['bundle', 'verify', path.join(damaged, parts[0])], { cwd: work });
    expect(v.code).toBe(3);
    expect(v.stderr).toContain(`part 003 of ${parts.length}: sha256 mismatch`);
    expect(v.stderr).not.toContain('part 002');
  });

  it('a missing part is named before import writes anything', async () => {
    const missing = path.join(work, 'split-missing');
    await mkdir(missing);
    for (const p of [...parts, 'app.ferry.tar.parts']) if (p !== parts[3]) await copyFile(path.join(splitDir(), p), path.join(missing, p));
    const { reg, file } = await newTarget('missing-site');
    const imp = await runFerry(['import', path.join(missing, parts[0]), '-t', file], { cwd: work, env: env() });
    expect(imp.code).not.toBe(0);
    expect(imp.stderr).toContain(`part 004 of ${parts.length}: app.ferry.tar.004 is missing`);
    expect(await catalog(reg)).toEqual([]);
    expect(await readdir(path.join(work, 'missing-site-files'))).toEqual([]);
    const v = await runFerry(['bundle', 'verify', path.join(missing, parts[0])], { cwd: work });
    expect(v.code).toBe(3);
    expect(v.stderr).toContain(`part 004 of ${parts.length}: app.ferry.tar.004 is missing`);
  });
});

describe('differential bundles', () => {
  let diff: string;
  let app2Digest: string;
  let app2Layer: string;
  let baseSite: { reg: RunningRegistry; file: string };
  const blobEntries = async (tar: string) => new Map([...(await tarEntries(tar))].filter(([n]) => n.startsWith('blobs/sha256/')).map(([n, e]) => [`sha256:${n.slice(13)}`, e.size]));

  it('bundle create --since a lock leaves out every image layer and file the base carried', async () => {
    // One image changed (app:1 → app:2, sharing the base layer), one file added.
    await writeFile(path.join(work, 'v2.yaml'), manifestYaml([seeded.refs.base, app2, seeded.refs.multi], [...fileEntry('tool-1.bin', tool1), ...fileEntry('tool-2.bin', tool2)]));
    diff = path.join(work, 'diff.ferry.tar');
    const r = await runFerry(['bundle', 'create', 'v2.yaml', '-o', diff, '--since', 'v1.lock.json'], { cwd: work, env: env() });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/differential against lock v1\.lock\.json \(sha256:[a-f0-9]{12}…\): \d+ blobs, \d+ bytes left out \(\d+% saved/);
    sizes.differential = (await stat(diff)).size;
    app2Digest = await skopeoDigest(upstream, app2);
    const m = JSON.parse((await mustRun('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${app2}`])).stdout) as { layers: Array<{ digest: string }> };
    app2Layer = m.layers[1].digest;
    expect(m.layers[0].digest).toBe(seeded.sharedLayer);

    const inFull = await blobEntries(full);
    const inDiff = await blobEntries(diff);
    // The new payload is there; nothing the base carried is, except manifests and configs (small JSON).
    expect(inDiff.has(app2Layer)).toBe(true);
    expect(inDiff.has(`sha256:${sha256(tool2)}`)).toBe(true);
    expect(inDiff.has(seeded.sharedLayer)).toBe(false);
    expect(inDiff.has(`sha256:${sha256(tool1)}`)).toBe(false);
    const carriedAgain = [...inDiff].filter(([d]) => inFull.has(d));
    for (const [, size] of carriedAgain) expect(size).toBeLessThan(4096);
    const bigNew = [...inDiff].filter(([d, size]) => !inFull.has(d) && size >= 4096).map(([d]) => d).sort();
    expect(bigNew).toEqual([app2Layer, `sha256:${sha256(tool2)}`].sort());
    expect(sizes.differential).toBeLessThan(sizes.full / 4);

    const info = JSON.parse((await mustRun('tar', ['-xOf', diff, 'ferry/bundle.json'])).stdout);
    expect(info.formatVersion).toBe(1);
    expect(info.differential).toBe(true);
    expect(info.base).toEqual({ kind: 'lock', name: 'v1.lock.json', digest: `sha256:${sha256(await readFile(path.join(work, 'v1.lock.json')))}` });
    const listed = JSON.parse((await mustRun('tar', ['-xOf', diff, 'ferry/differential.json'])).stdout) as { omitted: Array<{ digest: string }> };
    expect(listed.omitted.map((o) => o.digest)).toContain(seeded.sharedLayer);
    expect(listed.omitted.map((o) => o.digest)).toContain(`sha256:${sha256(tool1)}`);
    expect(info.omittedBlobs).toBe(listed.omitted.length);

    // Against the old bundle instead of its lock: the same blobs left out.
    const fromBundle = path.join(work, 'diff-b.ferry.tar');
    const rb = await runFerry(['bundle', 'create', 'v2.yaml', '-o', fromBundle, '--since', full, '--json'], { cwd: work, env: env() });
    expect(rb.code, rb.stderr).toBe(0);
    expect(JSON.parse(rb.stdout).differential.base.kind).toBe('bundle');
    expect([...(await blobEntries(fromBundle)).keys()].sort()).toEqual([...inDiff.keys()].sort());
  });

  it('bundle verify checks what is present and lists what is expected from the base', async () => {
    const v = await runFerry(['bundle', 'verify', diff], { cwd: work });
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toContain('OK');
    // Each blob the target must already hold is named by what uses it, as verify names any blob.
    expect(v.stdout).toMatch(new RegExp(`expected from the base: \\S.* layer ${seeded.sharedLayer}`));
    const j = JSON.parse((await runFerry(['bundle', 'verify', diff, '--json'], { cwd: work })).stdout);
    expect(j.ok).toBe(true);
    expect(j.expectedFromBase.digests).toContain(`sha256:${sha256(tool1)}`);
  });

  it('report --bundle says the bundle is differential, what it leaves out, and that it is unsigned; a file left out is marked from the base', async () => {
    const out = path.join(work, 'diff-report.html');
    const r = await runFerry(['report', '--bundle', diff, '-o', out], { cwd: work });
    expect(r.code, r.stderr).toBe(0);
    const html = await readFile(out, 'utf8');
    const listed = JSON.parse((await mustRun('tar', ['-xOf', diff, 'ferry/differential.json'])).stdout) as { omitted: Array<{ digest: string }> };
    expect(html).toContain(`against lock <code>v1.lock.json</code> (<span class="mono">sha256:${sha256(await readFile(path.join(work, 'v1.lock.json')))}</span>): ${listed.omitted.length} blob(s)`);
    expect(html).toContain('must already be on the target');
    // tool-1.bin (unchanged) is the base's; tool-2.bin (new) is in this bundle.
    expect(html).toContain(`sha256:${sha256(tool1)}</span> <i>from the base</i>`);
    expect(html).not.toContain(`sha256:${sha256(tool2)}</span> <i>from the base</i>`);
    expect(html).toContain('holds no signature over its checksum list');
  });

  it('import into an empty target is refused naming the missing blobs by artifact; nothing written', async () => {
    const empty = await newTarget('empty-site');
    const imp = await runFerry(['import', diff, '-t', empty.file], { cwd: work, env: env() });
    expect(imp.code).toBe(3);
    expect(imp.stderr).toContain('the target lacks');
    expect(imp.stderr).toContain(`${seeded.refs.base}: blob ${seeded.sharedLayer}`);
    expect(imp.stderr).toContain(`${app2}: blob ${seeded.sharedLayer}`);
    expect(imp.stderr).toContain('tool-1.bin');
    expect(await catalog(empty.reg)).toEqual([]);
    expect(await readdir(path.join(work, 'empty-site-files'))).toEqual([]);
  });

  it('import into a target that holds the base succeeds; skopeo reads every image with its upstream digest', async () => {
    baseSite = await newTarget('base-site');
    const first = await runFerry(['import', full, '-t', baseSite.file], { cwd: work, env: env() });
    expect(first.code, first.stderr).toBe(0);
    const imp = await runFerry(['import', diff, '-t', baseSite.file, '--json'], { cwd: work, env: env() });
    expect(imp.code, imp.stderr).toBe(0);
    expect(await skopeoDigest(baseSite.reg, mirrored(baseSite.reg, app2))).toBe(app2Digest);
    for (const key of ['base', 'multi'] as const) expect(await skopeoDigest(baseSite.reg, mirrored(baseSite.reg, seeded.refs[key]))).toBe(seeded.digests[key]);
    // Every blob of the changed image can be pulled (skopeo copies it out).
    await mustRun('skopeo', ['copy', '--src-tls-verify=false', `docker://${mirrored(baseSite.reg, app2)}`, `oci:${path.join(work, 'pulled')}:app2`], { env: skopeoEnv() });
    const host = files.url.replace(/^http:\/\//, '').replace(':', '-');
    expect(sha256(await readFile(path.join(work, 'base-site-files', host, 'tool-2.bin')))).toBe(sha256(tool2));
  });

  it('serve is refused without the base, and serves blobs from either with --base', async () => {
    const alone = await runFerry(['serve', diff, '--listen', '127.0.0.1:0'], { cwd: work });
    expect(alone.code).toBe(2);
    expect(alone.stderr).toContain('is a differential bundle');
    expect(alone.stderr).toContain('--base');
    const wrong = await runFerry(['serve', diff, '--base', diff, '--listen', '127.0.0.1:0'], { cwd: work });
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('not the base this bundle was made against');
    const served = await startFerryServe([diff, '--base', full], { cwd: work });
    try {
      const host = new URL(served.url).host;
      const ref = `${host}/${app2.replace(/^([^/]+):(\d+)\//, '$1-$2/')}`;
      const raw = await mustRun('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${ref}`], { env: skopeoEnv() });
      expect(`sha256:${sha256(raw.stdout)}`).toBe(app2Digest);
      await mustRun('skopeo', ['copy', '--src-tls-verify=false', `docker://${ref}`, `oci:${path.join(work, 'served')}:app2`], { env: skopeoEnv() });
      expect((await stat(path.join(work, 'served', 'blobs', 'sha256', seeded.sharedLayer.slice(7)))).isFile()).toBe(true);
    } finally {
      await served.stop();
    }
  });

  it('differential and split together: parts from --since, verified and imported from the first part', async () => {
    const dir = path.join(work, 'diff-split');
    await mkdir(dir);
    const r = await runFerry(['bundle', 'create', 'v2.yaml', '-o', path.join(dir, 'd.ferry.tar'), '--since', 'v1.lock.json', '--split-size', '256KiB', '--json'], { cwd: work, env: env() });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { parts: Array<{ file: string; size: number }>; differential: { omittedBlobs: number } };
    expect(out.parts.length).toBeGreaterThan(1);
    expect(out.differential.omittedBlobs).toBeGreaterThan(0);
    sizes.differentialParts = out.parts.length;
    const joined = path.join(dir, 'joined.tar');
    await mustRun('sh', ['-c', `cat ${out.parts.map((p) => JSON.stringify(p.file)).join(' ')} > ${joined}`]);
    await mustRun('cmp', [joined, diff]);
    const v = await runFerry(['bundle', 'verify', out.parts[0].file], { cwd: work });
    expect(v.code, v.stderr).toBe(0);
    const again = await runFerry(['import', out.parts[0].file, '-t', baseSite.file, '--json'], { cwd: work, env: env() });
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout).bytesSent).toBe(0);
  });
});

describe('differential bundles: charts, APT packages, a layer shared across repositories', () => {
  let aptRepo: StaticServer;
  let chartDigest: string;
  let provDigest: string;
  let debDigest: string;
  let other: string;
  let otherDigest: string;
  let fullA: string;
  let diffB: string;
  const dir = () => path.join(work, 'kinds');
  const blobNames = async (tar: string) => new Set([...(await tarEntries(tar)).keys()].filter((n) => n.startsWith('blobs/sha256/')).map((n) => `sha256:${n.slice(13)}`));
  /** Every file under `root` whose name matches, as paths relative to it. */
  const find = async (root: string, re: RegExp): Promise<string[]> => ((await readdir(root, { recursive: true })) as string[]).filter((f) => re.test(path.basename(f))).sort();

  function kindsManifest(name: string, image: string): string {
    return [
      'apiVersion: ferry/v1alpha1',
      'kind: Manifest',
      `metadata: { name: ${name} }`,
      'images:',
      `  - ref: ${image}`,
      'charts:',
      `  - { name: tiny, repo: "${files.url}/charts", version: 0.1.0, images: none }`,
      'apt:',
      '  - name: vendor',
      `    url: ${aptRepo.url}/whole`,
      '    suites: [bookworm]',
      '    components: [main]',
      '    architectures: [amd64]',
      '    keys: [vendor.asc]',
      '',
    ].join('\n');
  }

  async function kindsTarget(name: string): Promise<{ reg: RunningRegistry; file: string; charts: string; apt: string }> {
    const reg = await startRegistry({ mode: 'http' });
    targets.push(reg);
    const file = path.join(dir(), `${name}.yaml`);
    const charts = path.join(dir(), `${name}-charts`);
    const apt = path.join(dir(), `${name}-apt`);
    await mkdir(charts, { recursive: true });
    await mkdir(apt, { recursive: true });
    await writeFile(
      file,
      [
        'apiVersion: ferry/v1alpha1',
        'kind: MirrorTarget',
        `metadata: { name: ${name} }`,
        'registry:',
        `  url: ${reg.url}`,
        '  prefix: mirror',
        'charts:',
        `  dir: ./${name}-charts`,
        '  baseUrl: https://mirror.example.internal/charts',
        'apt:',
        `  dir: ./${name}-apt`,
        '  baseUrl: https://mirror.example.internal/apt',
        '',
      ].join('\n'),
    );
    return { reg, file, charts, apt };
  }

  beforeAll(async () => {
    await mkdir(dir(), { recursive: true });
    // A small chart with provenance, served from the files server.
    const src = path.join(dir(), 'tiny');
    await mkdir(path.join(src, 'templates'), { recursive: true });
    await writeFile(path.join(src, 'Chart.yaml'), 'apiVersion: v2\nname: tiny\nversion: 0.1.0\n');
    await writeFile(path.join(src, 'templates', 'cm.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: tiny\n');
    const pkg = await packageChart(src, path.join(work, 'srv', 'charts'));
    await writeFile(`${pkg.file}.prov`, `-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nname: tiny\nversion: 0.1.0\nfiles:\n  tiny-0.1.0.tgz: sha256:${pkg.digest}\n`);
    await writeRepoIndex(path.join(work, 'srv', 'charts'), [pkg]);
    chartDigest = `sha256:${pkg.digest}`;
    provDigest = `sha256:${sha256(await readFile(`${pkg.file}.prov`))}`;
    // A whole APT component (one package), signed by a vendor key.
    const [deb] = await downloadDebs(['tree']);
    debDigest = `sha256:${sha256(await readFile(deb))}`;
    const vendor = await makeGpgKey(dir(), 'vendor');
    const repo = await publishWithAptly(dir(), [deb], vendor, { distribution: 'bookworm', prefixes: ['whole'] });
    aptRepo = await startStaticServer(repo.publicDir);
    // A new image in a repository of its own that shares the base layer with the old base image.
    await pushLayoutImage(upstream, path.join(work, 'layout2'), 'app', 'ferry-test/other:1');
    other = `${upstream.host}/ferry-test/other:1`;
    otherDigest = await skopeoDigest(upstream, other);

    await writeFile(path.join(dir(), 'a.yaml'), kindsManifest('ka', seeded.refs.base));
    await writeFile(path.join(dir(), 'b.yaml'), kindsManifest('kb', other));
    const lock = await runFerry(['lock', 'a.yaml'], { cwd: dir(), env: env() });
    expect(lock.code, lock.stderr).toBe(0);
    fullA = path.join(dir(), 'a.ferry.tar');
    const create = await runFerry(['bundle', 'create', 'a.yaml', '-o', fullA, '--frozen'], { cwd: dir(), env: env() });
    expect(create.code, create.stderr).toBe(0);
  }, 600_000);

  afterAll(async () => {
    await aptRepo?.close();
  });

  it('an unchanged chart (archive and .prov) and APT package are left out, like the shared layer', async () => {
    diffB = path.join(dir(), 'b.ferry.tar');
    const r = await runFerry(['bundle', 'create', 'b.yaml', '-o', diffB, '--since', 'ka.lock.json'], { cwd: dir(), env: env() });
    expect(r.code, r.stderr).toBe(0);
    const inFull = await blobNames(fullA);
    const inDiff = await blobNames(diffB);
    for (const d of [chartDigest, provDigest, debDigest, seeded.sharedLayer]) {
      expect(inFull.has(d), d).toBe(true);
      expect(inDiff.has(d), d).toBe(false);
    }
    const listed = JSON.parse((await mustRun('tar', ['-xOf', diffB, 'ferry/differential.json'])).stdout) as { omitted: Array<{ digest: string }>; baseRefs: string[] };
    expect(listed.omitted.map((o) => o.digest)).toEqual(expect.arrayContaining([chartDigest, provDigest, debDigest, seeded.sharedLayer]));
    expect(listed.baseRefs).toContain(seeded.refs.base);
    const v = await runFerry(['bundle', 'verify', diffB], { cwd: dir() });
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toContain(`expected from the base: vendor layer ${debDigest}`);
  });

  it('import into an empty target is refused naming the chart, the package and the layer; nothing written', async () => {
    const empty = await kindsTarget('k-empty');
    const imp = await runFerry(['import', diffB, '-t', empty.file], { cwd: dir(), env: env() });
    expect(imp.code).toBe(3);
    expect(imp.stderr).toContain('the target lacks');
    expect(imp.stderr).toMatch(/tiny-0\.1\.0\.tgz is not there with sha256/);
    expect(imp.stderr).toMatch(/tiny-0\.1\.0\.tgz\.prov is not there with sha256/);
    expect(imp.stderr).toContain(`blob ${chartDigest}`); // the chart's registry repository
    expect(imp.stderr).toMatch(/apt\[vendor\] .* pool\/main\/t\/tree\/tree_[^ ]+\.deb: .* is not there with sha256/);
    expect(imp.stderr).toContain(`${other}: blob ${seeded.sharedLayer}`);
    expect(await catalog(empty.reg)).toEqual([]);
    expect(await readdir(empty.charts)).toEqual([]);
    expect(await readdir(empty.apt)).toEqual([]);
  });

  it('import into a target holding the base succeeds: the shared layer is mounted from the old image, chart and package kept', async () => {
    const site = await kindsTarget('k-site');
    const first = await runFerry(['import', fullA, '-t', site.file], { cwd: dir(), env: env() });
    expect(first.code, first.stderr).toBe(0);
    const otherMirror = mirrored(site.reg, other);
    const repoPath = otherMirror.slice(site.reg.host.length + 1).replace(/:1$/, '');
    const head = async () => (await mustRun('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '-I', `${site.reg.url}/v2/${repoPath}/blobs/${seeded.sharedLayer}`])).stdout;
    expect(await head()).toBe('404'); // only the old image's repository holds the layer
    const imp = await runFerry(['import', diffB, '-t', site.file, '--json'], { cwd: dir(), env: env() });
    expect(imp.code, imp.stderr).toBe(0);
    expect(await head()).toBe('200');
    expect(await skopeoDigest(site.reg, otherMirror)).toBe(otherDigest);
    await mustRun('skopeo', ['copy', '--src-tls-verify=false', `docker://${otherMirror}`, `oci:${path.join(dir(), 'pulled-other')}:other`], { env: skopeoEnv() });
    expect((await stat(path.join(dir(), 'pulled-other', 'blobs', 'sha256', seeded.sharedLayer.slice(7)))).isFile()).toBe(true);
    const tgz = await find(site.charts, /^tiny-0\.1\.0\.tgz$/);
    expect(tgz.length).toBe(1);
    expect(`sha256:${sha256(await readFile(path.join(site.charts, tgz[0])))}`).toBe(chartDigest);
    const debs = await find(site.apt, /^tree_.*\.deb$/);
    expect(debs.length).toBe(1);
    expect(`sha256:${sha256(await readFile(path.join(site.apt, debs[0])))}`).toBe(debDigest);
  });
});
