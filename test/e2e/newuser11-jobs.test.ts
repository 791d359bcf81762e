import { access, copyFile, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlobStore } from '../../src/store/blob-store.js';
import { packBundle } from '../../src/store/bundle-pack.js';
import { mustRun, runFerry } from '../support/cli.js';
import { seedImages, skopeoRawManifest, type SeededImages } from '../support/images.js';
import { makeCa, makeLeaf, signWithOpenssl, type TestCa, type TestLeaf } from '../support/keyless-ca.js';
import { pushCosignSignatureManifest, sha256, simpleSigningPayload } from '../support/oci-push.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';
import { flipByte, tarEntries } from '../support/tar-walk.js';

/**
 * A supply-chain security engineer's job (new-user round 11): at a bank, prove that nothing from
 * outside can hurt the site. Images signed with cosign keys (key A for the team's images, a
 * Fulcio-like keyless certificate for the CI-built one, made with openssl) are carried with their
 * `.sig` tags; a `verify:` policy must refuse an unsigned image, a wrong key, a signature over
 * another digest and an expired certificate at lock, bundle create and import; the bundle is
 * signed and every tampered piece (a blob, the lock, the SBOM, the policy) is refused by
 * `bundle verify --key` naming the file; after import the site registry holds the cosign tags at
 * the upstream digests (what `cosign verify` reads). Everything against a real Distribution
 * registry on loopback, signatures made with openssl.
 *
 * What tripped:
 * - A rule that covers no image was silently ignored. The engineer wrote the Docker-Hub short
 *   form (`images: ferry-test/`, as `docker pull` accepts), which never matches the normalized
 *   references the rules are compared with: `lock` and `bundle create` said `signaturesVerified: 1`
 *   and carried an image signed by another key and an unsigned one — a policy that checks
 *   nothing looks exactly like one that passed. Now such a rule is refused at lock, bundle create
 *   and import, named, with the normalized form suggested (`did you mean docker.io/ferry-test/?`).
 * - Two rules covering one image were OR-ed: a prefix rule "everything under team/ signed by key
 *   A" plus the image's own "keyless, by ci@bank from our IdP" let a key-A signature stand in for
 *   the CI certificate, so the stricter rule was never enforced. cosign's policy-controller
 *   requires every matching policy; ferry now does too (within one rule any key or certificate
 *   still suffices), and the README says so.
 * - The SBOM's Debian packages were all `pkg:deb/debian/…?distro=<suite>`. Grype and Trivy read
 *   `distro` as `<id>-<version>` and choose the vulnerability feed by it: `distro=bookworm` names
 *   no distribution they know (no deb matched: a clean scan that scanned nothing), and packages
 *   from archive.ubuntu.com under `debian` would be matched against Debian's feed. Now
 *   `pkg:deb/ubuntu/…?distro=ubuntu-24.04`, `pkg:deb/debian/…?distro=debian-12` (a `-security`
 *   / `-updates` suite is its release), and no `distro` for a suite whose release is not known.
 * - `import --json` gave a signature's place as `mirror/…/app:sha256-….sig`, without the registry
 *   (the image's own line has it), so it could not be handed to `skopeo inspect` or cosign as is.
 * - `import` read the bundle's verify policy and lock before checking them against the signed
 *   checksum list (a one-pass import hashes the rest while sending): a changed policy was
 *   reported as `ferry/verify-policy.json: not a verification policy`, and a changed one that
 *   still parsed (another key, no rules) decided the image check. Both files are now matched
 *   against `ferry/checksums.sha256` first and refused by name (`sbom` shares the check).
 * - An Ed25519 cosign key (`cosign import-key-pair` takes one; cosign verifies pure EdDSA) was
 *   loaded, then every signature was "does not verify with ed.pub": ferry asked Node for
 *   ECDSA-style SHA-256 with an Ed25519 key, which throws. Ed25519 keys now verify.
 */
let work: string;
let upstream: RunningRegistry;
let target: RunningRegistry;
let seeded: SeededImages;
let ca: TestCa;
let leaf: TestLeaf;
const ISSUER = 'https://idp.bank.example';
const IDENTITY = 'ci@bank.example';
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRY_MIN_MS: '50' });
const k = (name: string) => path.join(work, name);

/** Sign `subject` (a `.sig` tag in `repo`); the payload may name another digest. */
async function cosignSign(repo: string, subject: string, keyFile: string, opts: { named?: string; keyless?: { rekorTime?: number } } = {}): Promise<string> {
  const payload = simpleSigningPayload(opts.named ?? subject, `${upstream.host}/${repo}`);
  const file = k(`payload-${subject.slice(7, 19)}.json`);
  await writeFile(file, payload);
  const annotations: Record<string, string> = { 'dev.cosignproject.cosign/signature': await signWithOpenssl(keyFile, file) };
  if (opts.keyless) {
    annotations['dev.sigstore.cosign/certificate'] = leaf.certPem;
    annotations['dev.sigstore.cosign/chain'] = ca.intermediatePem + ca.rootPem;
    if (opts.keyless.rekorTime !== undefined) annotations['dev.sigstore.cosign/bundle'] = JSON.stringify({ SignedEntryTimestamp: '', Payload: { body: '', integratedTime: opts.keyless.rekorTime, logIndex: 1, logID: 'x' } });
  }
  return pushCosignSignatureManifest(upstream, repo, subject, payload, annotations);
}

async function manifest(name: string, lines: string[]): Promise<string> {
  const file = k(`${name}.yaml`);
  await writeFile(file, ['apiVersion: ferry/v1alpha1', 'kind: Manifest', `metadata: { name: ${name} }`, ...lines, ''].join('\n'));
  return file;
}

const exists = (p: string) => access(p).then(() => true, () => false);
const keyless = `{ trustedRoot: fulcio.pem, certificateIdentity: ${JSON.stringify(IDENTITY)}, certificateOidcIssuer: ${JSON.stringify(ISSUER)} }`;
const sigTag = (d: string) => `${d.replace(':', '-')}.sig`;
const sig: Record<string, string> = {};

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-newuser11-'));
  for (const name of ['a', 'b', 'bundle']) {
    await mustRun('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', k(`${name}.key`)]);
    await mustRun('openssl', ['pkey', '-in', k(`${name}.key`), '-pubout', '-out', k(`${name}.pub`)]);
  }
  ca = await makeCa(work, 'fulcio');
  leaf = await makeLeaf(ca, work, 'ci', { email: IDENTITY, issuer: ISSUER });
  await copyFile(ca.rootFile, k('fulcio.pem'));
  upstream = await startRegistry({ mode: 'http' });
  target = await startRegistry({ mode: 'http' });
  seeded = await seedImages(upstream);
  // app: key A. base: key B (the wrong one). docker: key A over app's digest. multi: keyless,
  // and (in its own repo copy, see the AND test) key A only.
  sig.app = await cosignSign('ferry-test/app', seeded.digests.app, k('a.key'));
  sig.base = await cosignSign('ferry-test/base', seeded.digests.base, k('b.key'));
  sig.docker = await cosignSign('ferry-test/docker', seeded.digests.docker, k('a.key'), { named: seeded.digests.app });
  sig.multi = await cosignSign('ferry-test/multi', seeded.digests.multi, leaf.keyFile, { keyless: {} });
}, 600_000);

afterAll(async () => {
  await target?.stop();
  await upstream?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('newuser11: a supply-chain security engineer proves nothing from outside can hurt the site', () => {
  it('signed images travel with their .sig tags at the upstream digests; a signed bundle is checked on the site and each tampered file is named', async () => {
    const m = await manifest('bank', ['verify:', `  - images: ${upstream.host}/ferry-test/app`, '    keys: [a.pub]', 'images:', `  - ref: ${seeded.refs.app}`, `  - ref: ${seeded.refs.multi}`, `    verify: ${keyless}`]);
    const bundle = k('bank.ferry.tar');
    const created = await runFerry(['bundle', 'create', m, '-o', bundle, '--sign-key', k('bundle.key'), '--json'], { env: env() });
    expect(created.code, created.stderr).toBe(0);
    expect(JSON.parse(created.stdout).signaturesVerified).toBe(2);
    // The lock carries exactly the extras upstream has, at the digests skopeo reads.
    const lock = JSON.parse(await readFile(k('bank.lock.json'), 'utf8')) as { images: Array<{ ref: string; extras: Array<{ tag?: string; digest: string; subject: string }> }> };
    for (const [name, ref] of [['app', seeded.refs.app], ['multi', seeded.refs.multi]] as const) {
      const extras = lock.images.find((i) => i.ref === ref)!.extras;
      expect(extras.map((e) => [e.subject, e.tag, e.digest])).toEqual([[seeded.digests[name], sigTag(seeded.digests[name]), sig[name]]]);
      expect(sha256(await skopeoRawManifest(upstream, `${upstream.host}/ferry-test/${name}:${sigTag(seeded.digests[name])}`))).toBe(sig[name]);
    }

    const ok = await runFerry(['bundle', 'verify', bundle, '--key', k('bundle.pub')], { env: env() });
    expect(ok.code, ok.stderr).toBe(0);
    for (const entry of ['ferry/verify-policy.json', 'ferry/lock.json', 'ferry/sbom.cdx.json', `blobs/sha256/${sig.app.slice(7)}`]) {
      const altered = k('altered.ferry.tar');
      await copyFile(bundle, altered);
      await flipByte(altered, entry, 5);
      const v = await runFerry(['bundle', 'verify', altered, '--key', k('bundle.pub')], { env: env() });
      expect(v.code, entry).toBe(3);
      expect(v.stderr).toContain(entry.startsWith('blobs/') ? sig.app : `${entry}: checksum mismatch`);
    }
    const wrongKey = await runFerry(['bundle', 'verify', bundle, '--key', k('a.pub')], { env: env() });
    expect(wrongKey.code).toBe(3);
    expect(wrongKey.stderr).toContain('ferry/checksums.sha256.sig does not verify with this key');

    // A signature lifted from another bundle signed with the same key: the list it signed is not this one.
    const other = await manifest('other', ['images:', `  - ref: ${seeded.refs.base}`]);
    const otherBundle = k('other.ferry.tar');
    const sigOf = async (tar: string) => {
      const e = (await tarEntries(tar)).get('ferry/checksums.sha256.sig')!;
      const fh = await open(tar, 'r');
      try {
        const b = Buffer.alloc(e.size);
        await fh.read(b, 0, e.size, e.offset);
        return { ...e, bytes: b };
      } finally {
        await fh.close();
      }
    };
    // ECDSA signatures are 92 or 96 base64 characters: sign until the two are the same length, then swap in place.
    let theirs: Awaited<ReturnType<typeof sigOf>> | undefined;
    const ours = await sigOf(bundle);
    for (let i = 0; i < 8 && theirs?.size !== ours.size; i++) {
      expect((await runFerry(['bundle', 'create', other, '-o', otherBundle, '--sign-key', k('bundle.key')], { env: env() })).code).toBe(0);
      theirs = await sigOf(otherBundle);
    }
    expect(theirs!.size).toBe(ours.size);
    await copyFile(bundle, k('swapped.ferry.tar'));
    const fh = await open(k('swapped.ferry.tar'), 'r+');
    await fh.write(theirs!.bytes, 0, ours.size, ours.offset);
    await fh.close();
    const unsigned = k('unsigned.ferry.tar');
    expect((await runFerry(['bundle', 'create', other, '-o', unsigned], { env: env() })).code).toBe(0);
    const swapped = await runFerry(['bundle', 'verify', k('swapped.ferry.tar'), '--key', k('bundle.pub')], { env: env() });
    expect(swapped.code).toBe(3);
    expect(swapped.stderr).toContain('ferry/checksums.sha256.sig does not verify with this key over ferry/checksums.sha256');
    const noSig = await runFerry(['bundle', 'verify', unsigned, '--key', k('bundle.pub')], { env: env() });
    expect(noSig.code).toBe(3);
    expect(noSig.stderr).toMatch(/unsigned|not signed|no ferry\/checksums\.sha256\.sig/);

    const t = k('site.yaml');
    await writeFile(t, `apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: site }\nregistry:\n  url: ${target.url}\n  prefix: mirror\n`);
    // On the site: a tampered policy in the signed bundle is refused before anything is sent.
    const altered = k('altered-policy.ferry.tar');
    await copyFile(bundle, altered);
    await flipByte(altered, 'ferry/verify-policy.json', 5);
    const refused = await runFerry(['import', altered, '--target', t, '--key', k('bundle.pub')], { env: env() });
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain('ferry/verify-policy.json does not match ferry/checksums.sha256 (it says');
    expect(refused.stderr).toContain('image signatures were not checked and nothing was imported');
    expect((await fetch(`${target.url}/v2/_catalog`).then((r) => r.json())) as unknown).toEqual({ repositories: [] });
    const imported = await runFerry(['import', bundle, '--target', t, '--key', k('bundle.pub'), '--json'], { env: env() });
    expect(imported.code, imported.stderr).toBe(0);
    const report = JSON.parse(imported.stdout) as { verified: unknown; results: Array<{ artifact: string; location: string }> };
    expect(report.verified).toMatchObject({ signature: 'verified', imageSignatures: 2 });
    // The signature's place is a reference the engineer can hand to cosign/skopeo, host included, like the image's.
    const appSig = report.results.find((x) => x.artifact === `${seeded.refs.app} ${sigTag(seeded.digests.app)}`)!;
    expect(appSig.location).toBe(`${target.host}/mirror/${upstream.host.replace(':', '-')}/ferry-test/app:${sigTag(seeded.digests.app)}`);
    // What cosign verify reads on the site: the .sig tag next to the image, same bytes.
    for (const name of ['app', 'multi'] as const) {
      const site = `${target.host}/mirror/${upstream.host.replace(':', '-')}/ferry-test/${name}`;
      expect(sha256(await skopeoRawManifest(target, `${site}:${sigTag(seeded.digests[name])}`))).toBe(sig[name]);
      expect(sha256(await skopeoRawManifest(target, `${site}:1`))).toBe(seeded.digests[name]);
    }
  });

  it('refuses a wrong key, a signature over another digest and an expired certificate, naming each image and why; nothing written', async () => {
    await cosignSign('ferry-test/expired', seeded.digests.app, leaf.keyFile, { keyless: { rekorTime: 946684800 } });
    await mustRun('skopeo', ['copy', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${seeded.refs.app}`, `docker://${upstream.host}/ferry-test/expired:1`]);
    const m = await manifest('refused', [
      'verify:',
      `  - images: ${upstream.host}/ferry-test/`,
      '    keys: [a.pub]',
      'images:',
      `  - ref: ${seeded.refs.app}`,
      `  - ref: ${seeded.refs.base}`,
      `  - ref: ${seeded.refs.docker}`,
      `  - ref: ${upstream.host}/ferry-test/expired:1`,
      `    verify: ${keyless}`,
    ]);
    const r = await runFerry(['bundle', 'create', m, '-o', k('refused.ferry.tar')], { env: env() });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('3 images failed signature verification at bundle create; nothing was written');
    expect(r.stderr).toContain(`${seeded.refs.base}: not signed by a.pub (signature in ${sig.base} does not verify with a.pub)`);
    expect(r.stderr).toContain(`${seeded.refs.docker}: not signed by a.pub (signature in ${sig.docker} (key a.pub) is over ${seeded.digests.app}, not ${seeded.digests.docker})`);
    // Under the prefix rule (key A) and its own keyless rule: both reasons, on one line.
    const expired = r.stderr.split('\n').find((l) => l.includes(`${upstream.host}/ferry-test/expired:1: not signed`))!;
    expect(expired).toContain(`not signed by a certificate for ${IDENTITY} from ${ISSUER} under fulcio.pem`);
    expect(expired).toContain('certificate is not valid at 2000-01-01T00:00:00.000Z');
    expect(expired).toContain('does not verify with a.pub');
    expect(await exists(k('refused.ferry.tar'))).toBe(false);
  });

  it('a rule that covers no image (the Docker-Hub short form) is refused, named, not silently skipped', async () => {
    const m = await manifest('short-form', ['verify:', `  - images: ${upstream.host}/ferry-test/app`, '    keys: [a.pub]', '  - images: ferry-test/', '    keys: [a.pub]', 'images:', `  - ref: ${seeded.refs.app}`, `  - ref: ${seeded.refs.base}`]);
    const locked = await runFerry(['lock', m], { env: env() });
    expect(locked.code, locked.stdout).toBe(3);
    expect(locked.stderr).toContain('1 verify rule covers no image at lock; nothing was written');
    expect(locked.stderr).toContain('verify rule `images: ferry-test/` covers none of the 2 images, so it checks nothing');
    expect(locked.stderr).toContain('did you mean docker.io/ferry-test/?');
    expect(await exists(k('short-form.lock.json'))).toBe(false);
    const created = await runFerry(['bundle', 'create', m, '-o', k('short-form.ferry.tar')], { env: env() });
    expect(created.code).toBe(3);
    expect(created.stderr).toContain('verify rule `images: ferry-test/` covers none of the 2 images');
    expect(await exists(k('short-form.ferry.tar'))).toBe(false);
  });

  it("an image's own keyless rule is enforced even when a prefix rule's key also signed it (every matching rule must hold)", async () => {
    await mustRun('skopeo', ['copy', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${seeded.refs.app}`, `docker://${upstream.host}/ferry-test/cibuilt:1`]);
    const signed = await cosignSign('ferry-test/cibuilt', seeded.digests.app, k('a.key'));
    const m = await manifest('both-rules', ['verify:', `  - images: ${upstream.host}/ferry-test/`, '    keys: [a.pub]', 'images:', `  - ref: ${seeded.refs.app}`, `  - ref: ${upstream.host}/ferry-test/cibuilt:1`, `    verify: ${keyless}`]);
    const r = await runFerry(['lock', m], { env: env() });
    expect(r.code, r.stdout).toBe(3);
    expect(r.stderr).toContain('1 image failed signature verification at lock');
    expect(r.stderr).toContain(`${upstream.host}/ferry-test/cibuilt:1: not signed by a certificate for ${IDENTITY} from ${ISSUER} under fulcio.pem (signature in ${signed} carries no certificate (not a keyless signature))`);
    expect(r.stderr.slice(r.stderr.indexOf('error:'))).not.toContain(`${seeded.refs.app}:`);
  });

  it('the SBOM names Debian and Ubuntu packages the way Grype and Trivy read them (vendor and distro-version)', async () => {
    const store = new BlobStore(k('empty-store'));
    await store.init();
    const deb = (name: string, version: string) => ({ name, version, architecture: 'amd64', filename: `pool/main/${name[0]}/${name}/${name}_${version}_amd64.deb`, sha256: sha256(name + version).slice(7), size: 1000 });
    const repo = (name: string, url: string, suite: string, pkg: ReturnType<typeof deb>) => ({ name, url, mode: 'filtered', components: ['main'], architectures: ['amd64'], packages: [pkg.name], suites: [{ suite, signedBy: 'ABCD', release: [], indexes: [], packages: [pkg] }] });
    const lock = {
      apiVersion: 'ferry/v1alpha1',
      kind: 'Lock',
      manifest: { name: 'os-pkgs', digest: sha256('os-pkgs') },
      images: [],
      apt: [
        repo('ubuntu', 'http://archive.ubuntu.com/ubuntu', 'noble-security', deb('openssl', '3.0.13-0ubuntu3.5')),
        repo('debian', 'http://deb.debian.org/debian-security', 'bookworm-security', deb('libssl3', '3.0.15-1~deb12u1')),
        repo('docker', 'https://download.docker.com/linux/ubuntu', 'jammy', deb('containerd.io', '1.7.22-1')),
        repo('k8s', 'https://pkgs.k8s.io/core:/stable:/v1.31/deb', '/', deb('kubelet', '1.31.1-1.1')),
      ],
    };
    const b = k('os-pkgs.ferry.tar');
    await packBundle({ store, index: { schemaVersion: 2, manifests: [] }, metadata: { manifestYaml: 'x', lock: JSON.stringify(lock), manifestName: 'os-pkgs' }, output: b });
    const cdx = await runFerry(['sbom', b]);
    expect(cdx.code, cdx.stderr).toBe(0);
    const purls = (JSON.parse(cdx.stdout) as { components: Array<{ purl: string }> }).components.map((c) => c.purl).sort();
    expect(purls).toEqual([
      'pkg:deb/debian/kubelet@1.31.1-1.1?arch=amd64',
      'pkg:deb/debian/libssl3@3.0.15-1~deb12u1?arch=amd64&distro=debian-12',
      'pkg:deb/ubuntu/containerd.io@1.7.22-1?arch=amd64&distro=ubuntu-22.04',
      'pkg:deb/ubuntu/openssl@3.0.13-0ubuntu3.5?arch=amd64&distro=ubuntu-24.04',
    ]);
    const spdx = JSON.parse((await runFerry(['sbom', b, '--format', 'spdx'])).stdout) as { packages: Array<{ externalRefs: Array<{ referenceLocator: string }> }> };
    expect(spdx.packages.map((p) => p.externalRefs[0].referenceLocator).sort()).toEqual(purls);
  });

  it('an Ed25519 cosign key verifies its signature (and still refuses another digest)', async () => {
    await mustRun('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', k('ed.key')]);
    await mustRun('openssl', ['pkey', '-in', k('ed.key'), '-pubout', '-out', k('ed.pub')]);
    const edSign = async (repo: string, subject: string, named: string) => {
      const payload = simpleSigningPayload(named, `${upstream.host}/${repo}`);
      const file = k(`ed-payload-${repo.replace('/', '-')}.json`);
      await writeFile(file, payload);
      const signature = (await mustRun('sh', ['-c', `openssl pkeyutl -sign -inkey "${k('ed.key')}" -rawin -in "${file}" | base64 -w0`])).stdout.trim();
      return pushCosignSignatureManifest(upstream, repo, subject, payload, { 'dev.cosignproject.cosign/signature': signature });
    };
    for (const repo of ['ferry-test/ed-good', 'ferry-test/ed-other']) await mustRun('skopeo', ['copy', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${seeded.refs.base}`, `docker://${upstream.host}/${repo}:1`]);
    await edSign('ferry-test/ed-good', seeded.digests.base, seeded.digests.base);
    const otherSig = await edSign('ferry-test/ed-other', seeded.digests.base, seeded.digests.app);
    const good = await manifest('ed-good', ['verify:', `  - images: ${upstream.host}/ferry-test/ed-`, '    keys: [ed.pub]', 'images:', `  - ref: ${upstream.host}/ferry-test/ed-good:1`]);
    const created = await runFerry(['bundle', 'create', good, '-o', k('ed.ferry.tar'), '--json'], { env: env() });
    expect(created.code, created.stderr).toBe(0);
    expect(JSON.parse(created.stdout).signaturesVerified).toBe(1);
    const bad = await manifest('ed-other', ['verify:', `  - images: ${upstream.host}/ferry-test/ed-`, '    keys: [ed.pub]', 'images:', `  - ref: ${upstream.host}/ferry-test/ed-other:1`]);
    const r = await runFerry(['lock', bad], { env: env() });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`${upstream.host}/ferry-test/ed-other:1: not signed by ed.pub (signature in ${otherSig} (key ed.pub) is over ${seeded.digests.app}, not ${seeded.digests.base})`);
  });
});
