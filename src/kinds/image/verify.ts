import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { FerryError } from '../../errors.js';
import { ImageLockSchema } from './lock.js';
import type { RegistryClient } from '../../oci/client.js';
import type { OciManifest } from '../../oci/media-types.js';
import { normalizeImageReference, parseImageReference } from '../../oci/reference.js';
import type { ImageExtra } from './extras-lock.js';

/**
 * Offline verification of image signatures against cosign public keys the manifest names:
 *
 *   verify:                                  # for every image under a prefix
 *     - images: registry.example.com/team/
 *       keys: [keys/cosign.pub]
 *   images:
 *     - ref: docker.io/library/alpine:3.20
 *       verify: { keys: [keys/alpine.pub] }   # for one image
 *
 * An image a rule covers must carry a cosign signature (the `sha256-<digest>.sig` tag, or a
 * referrer of the cosign signature artifact type) over its digest that one of the rule's keys
 * verifies: the simple-signing payload's `docker-manifest-digest` equals the digest, and the
 * ECDSA signature in the layer's `dev.cosignproject.cosign/signature` annotation verifies over
 * the payload's exact bytes. Checked from bytes already pinned by digest (the store, the
 * bundle), so it needs no network: at `bundle create`, and again at `import` with the policy
 * and keys the bundle carries (trust them by signing the bundle and importing with `--key`).
 * Keyless (Fulcio certificate) signatures are not verified.
 */

export const VerifyRuleSchema = z
  .object({
    images: z.string().min(1).describe('Image reference, or a prefix of normalized references (registry/, registry/path/).'),
    keys: z.array(z.string()).min(1).describe('cosign public keys (PEM), relative to the manifest.'),
  })
  .strict();

export const ImageVerifySchema = z.object({ keys: z.array(z.string()).min(1).describe('cosign public keys (PEM), relative to the manifest.') }).strict();

/** The policy as it travels in a bundle (`ferry/verify-policy.json`): keys inline. */
export interface VerifyPolicy {
  rules: Array<{ images: string; exact: boolean; keys: Array<{ name: string; pem: string }> }>;
}

export const POLICY_FILE = 'ferry/verify-policy.json';
export const COSIGN_SIGNATURE_ARTIFACT = 'application/vnd.dev.cosign.artifact.sig.v1+json';
const SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';
const MAX_PAYLOAD = 1024 * 1024;

/** Read the manifest's rules and their key files; every unreadable key is reported at once. */
export async function loadVerifyPolicy(
  manifest: { verify?: Array<{ images: string; keys: string[] }>; images: Array<{ ref: string; verify?: { keys: string[] } }> },
  dir: string,
): Promise<VerifyPolicy> {
  const raw = [
    ...(manifest.verify ?? []).map((r) => ({ images: r.images, exact: false, keys: r.keys })),
    ...manifest.images.filter((i) => i.verify).map((i) => ({ images: normalizeImageReference(i.ref), exact: true, keys: i.verify!.keys })),
  ];
  const problems: string[] = [];
  const rules: VerifyPolicy['rules'] = [];
  for (const r of raw) {
    const keys: VerifyPolicy['rules'][number]['keys'] = [];
    for (const k of r.keys) {
      const file = path.resolve(dir, k);
      try {
        const pem = await readFile(file, 'utf8');
        createPublicKey(pem);
        keys.push({ name: k, pem });
      } catch (err) {
        problems.push(`verify ${r.images}: key ${k}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
    }
    rules.push({ images: r.images, exact: r.exact, keys });
  }
  if (problems.length) throw new FerryError('VALIDATION', `${problems.length} verification key${problems.length > 1 ? 's' : ''} cannot be read`, { details: problems, hint: 'Keys are cosign public keys (PEM), relative to the manifest.' });
  return { rules };
}

export function parseVerifyPolicy(bytes: Buffer): VerifyPolicy {
  const v = JSON.parse(bytes.toString('utf8')) as VerifyPolicy;
  if (!v || !Array.isArray(v.rules)) throw new FerryError('VERIFY', `${POLICY_FILE}: not a verification policy`);
  return v;
}

function keysFor(ref: string, policy: VerifyPolicy): Array<{ name: string; key: KeyObject }> {
  const normalized = normalizeImageReference(ref);
  return policy.rules
    .filter((r) => (r.exact ? r.images === normalized : normalized.startsWith(r.images)))
    .flatMap((r) => r.keys.map((k) => ({ name: k.name, key: createPublicKey(k.pem) })));
}

export interface SignedImage {
  ref: string;
  digest: string;
  storedDigest?: string;
  manifests: Array<{ digest: string }>;
  extras?: ImageExtra[];
}

/** Reads by digest, from bytes already verified against their digest (store, bundle, registry). */
export interface DigestReader {
  manifest(digest: string): Promise<Buffer>;
  blob(digest: string, maxBytes: number): Promise<Buffer>;
}

/** Why one signature manifest does not vouch for `subject` with any key, or undefined if it does. */
async function checkSignature(extra: ImageExtra, subject: string, keys: Array<{ name: string; key: KeyObject }>, read: DigestReader): Promise<string | undefined> {
  const m = JSON.parse((await read.manifest(extra.digest)).toString('utf8')) as OciManifest;
  const layers = (m.layers ?? []).filter((l) => l.annotations?.[SIGNATURE_ANNOTATION]);
  if (!layers.length) return `${extra.digest}: no layer with a ${SIGNATURE_ANNOTATION} annotation`;
  const reasons: string[] = [];
  for (const layer of layers) {
    if (layer.size > MAX_PAYLOAD) {
      reasons.push(`payload ${layer.digest} is ${layer.size} bytes`);
      continue;
    }
    const payload = await read.blob(layer.digest, MAX_PAYLOAD);
    const sig = Buffer.from(layer.annotations![SIGNATURE_ANNOTATION], 'base64');
    const by = keys.find((k) => {
      try {
        return verify('sha256', payload, { key: k.key, dsaEncoding: 'der' }, sig);
      } catch {
        return false;
      }
    });
    if (!by) {
      reasons.push(`signature in ${extra.digest} does not verify with ${keys.map((k) => k.name).join(', ')}`);
      continue;
    }
    let named: unknown;
    try {
      named = (JSON.parse(payload.toString('utf8')) as { critical?: { image?: { 'docker-manifest-digest'?: unknown } } }).critical?.image?.['docker-manifest-digest'];
    } catch {
      named = undefined;
    }
    if (named === subject) return undefined;
    reasons.push(`signature in ${extra.digest} (key ${by.name}) is over ${typeof named === 'string' ? named : 'no digest'}, not ${subject}`);
  }
  return reasons.join('; ');
}

/**
 * Check every image a rule covers; returns one problem per failing image ("ref: reason"),
 * all of them, never only the first.
 */
export async function verifyImageSignatures(images: SignedImage[], policy: VerifyPolicy, read: (image: SignedImage) => DigestReader): Promise<string[]> {
  const problems: string[] = [];
  for (const image of images) {
    const keys = keysFor(image.ref, policy);
    if (!keys.length) continue;
    // A platform-filtered index is not the signed digest: then each kept platform manifest must be signed.
    const subjects = image.storedDigest ? image.manifests.map((m) => m.digest) : [image.digest];
    for (const subject of subjects) {
      const candidates = (image.extras ?? []).filter((e) => e.subject === subject && (e.tag?.endsWith('.sig') || e.artifactType === COSIGN_SIGNATURE_ARTIFACT));
      if (!candidates.length) {
        problems.push(`${image.ref}: no cosign signature of ${subject} is carried${image.extras === undefined ? ' (extras are off for this image)' : ''}`);
        continue;
      }
      const reasons: string[] = [];
      let ok = false;
      for (const c of candidates) {
        const why = await checkSignature(c, subject, keys, read(image)).catch((err: Error) => `${c.digest}: ${err.message}`);
        if (!why) {
          ok = true;
          break;
        }
        reasons.push(why);
      }
      if (!ok) problems.push(`${image.ref}: not signed by ${keys.map((k) => k.name).join(' or ')} (${reasons.join('; ')})`);
    }
  }
  return problems;
}

export function policyFailure(problems: string[], when: string): FerryError {
  return new FerryError('VERIFY', `${problems.length} image${problems.length > 1 ? 's' : ''} failed signature verification ${when}; nothing was ${when === 'at import' ? 'imported' : 'written'}`, {
    details: problems,
    hint: 'Each line names the image and the reason. Sign the image with a key the manifest names, or change the `verify:` rules.',
  });
}

/** Reads from a store or a bundle: both hold blobs under their digest, checked when written/verified. */
export function blobReader(src: { readBlob(digest: string): Promise<Buffer> }): DigestReader {
  return { manifest: (d) => src.readBlob(d), blob: (d) => src.readBlob(d) };
}

/** Reads from the image's upstream repository (at `lock`, which is online anyway); digests checked by the client. */
export function registryReader(client: RegistryClient, ref: string): DigestReader {
  const r = parseImageReference(ref);
  const repo = { registry: r.registry, repository: r.repository };
  return { manifest: async (d) => (await client.getManifest(repo, d)).bytes, blob: (d, max) => client.getBlobBytes(repo, d, max) };
}

/** `import`: check the images of a bundle against the policy it carries, before anything is sent. */
export async function checkBundlePolicy(source: { entry(name: string): unknown; readFile(name: string): Promise<Buffer>; readBlob(digest: string): Promise<Buffer> }): Promise<number> {
  if (!source.entry(POLICY_FILE)) return 0;
  const policy = parseVerifyPolicy(await source.readFile(POLICY_FILE));
  // Only the images matter here (their signatures); the rest of the lock is checked by verify.
  const lock = z.object({ images: z.array(ImageLockSchema) }).passthrough().parse(JSON.parse((await source.readFile('ferry/lock.json')).toString('utf8')));
  const reader = blobReader(source);
  return enforceVerifyPolicy(lock.images, policy, () => reader, 'at import');
}

/** Check and throw with every failing image; returns how many images a rule covered. */
export async function enforceVerifyPolicy(images: SignedImage[], policy: VerifyPolicy, read: (image: SignedImage) => DigestReader, when: string): Promise<number> {
  if (!policy.rules.length) return 0;
  const problems = await verifyImageSignatures(images, policy, read);
  if (problems.length) throw policyFailure(problems, when);
  return images.filter((i) => keysFor(i.ref, policy).length).length;
}

export function policyFileEntry(policy: VerifyPolicy): Array<[string, Buffer]> {
  return policy.rules.length ? [[POLICY_FILE, Buffer.from(JSON.stringify(policy, null, 2) + '\n')]] : [];
}
