import { createHash } from 'node:crypto';
import { expect } from 'vitest';
import type { RunningRegistry } from './registry.js';

/** Plain distribution API calls (no ferry, no skopeo), for pushing hand-made artifacts in e2e tests. */
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const sha256 = (b: Buffer | string) => 'sha256:' + createHash('sha256').update(b).digest('hex');

/** A monolithic blob upload. */
export async function pushBlob(reg: RunningRegistry, repo: string, bytes: Buffer): Promise<{ digest: string; size: number }> {
  const digest = sha256(bytes);
  const start = await fetch(`${reg.url}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  expect(start.status).toBe(202);
  const loc = new URL(start.headers.get('location')!, reg.url);
  loc.searchParams.set('digest', digest);
  const put = await fetch(loc, { method: 'PUT', body: new Uint8Array(bytes), headers: { 'content-type': 'application/octet-stream' } });
  expect(put.status, await put.text()).toBe(201);
  return { digest, size: bytes.length };
}

export async function putManifest(reg: RunningRegistry, repo: string, ref: string, bytes: Buffer, mediaType: string): Promise<string> {
  const res = await fetch(`${reg.url}/v2/${repo}/manifests/${ref}`, { method: 'PUT', body: new Uint8Array(bytes), headers: { 'content-type': mediaType } });
  expect(res.status, await res.text()).toBe(201);
  return sha256(bytes);
}

/** The simple-signing payload cosign signs: it names the image digest. */
export function simpleSigningPayload(subject: string, identity: string): Buffer {
  return Buffer.from(JSON.stringify({ critical: { identity: { 'docker-reference': identity }, image: { 'docker-manifest-digest': subject }, type: 'cosign container image signature' }, optional: null }));
}

/**
 * A cosign signature manifest (the format sigstore's tools and containers/image read) under the
 * `sha256-<hex>.sig` tag: one simple-signing layer whose annotations carry the signature (and,
 * for keyless, the certificate, chain and Rekor bundle). Returns the manifest's digest.
 */
export async function pushCosignSignatureManifest(reg: RunningRegistry, repo: string, subject: string, payload: Buffer, annotations: Record<string, string>): Promise<string> {
  const layer = await pushBlob(reg, repo, payload);
  const configBytes = Buffer.from(JSON.stringify({ architecture: '', config: {}, created: '0001-01-01T00:00:00Z', history: [{ created: '0001-01-01T00:00:00Z' }], os: '', rootfs: { type: 'layers', diff_ids: [layer.digest] } }));
  const config = await pushBlob(reg, repo, configBytes);
  const m = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: [{ mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json', ...layer, annotations }],
    }),
  );
  return putManifest(reg, repo, `${subject.replace(':', '-')}.sig`, m, OCI_MANIFEST);
}
