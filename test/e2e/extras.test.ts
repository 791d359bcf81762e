import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mustRun, runCommand, runFerry } from '../support/cli.js';
import { seedImages, type SeededImages } from '../support/images.js';
import { skopeoEnv, skopeoTlsArgs, startRegistry, type RunningRegistry } from '../support/registry.js';
import { startFerryServe } from '../support/static-http.js';
import { tarEntries } from '../support/tar-walk.js';
import { signWithOpenssl } from '../support/keyless-ca.js';
import { OCI_INDEX, OCI_MANIFEST, pushBlob, pushCosignSignatureManifest, putManifest, sha256, simpleSigningPayload } from '../support/oci-push.js';

/**
 * Signatures, attestations and referrers travel with their images. Upstream is a real
 * Distribution registry (no referrers API) holding: a cosign-format signature of `app` made with
 * an openssl P-256 key (the sigstore "simple signing" payload, pushed with plain distribution API
 * calls under `sha256-<hex>.sig`), a signature of the `multi` index, an attestation of its
 * amd64 manifest, and an OCI 1.1 SBOM referrer of `app` (pushed with its `subject`, listed in the
 * `sha256-<hex>` fallback index as OCI 1.1 clients do). After import, with the upstream stopped,
 * skopeo pulls `app` and its signature from the mirror and openssl verifies the signature.
 */
let work: string;
let upstream: RunningRegistry;
let target: RunningRegistry;
let seeded: SeededImages;
let manifest: string;
let bundle: string;
let keyFile: string;
let pubFile: string;
let appMirrorRepo: string;
const sig: Record<string, string> = {};
let referrerDigest: string;
let attDigest: string;
let multiSigDigest: string;

const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRY_MIN_MS: '50' });

async function getJson(url: string, accept = `${OCI_INDEX}, ${OCI_MANIFEST}`): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(url, { headers: { accept } });
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: res.status, body, headers: res.headers };
}

/** A cosign signature manifest (the format sigstore's tools and containers/image read), signed by openssl. */
async function pushCosignSignature(repo: string, subject: string, identity: string): Promise<string> {
  const payload = simpleSigningPayload(subject, identity);
  const payloadFile = path.join(work, `payload-${subject.slice(7, 19)}.json`);
  await writeFile(payloadFile, payload);
  const der = await signWithOpenssl(keyFile, payloadFile);
  return pushCosignSignatureManifest(upstream, repo, subject, payload, { 'dev.cosignproject.cosign/signature': der });
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-extras-'));
  keyFile = path.join(work, 'cosign.key');
  pubFile = path.join(work, 'cosign.pub');
  await mustRun('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', keyFile]);
  await mustRun('openssl', ['pkey', '-in', keyFile, '-pubout', '-out', pubFile]);
  upstream = await startRegistry({ mode: 'http' });
  target = await startRegistry({ mode: 'http' });
  seeded = await seedImages(upstream);
  const app = 'ferry-test/app';
  sig.app = await pushCosignSignature(app, seeded.digests.app, `${upstream.host}/${app}`);
  multiSigDigest = await pushCosignSignature('ferry-test/multi', seeded.digests.multi, `${upstream.host}/ferry-test/multi`);

  // An attestation (cosign tag scheme, .att) of the amd64 manifest of the multi-platform index.
  const envelope = await pushBlob(upstream, 'ferry-test/multi', Buffer.from(JSON.stringify({ payloadType: 'application/vnd.in-toto+json', payload: Buffer.from('{}').toString('base64'), signatures: [] })));
  const attConfig = await pushBlob(upstream, 'ferry-test/multi', Buffer.from('{"rootfs":{"type":"layers","diff_ids":[]}}'));
  attDigest = await putManifest(
    upstream,
    'ferry-test/multi',
    `${seeded.platforms['linux/amd64'].replace(':', '-')}.att`,
    Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...attConfig }, layers: [{ mediaType: 'application/vnd.dsse.envelope.v1+json', ...envelope, annotations: { predicateType: 'https://slsa.dev/provenance/v1' } }] })),
    OCI_MANIFEST,
  );

  // An OCI 1.1 referrer: an SPDX SBOM artifact whose subject is app; Distribution 2.8 has no
  // referrers API, so the client keeps the sha256-<hex> fallback index, as oras does.
  const empty = await pushBlob(upstream, app, Buffer.from('{}'));
  const sbom = await pushBlob(upstream, app, Buffer.from(JSON.stringify({ spdxVersion: 'SPDX-2.3', name: 'app' })));
  const appSize = Number((await fetch(`${upstream.url}/v2/${app}/manifests/${seeded.digests.app}`, { method: 'HEAD', headers: { accept: OCI_MANIFEST } })).headers.get('content-length'));
  const referrer = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: 'application/spdx+json',
      config: { mediaType: 'application/vnd.oci.empty.v1+json', ...empty },
      layers: [{ mediaType: 'application/spdx+json', ...sbom }],
      subject: { mediaType: OCI_MANIFEST, digest: seeded.digests.app, size: appSize },
      annotations: { 'org.opencontainers.image.created': '2026-01-01T00:00:00Z' },
    }),
  );
  referrerDigest = await putManifest(upstream, app, sha256(referrer), referrer, OCI_MANIFEST);
  const fallback = { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: referrerDigest, size: referrer.length, artifactType: 'application/spdx+json', annotations: { 'org.opencontainers.image.created': '2026-01-01T00:00:00Z' } }] };
  await putManifest(upstream, app, seeded.digests.app.replace(':', '-'), Buffer.from(JSON.stringify(fallback)), OCI_INDEX);

  manifest = path.join(work, 'app.yaml');
  await writeFile(
    manifest,
    ['apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata: { name: extras }', 'images:', `  - ref: ${seeded.refs.app}`, `  - ref: ${seeded.refs.multi}`, `  - ref: ${seeded.refs.base}`, ''].join('\n'),
  );
  bundle = path.join(work, 'extras.ferry.tar');
}, 600_000);

afterAll(async () => {
  await target?.stop();
  await upstream?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

interface LockedExtra {
  subject: string;
  digest: string;
  tag?: string;
  artifactType?: string;
  via: string;
  blobs: unknown[];
}

describe('extras: lock, bundle, import, serve', () => {
  it('upstream Distribution has no referrers API (so ferry must use the fallback tag)', async () => {
    const r = await fetch(`${upstream.url}/v2/ferry-test/app/referrers/${seeded.digests.app}`);
    expect(r.status).toBe(404);
  });

  it('locks each extra with its digest, subject, tag or artifact type; index children included', async () => {
    const r = await runFerry(['lock', manifest], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    const lock = JSON.parse(await readFile(path.join(work, 'extras.lock.json'), 'utf8')) as { images: Array<{ ref: string; extras?: LockedExtra[] }> };
    const by = (ref: string) => lock.images.find((i) => i.ref === ref)!;
    expect(by(seeded.refs.app).extras!.map(({ blobs: _b, ...e }) => e)).toEqual([
      { subject: seeded.digests.app, digest: referrerDigest, mediaType: OCI_MANIFEST, size: expect.any(Number), artifactType: 'application/spdx+json', via: 'referrers-tag' },
      { subject: seeded.digests.app, digest: sig.app, mediaType: OCI_MANIFEST, size: expect.any(Number), tag: `${seeded.digests.app.replace(':', '-')}.sig`, via: 'tag' },
    ].sort((a, b) => (a.tag ?? '').localeCompare(b.tag ?? '')));
    const multi = by(seeded.refs.multi).extras!;
    expect(multi.map((e) => [e.subject, e.digest, e.tag])).toEqual(
      [
        [seeded.platforms['linux/amd64'], attDigest, `${seeded.platforms['linux/amd64'].replace(':', '-')}.att`],
        [seeded.digests.multi, multiSigDigest, `${seeded.digests.multi.replace(':', '-')}.sig`],
      ].sort((a, b) => a[0].localeCompare(b[0])),
    );
    expect(by(seeded.refs.base).extras).toBeUndefined();
  });

  it("looks up an image's extras several at a time, not one round trip after another", async () => {
    // A proxy that holds every request 40 ms and counts how many are in flight at once.
    let inFlight = 0;
    let most = 0;
    const port = Number(new URL(upstream.url).port);
    const proxy = http.createServer((req, res) => {
      most = Math.max(most, ++inFlight);
      res.on('close', () => inFlight--);
      setTimeout(() => {
        const up = http.request({ host: '127.0.0.1', port, path: req.url, method: req.method, headers: req.headers }, (answer) => {
          res.writeHead(answer.statusCode!, answer.headers);
          answer.pipe(res);
        });
        up.on('error', () => res.destroy());
        req.pipe(up);
      }, 40);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const host = `127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    try {
      const one = path.join(work, 'one.yaml');
      // One single-platform image: its lookups (three cosign tags, the referrers) are all there is to overlap.
      await writeFile(one, ['apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata: { name: one }', 'images:', `  - ref: ${seeded.refs.app.replace(upstream.host, host)}`, ''].join('\n'));
      const r = await runFerry(['lock', one], { env: env() });
      expect(r.code, r.stderr).toBe(0);
      const lock = JSON.parse(await readFile(path.join(work, 'one.lock.json'), 'utf8')) as { images: Array<{ extras?: LockedExtra[] }> };
      expect(lock.images[0].extras).toHaveLength(2);
      expect(most).toBeGreaterThanOrEqual(3);
    } finally {
      proxy.closeAllConnections();
      await new Promise((r) => proxy.close(r));
    }
  });

  it('--no-extras and `extras: false` lock without them', async () => {
    const out = path.join(work, 'no-extras.lock.json');
    const t0 = performance.now();
    const r = await runFerry(['lock', manifest, '--no-extras', '-o', out], { env: env() });
    const t1 = performance.now();
    expect(r.code, r.stderr).toBe(0);
    // The figures for the note (printed, not asserted): extras found and the time discovery adds.
    const withOut = path.join(work, 'with-extras.lock.json');
    const t2 = performance.now();
    expect((await runFerry(['lock', manifest, '-o', withOut], { env: env() })).code).toBe(0);
    const t3 = performance.now();
    const carried = (JSON.parse(await readFile(withOut, 'utf8')) as { images: Array<{ extras?: unknown[] }> }).images.map((i) => i.extras?.length ?? 0);
    console.log(`extras: ${carried.reduce((a, b) => a + b, 0)} extras on ${carried.length} images (${carried.join(', ')}); lock ${Math.round(t3 - t2)} ms with extras, ${Math.round(t1 - t0)} ms with --no-extras`);
    const lock = JSON.parse(await readFile(out, 'utf8')) as { images: Array<{ extras?: unknown }> };
    expect(lock.images.every((i) => i.extras === undefined)).toBe(true);
    const off = path.join(work, 'off.yaml');
    await writeFile(off, ['apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata: { name: off }', 'images:', `  - ref: ${seeded.refs.app}`, '    extras: false', `  - ref: ${seeded.refs.multi}`, ''].join('\n'));
    const r2 = await runFerry(['lock', off], { env: env() });
    expect(r2.code, r2.stderr).toBe(0);
    const lock2 = JSON.parse(await readFile(path.join(work, 'off.lock.json'), 'utf8')) as { images: Array<{ ref: string; extras?: unknown[] }> };
    expect(lock2.images.find((i) => i.ref === seeded.refs.app)!.extras).toBeUndefined();
    expect(lock2.images.find((i) => i.ref === seeded.refs.multi)!.extras).toHaveLength(2);
  });

  it('bundles the extras (manifests and blobs) and the bundle verifies', async () => {
    const r = await runFerry(['bundle', 'create', manifest, '-o', bundle, '--frozen'], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    const v = await runFerry(['bundle', 'verify', bundle, '--json']);
    expect(v.code, v.stderr + v.stdout).toBe(0);
    expect(JSON.parse(v.stdout).images).toBe(3);
    const index = JSON.parse((await mustRun('tar', ['-xOf', bundle, 'index.json'])).stdout) as { manifests: Array<{ digest: string; annotations: Record<string, string> }> };
    expect(index.manifests.map((m) => m.digest)).toEqual(expect.arrayContaining([sig.app, referrerDigest, attDigest, multiSigDigest]));
  });

  it('imports each extra after its subject, digests kept, tags and the referrers fallback index on the target', async () => {
    const file = path.join(work, 'target.yaml');
    await writeFile(file, `apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: t }\nregistry:\n  url: ${target.url}\n  prefix: mirror\n`);
    const r = await runFerry(['import', bundle, '--target', file, '--json'], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { results: Array<{ artifact: string; location: string; skipped: boolean }> };
    const appResult = report.results.find((x) => x.artifact === seeded.refs.app)!;
    appMirrorRepo = appResult.location.replace(/^[^/]+\//, '').replace(/:1$/, '');
    expect(report.results.filter((x) => x.artifact.startsWith(`${seeded.refs.app} `))).toHaveLength(2);
    // Signature under its cosign tag, same digest as upstream.
    const sigTag = `${seeded.digests.app.replace(':', '-')}.sig`;
    const head = await fetch(`${target.url}/v2/${appMirrorRepo}/manifests/${sigTag}`, { method: 'HEAD', headers: { accept: OCI_MANIFEST } });
    expect(head.status).toBe(200);
    expect(head.headers.get('docker-content-digest')).toBe(sig.app);
    // The target (Distribution 2.8) has no referrers API: the fallback index lists the same referrer.
    expect((await fetch(`${target.url}/v2/${appMirrorRepo}/referrers/${seeded.digests.app}`)).status).toBe(404);
    const fallback = await getJson(`${target.url}/v2/${appMirrorRepo}/manifests/${seeded.digests.app.replace(':', '-')}`);
    expect(fallback.status).toBe(200);
    expect(fallback.body.manifests.map((d: { digest: string; artifactType: string }) => [d.digest, d.artifactType])).toEqual([[referrerDigest, 'application/spdx+json']]);
    const referrer = await getJson(`${target.url}/v2/${appMirrorRepo}/manifests/${referrerDigest}`);
    expect(referrer.body.subject.digest).toBe(seeded.digests.app);
    // The multi index's attestation is there for its amd64 child.
    const multiRepo = report.results.find((x) => x.artifact === seeded.refs.multi)!.location.replace(/^[^/]+\//, '').replace(/:1$/, '');
    const att = await fetch(`${target.url}/v2/${multiRepo}/manifests/${seeded.platforms['linux/amd64'].replace(':', '-')}.att`, { method: 'HEAD', headers: { accept: OCI_MANIFEST } });
    expect(att.headers.get('docker-content-digest')).toBe(attDigest);
    // Again: everything is there already.
    const again = await runFerry(['import', bundle, '--target', file, '--json'], { env: env() });
    expect(again.code, again.stderr).toBe(0);
    expect((JSON.parse(again.stdout) as { results: Array<{ skipped: boolean }> }).results.every((x) => x.skipped)).toBe(true);
  });

  it('ferry serve answers the referrers API and the cosign tags from the bundle', async () => {
    const served = await startFerryServe([bundle], { cwd: work });
    try {
      const catalog = await getJson(`${served.url}/v2/_catalog`);
      const repo = (catalog.body.repositories as string[]).find((r) => r.endsWith('ferry-test/app'))!;
      const list = await getJson(`${served.url}/v2/${repo}/referrers/${seeded.digests.app}`);
      expect(list.status).toBe(200);
      expect(list.headers.get('content-type')).toBe(OCI_INDEX);
      expect(list.body.manifests).toEqual([{ mediaType: OCI_MANIFEST, digest: referrerDigest, size: expect.any(Number), artifactType: 'application/spdx+json', annotations: { 'org.opencontainers.image.created': '2026-01-01T00:00:00Z' } }]);
      const filtered = await getJson(`${served.url}/v2/${repo}/referrers/${seeded.digests.app}?artifactType=application/vnd.example`);
      expect(filtered.body.manifests).toEqual([]);
      expect(filtered.headers.get('oci-filters-applied')).toBe('artifactType');
      const none = await getJson(`${served.url}/v2/${repo}/referrers/${seeded.digests.base}`);
      expect(none.body.manifests).toEqual([]);
      const tags = await getJson(`${served.url}/v2/${repo}/tags/list`);
      expect(tags.body.tags).toContain(`${seeded.digests.app.replace(':', '-')}.sig`);
      const blob = await fetch(`${served.url}/v2/${repo}/manifests/${referrerDigest}`, { headers: { accept: OCI_MANIFEST } });
      expect(sha256(Buffer.from(await blob.arrayBuffer()))).toBe(referrerDigest);
    } finally {
      await served.stop();
    }
  });

  it('verify: rules — a signed image passes at bundle create and import; an unsigned one or a wrong key is named with the reason', async () => {
    await mustRun('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', path.join(work, 'other1.key')]);
    await mustRun('openssl', ['pkey', '-in', path.join(work, 'other1.key'), '-pubout', '-out', path.join(work, 'other1.pub')]);
    const prefixRule = ['verify:', `  - images: ${upstream.host}/ferry-test/`, '    keys: [cosign.pub]'];
    const all = path.join(work, 'verify-all.yaml');
    await writeFile(all, ['apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata: { name: verify-all }', ...prefixRule, 'images:', `  - ref: ${seeded.refs.app}`, `  - ref: ${seeded.refs.multi}`, `  - ref: ${seeded.refs.base}`, `  - ref: ${seeded.refs.docker}`, '    verify: { keys: [other1.pub] }', ''].join('\n'));
    const bad = await runFerry(['bundle', 'create', all, '-o', path.join(work, 'bad.ferry.tar')], { env: env() });
    expect(bad.code).toBe(3);
    expect(bad.stderr).toContain('2 images failed signature verification');
    expect(bad.stderr).toContain(`${seeded.refs.base}: no cosign signature of ${seeded.digests.base} is carried`);
    expect(bad.stderr).toContain(`${seeded.refs.docker}: no cosign signature of ${seeded.digests.docker} is carried`);
    // Progress lines name every image; the error's list must not name the signed one.
    expect(bad.stderr.slice(bad.stderr.indexOf('error:'))).not.toContain(`${seeded.refs.app}:`);
    const wrongKey = path.join(work, 'verify-wrong.yaml');
    await writeFile(wrongKey, ['apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata: { name: verify-wrong }', 'images:', `  - ref: ${seeded.refs.app}`, '    verify: { keys: [other1.pub] }', ''].join('\n'));
    const wrong = await runFerry(['lock', wrongKey], { env: env() });
    expect(wrong.code).toBe(3);
    expect(wrong.stderr).toMatch(new RegExp(`${seeded.refs.app}: not signed by other1\\.pub \\(signature in ${sig.app} does not verify with other1\\.pub\\)`));

    const good = path.join(work, 'verify-good.yaml');
    await writeFile(good, ['apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata: { name: verify-good }', ...prefixRule, 'images:', `  - ref: ${seeded.refs.app}`, `  - ref: ${seeded.refs.multi}`, ''].join('\n'));
    const goodBundle = path.join(work, 'verify-good.ferry.tar');
    const created = await runFerry(['bundle', 'create', good, '-o', goodBundle, '--json'], { env: env() });
    expect(created.code, created.stderr).toBe(0);
    expect(JSON.parse(created.stdout).signaturesVerified).toBe(2);
    const file = path.join(work, 'verify-target.yaml');
    await writeFile(file, `apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: v }\nregistry:\n  url: ${target.url}\n  prefix: verified\n`);

    // The policy travels in the bundle; import checks it again, offline. A bundle whose policy now
    // names another key (checksums fixed up, so only the signature check can catch it) is refused.
    const swapped = path.join(work, 'verify-swapped.ferry.tar');
    await mustRun('cp', [goodBundle, swapped]);
    const entries = await tarEntries(swapped);
    const pol = entries.get('ferry/verify-policy.json')!;
    const policyText = (await readFile(swapped)).subarray(pol.offset, pol.offset + pol.size).toString('utf8');
    const swappedText = policyText.replace(JSON.stringify(await readFile(pubFile, 'utf8')), JSON.stringify(await readFile(path.join(work, 'other1.pub'), 'utf8'))).replace('"cosign.pub"', '"other1.pub"');
    expect(swappedText).not.toBe(policyText);
    expect(swappedText.length).toBe(policyText.length);
    const sums = entries.get('ferry/checksums.sha256')!;
    const sumsText = (await readFile(swapped)).subarray(sums.offset, sums.offset + sums.size).toString('utf8');
    const fixed = sumsText.replace(`${sha256(policyText).slice(7)}  ferry/verify-policy.json`, `${sha256(swappedText).slice(7)}  ferry/verify-policy.json`);
    const fh = await open(swapped, 'r+');
    await fh.write(Buffer.from(swappedText), 0, pol.size, pol.offset);
    await fh.write(Buffer.from(fixed), 0, sums.size, sums.offset);
    await fh.close();
    const refused = await runFerry(['import', swapped, '--target', file], { env: env() });
    expect(refused.code, refused.stderr).toBe(3);
    expect(refused.stderr).toContain('failed signature verification at import; nothing was imported');
    expect(refused.stderr).toContain(`${seeded.refs.app}: not signed by other1.pub`);
    const catalog = await getJson(`${target.url}/v2/_catalog`);
    expect((catalog.body.repositories as string[]).filter((r) => r.startsWith('verified/'))).toEqual([]);

    const imported = await runFerry(['import', goodBundle, '--target', file, '--json'], { env: env() });
    expect(imported.code, imported.stderr).toBe(0);
    expect(JSON.parse(imported.stdout).verified.imageSignatures).toBe(2);
  });

  it('from the mirror alone (upstream stopped), skopeo pulls app and its signature, and openssl verifies the signature names that digest', async () => {
    // Debian's skopeo 1.9 is built with sigstore verification disabled ("Debian-local change:
    // sigstore disabled"), so a policy.json with sigstoreSigned cannot be used here; the same
    // check is done by hand with standard tools: skopeo pulls, openssl verifies.
    await upstream.stop();
    const mirror = (name: string) => `docker://${target.host}/${appMirrorRepo.replace(/\/app$/, '')}/${name}`;
    const appDir = path.join(work, 'pulled-app');
    await mustRun('skopeo', ['copy', ...skopeoTlsArgs(target, 'src'), `${mirror('app')}:1`, `dir:${appDir}`], { env: skopeoEnv() });
    const pulledDigest = sha256(await readFile(path.join(appDir, 'manifest.json')));
    expect(pulledDigest).toBe(seeded.digests.app);
    const sigDir = path.join(work, 'pulled-sig');
    await mustRun('skopeo', ['copy', ...skopeoTlsArgs(target, 'src'), `${mirror('app')}:${pulledDigest.replace(':', '-')}.sig`, `dir:${sigDir}`], { env: skopeoEnv() });
    const sigManifest = JSON.parse(await readFile(path.join(sigDir, 'manifest.json'), 'utf8')) as { layers: Array<{ digest: string; mediaType: string; annotations: Record<string, string> }> };
    const layer = sigManifest.layers[0];
    expect(layer.mediaType).toBe('application/vnd.dev.cosign.simplesigning.v1+json');
    const payloadFile = path.join(sigDir, layer.digest.slice(7));
    const payload = JSON.parse(await readFile(payloadFile, 'utf8'));
    expect(payload.critical.image['docker-manifest-digest']).toBe(pulledDigest);
    await writeFile(path.join(sigDir, 'sig.der'), Buffer.from(layer.annotations['dev.cosignproject.cosign/signature'], 'base64'));
    const ok = await runCommand('openssl', ['dgst', '-sha256', '-verify', pubFile, '-signature', path.join(sigDir, 'sig.der'), payloadFile]);
    expect(ok.stdout).toContain('Verified OK');
    // base was never signed: the mirror has no signature for it.
    const baseDigest = sha256(Buffer.from((await mustRun('skopeo', ['inspect', '--raw', ...skopeoTlsArgs(target), `${mirror('base')}:1`], { env: skopeoEnv() })).stdout));
    const none = await runCommand('skopeo', ['inspect', '--raw', ...skopeoTlsArgs(target), `${mirror('base')}:${baseDigest.replace(':', '-')}.sig`], { env: skopeoEnv() });
    expect(none.code).not.toBe(0);
  });
});
