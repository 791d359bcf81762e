import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../support/cli.js';
import { OCI_INDEX, OCI_MANIFEST, pushBlob, putManifest, sha256 } from '../support/oci-push.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';

/**
 * A security team's job (new-user round 25): carry the non-image OCI artifacts their scanners and
 * policy engines pull to the air-gapped side, as sites do with `oras copy` or Zarf/Hauler: the
 * Trivy vulnerability DB (`trivy-db:2`, an ORAS 1.x manifest: `artifactType`
 * `application/vnd.aquasec.trivy.config.v1+json`, the empty config with its `data`, one
 * `application/vnd.aquasec.trivy.db.layer.v1.tar+gzip` layer titled `db.tar.gz`) and the Java DB
 * (`trivy-java-db:1`, the older form: the Trivy config type as the config), a policy bundle pushed
 * with ORAS (empty config, custom layer types, `org.opencontainers.image.title` annotations) with an
 * SBOM referrer attached to it (OCI 1.1 `subject`, listed in the `sha256-<hex>` fallback index
 * since Distribution 2.8 has no referrers API), and the fleet's Kubernetes manifests as a Flux
 * `OCIRepository` artifact (`application/vnd.cncf.flux.config.v1+json`, `flux push artifact`'s
 * source/revision annotations). All listed under `images:` (the README's "OCI artifacts" paragraph),
 * locked, bundled, imported into a real docker-registry on loopback; then the Flux source and the
 * scanner configuration rewritten and audited. Artifacts written with plain distribution API calls.
 *
 * Checked and held: every artifact reaches the mirror byte for byte (same manifest digest, media
 * types, `artifactType`, the empty config's `data`, annotations), and the referrer of the policy
 * bundle is on the mirror by digest and in its subject's `sha256-<hex>` fallback index.
 *
 * What tripped:
 * - `rewrite manifests` read every Flux `OCIRepository` as a chart source: one whose artifact is
 *   the fleet's manifests, carried under `images:`, failed with `no chart from oci://…/acme is in
 *   the lock` and nothing was written, so Flux kept pulling from upstream. Now `spec.url` is pointed
 *   at the mirror repository (`oci://<mirror>/…/acme/manifests`, `spec.ref` kept); a tag the lock
 *   does not carry is reported with the tags it does.
 * - `audit` called that OCIRepository's URL a bare `undeclared` reference with no note, though the
 *   manifest carries the artifact: nothing said it was carried nor that source-controller fetches
 *   the URL as written (no registry mirror redirects it). The note now says both, naming the mirror
 *   URL and `ferry rewrite manifests`.
 * - The README said nothing of OCI artifacts that are not images: where they go (`images:`), that
 *   they are carried byte for byte, and that Trivy's `--db-repository` or a Flux `OCIRepository`
 *   must be pointed at the mirror name `ferry map` prints (no containerd/CRI-O mirror redirects
 *   them). It does now.
 */
let work: string;
let upstream: RunningRegistry;
let target: RunningRegistry;
let manifest: string;
let site: string;
let bundle: string;
const pushed: Record<string, { digest: string; bytes: Buffer }> = {};
let referrerDigest: string;
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRY_MIN_MS: '50' });
const EMPTY_CONFIG = 'application/vnd.oci.empty.v1+json';
const mirrorRepo = (repo: string) => `mirror/${upstream.host.replace(':', '-')}/${repo}`;

interface ArtifactSpec {
  artifactType?: string;
  configType: string;
  configBytes?: Buffer;
  layers: { mediaType: string; bytes: Buffer; annotations?: Record<string, string> }[];
  subject?: { mediaType: string; digest: string; size: number };
  annotations?: Record<string, string>;
}

/** An OCI artifact as ORAS / flux / trivy's publisher write it: key order and fields as theirs. */
async function pushArtifact(repo: string, tag: string | undefined, m: ArtifactSpec): Promise<{ digest: string; bytes: Buffer }> {
  const cfg = await pushBlob(upstream, repo, m.configBytes ?? Buffer.from('{}'));
  const layers = [];
  for (const l of m.layers) layers.push({ mediaType: l.mediaType, ...(await pushBlob(upstream, repo, l.bytes)), ...(l.annotations ? { annotations: l.annotations } : {}) });
  const doc: Record<string, unknown> = { schemaVersion: 2, mediaType: OCI_MANIFEST };
  if (m.artifactType) doc.artifactType = m.artifactType;
  doc.config = { mediaType: m.configType, ...cfg, ...(m.configType === EMPTY_CONFIG ? { data: 'e30=' } : {}) };
  doc.layers = layers;
  if (m.subject) doc.subject = m.subject;
  if (m.annotations) doc.annotations = m.annotations;
  const bytes = Buffer.from(JSON.stringify(doc));
  const digest = await putManifest(upstream, repo, tag ?? sha256(bytes), bytes, OCI_MANIFEST);
  return { digest, bytes };
}

async function getRaw(url: string): Promise<{ status: number; bytes: Buffer }> {
  const res = await fetch(url, { headers: { accept: `${OCI_MANIFEST}, ${OCI_INDEX}` } });
  return { status: res.status, bytes: Buffer.from(await res.arrayBuffer()) };
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-newuser25-'));
  [upstream, target] = await Promise.all([startRegistry({ mode: 'http' }), startRegistry({ mode: 'http' })]);
  pushed.trivyDb = await pushArtifact('aquasecurity/trivy-db', '2', {
    artifactType: 'application/vnd.aquasec.trivy.config.v1+json',
    configType: EMPTY_CONFIG,
    layers: [{ mediaType: 'application/vnd.aquasec.trivy.db.layer.v1.tar+gzip', bytes: Buffer.from('trivy vulnerability db (tar+gzip)'), annotations: { 'org.opencontainers.image.title': 'db.tar.gz' } }],
    annotations: { 'org.opencontainers.image.created': '2026-12-06T00:00:00Z' },
  });
  pushed.javaDb = await pushArtifact('aquasecurity/trivy-java-db', '1', {
    configType: 'application/vnd.aquasec.trivy.config.v1+json',
    layers: [{ mediaType: 'application/vnd.aquasec.trivy.javadb.layer.v1.tar+gzip', bytes: Buffer.from('trivy java db (tar+gzip)'), annotations: { 'org.opencontainers.image.title': 'javadb.tar.gz' } }],
  });
  pushed.policy = await pushArtifact('acme/policies', 'v3', {
    artifactType: 'application/vnd.acme.policy.bundle.v1',
    configType: EMPTY_CONFIG,
    layers: [
      { mediaType: 'application/vnd.cncf.kyverno.policy.layer.v1+yaml', bytes: Buffer.from('apiVersion: kyverno.io/v1\nkind: ClusterPolicy\n'), annotations: { 'org.opencontainers.image.title': 'require-labels.yaml' } },
      { mediaType: 'application/vnd.cncf.openpolicyagent.policy.layer.v1+rego', bytes: Buffer.from('package acme\n'), annotations: { 'org.opencontainers.image.title': 'acme.rego' } },
    ],
    annotations: { 'org.opencontainers.image.created': '2026-12-06T00:00:00Z' },
  });
  pushed.flux = await pushArtifact('acme/manifests', 'latest', {
    configType: 'application/vnd.cncf.flux.config.v1+json',
    layers: [{ mediaType: 'application/vnd.cncf.flux.content.v1.tar+gzip', bytes: Buffer.from('fleet manifests (tar+gzip)') }],
    annotations: { 'org.opencontainers.image.created': '2026-12-06T00:00:00Z', 'org.opencontainers.image.revision': 'main@sha1:0123456789abcdef', 'org.opencontainers.image.source': 'https://github.com/acme/fleet' },
  });
  // An SBOM of the policy bundle attached as an OCI 1.1 referrer, listed in the fallback index as oras does on Distribution 2.8.
  const ref = await pushArtifact('acme/policies', undefined, {
    artifactType: 'application/spdx+json',
    configType: EMPTY_CONFIG,
    layers: [{ mediaType: 'application/spdx+json', bytes: Buffer.from('{"spdxVersion":"SPDX-2.3"}'), annotations: { 'org.opencontainers.image.title': 'sbom.spdx.json' } }],
    subject: { mediaType: OCI_MANIFEST, digest: pushed.policy.digest, size: pushed.policy.bytes.length },
  });
  referrerDigest = ref.digest;
  const fallback = { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: ref.digest, size: ref.bytes.length, artifactType: 'application/spdx+json' }] };
  await putManifest(upstream, 'acme/policies', pushed.policy.digest.replace(':', '-'), Buffer.from(JSON.stringify(fallback)), OCI_INDEX);

  const h = upstream.host;
  manifest = path.join(work, 'security.yaml');
  await writeFile(
    manifest,
    ['apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata: { name: security }', 'images:', ...['aquasecurity/trivy-db:2', 'aquasecurity/trivy-java-db:1', 'acme/policies:v3', 'acme/manifests:latest'].map((r) => `  - ref: ${h}/${r}`), ''].join('\n'),
  );
  site = path.join(work, 'site.yaml');
  await writeFile(site, `apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: site }\nregistry:\n  url: ${target.url}\n  prefix: mirror\n`);
  bundle = path.join(work, 'security.ferry.tar');
  for (const args of [['lock', manifest], ['bundle', 'create', manifest, '-o', bundle], ['import', bundle, '--target', site]]) {
    const r = await runFerry(args, { env: env() });
    expect(r.code, `ferry ${args.join(' ')}\n${r.stdout}${r.stderr}`).toBe(0);
  }
}, 180_000);

afterAll(async () => {
  await Promise.all([upstream?.stop(), target?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
});

describe('OCI artifacts that are not images (checked, held)', () => {
  it('every artifact is on the mirror byte for byte: media types, artifactType, the empty config data, annotations', async () => {
    for (const [name, repo, tag] of [['trivyDb', 'aquasecurity/trivy-db', '2'], ['javaDb', 'aquasecurity/trivy-java-db', '1'], ['policy', 'acme/policies', 'v3'], ['flux', 'acme/manifests', 'latest']] as const) {
      const got = await getRaw(`${target.url}/v2/${mirrorRepo(repo)}/manifests/${tag}`);
      expect(got.status, repo).toBe(200);
      expect(got.bytes.equals(pushed[name].bytes), repo).toBe(true);
    }
    const trivy = JSON.parse(pushed.trivyDb.bytes.toString());
    const blob = await fetch(`${target.url}/v2/${mirrorRepo('aquasecurity/trivy-db')}/blobs/${trivy.layers[0].digest}`);
    expect(Buffer.from(await blob.arrayBuffer()).toString()).toBe('trivy vulnerability db (tar+gzip)');
  });

  it("the policy bundle's SBOM referrer is on the mirror by digest and in the sha256-<hex> fallback index", async () => {
    const repo = mirrorRepo('acme/policies');
    expect((await getRaw(`${target.url}/v2/${repo}/manifests/${referrerDigest}`)).status).toBe(200);
    const idx = await getRaw(`${target.url}/v2/${repo}/manifests/${pushed.policy.digest.replace(':', '-')}`);
    expect(idx.status).toBe(200);
    expect(JSON.parse(idx.bytes.toString()).manifests.map((d: { digest: string; artifactType: string }) => [d.digest, d.artifactType])).toEqual([[referrerDigest, 'application/spdx+json']]);
  });

  it('`ferry map` prints the mirror names to give Trivy (--db-repository, --java-db-repository)', async () => {
    const r = await runFerry(['map', bundle, '--target', site, '--json'], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    const text = r.stdout;
    expect(text).toContain(`${target.host}/${mirrorRepo('aquasecurity/trivy-db')}:2`);
    expect(text).toContain(`${target.host}/${mirrorRepo('aquasecurity/trivy-java-db')}:1`);
  });
});

describe('a Flux OCIRepository whose artifact is carried under images:', () => {
  const fluxSource = (url: string, tag: string) =>
    `apiVersion: source.toolkit.fluxcd.io/v1beta2\nkind: OCIRepository\nmetadata:\n  name: fleet\n  namespace: flux-system\nspec:\n  interval: 5m\n  url: ${url}\n  ref:\n    tag: ${tag}\n`;

  it('`rewrite manifests` points spec.url at the mirror repository and keeps spec.ref', async () => {
    const dir = path.join(work, 'gitops');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'fleet.yaml'), fluxSource(`oci://${upstream.host}/acme/manifests`, 'latest'));
    const r = await runFerry(['rewrite', 'manifests', dir, '--target', site, '--bundle', bundle], { env: env() });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const out = await readFile(path.join(dir, 'fleet.yaml'), 'utf8');
    expect(out).toBe(fluxSource(`oci://${target.host}/${mirrorRepo('acme/manifests')}`, 'latest'));
  });

  it('a tag the lock does not carry is reported with the tags it does, nothing written', async () => {
    const dir = path.join(work, 'gitops-bad');
    await mkdir(dir, { recursive: true });
    const before = fluxSource(`oci://${upstream.host}/acme/policies`, 'v4');
    await writeFile(path.join(dir, 'policies.yaml'), before);
    const r = await runFerry(['rewrite', 'manifests', dir, '--target', site, '--bundle', bundle], { env: env() });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`OCI artifact ${upstream.host}/acme/policies:v4`);
    expect(r.stderr).toContain('with tags v3, not v4');
    expect(r.stderr).not.toContain('no chart');
    expect(await readFile(path.join(dir, 'policies.yaml'), 'utf8')).toBe(before);
  });

  it('`audit` says the artifact is carried and that Flux fetches the URL as written', async () => {
    // Upstream names as a site writes them (loopback would be "internal"); audit reads the manifest only.
    const dir = path.join(work, 'audit');
    await mkdir(dir, { recursive: true });
    const m = path.join(dir, 'security.yaml');
    await writeFile(m, 'apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: security }\nimages:\n  - ref: ghcr.io/acme/manifests:latest\n  - ref: ghcr.io/aquasecurity/trivy-db:2\n');
    const t = path.join(dir, 'site.yaml');
    await writeFile(t, 'apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: site }\nregistry: { url: https://harbor.site.internal, prefix: mirror }\n');
    const cfg = path.join(dir, 'cluster');
    await mkdir(cfg);
    await writeFile(path.join(cfg, 'fleet.yaml'), fluxSource('oci://ghcr.io/acme/manifests', 'latest'));
    const r = await runFerry(['audit', cfg, '--manifest', m, '--target', t, '--json'], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    const f = JSON.parse(r.stdout).findings.find((x: { keyPath: string }) => x.keyPath === 'spec.url');
    expect(f.class).toBe('undeclared');
    expect(f.note).toContain('OCI artifact ghcr.io/acme/manifests:latest is carried under images: (on the mirror: oci://harbor.site.internal/mirror/ghcr.io/acme/manifests)');
    expect(f.note).toContain('fetches it from this URL as written');
    expect(f.note).toContain('ferry rewrite manifests');
    // Once rewritten, the source is on the mirror.
    await writeFile(path.join(cfg, 'fleet.yaml'), fluxSource('oci://harbor.site.internal/mirror/ghcr.io/acme/manifests', 'latest'));
    const after = await runFerry(['audit', cfg, '--manifest', m, '--target', t, '--json', '--fail-on', 'unmapped'], { env: env() });
    expect(after.code, after.stdout).toBe(0);
  });
});
