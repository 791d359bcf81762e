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
import { readListedFile } from '../../store/bundle-sign.js';
import { goRegex } from '../chart/render/regex.js';
import { CERTIFICATE_ANNOTATION, checkKeyless, parseTrustedRoot, pemCertificates, type KeylessPolicy } from './keyless.js';

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
 *
 * Keyless (Fulcio certificate) signatures: a rule names `trustedRoot` (PEM CA certificates or a
 * Sigstore trusted_root.json), `certificateIdentity` and/or `certificateIdentityRegexp`, and
 * `certificateOidcIssuer` (optionally `rekorPublicKey`, `allowExpiredLeaf`); see keyless.ts for
 * what is checked offline and what is reported "not checked".
 */

const keylessFields = {
  keys: z.array(z.string()).min(1).optional().describe('cosign public keys (PEM), relative to the manifest.'),
  trustedRoot: z.string().min(1).optional().describe('Keyless: CA certificates (PEM: Fulcio root and intermediates) or a Sigstore trusted_root.json, relative to the manifest.'),
  certificateIdentity: z.string().min(1).optional().describe('Keyless: the signing certificate must have this SAN (email or URI), exactly.'),
  certificateIdentityRegexp: z.string().min(1).optional().describe('Keyless: a SAN (email or URI) must match this regular expression (unanchored, as cosign).'),
  certificateOidcIssuer: z.string().min(1).optional().describe('Keyless: the Fulcio OIDC issuer extension must equal this.'),
  rekorPublicKey: z.string().min(1).optional().describe('Keyless: Rekor public key (PEM); the Rekor bundle\'s SET is then verified, otherwise reported "not checked".'),
  allowExpiredLeaf: z.boolean().optional().describe('Keyless: accept a signature without a Rekor bundle whose certificate has expired (its validity is then not checked).'),
};

type RuleFields = { [K in keyof typeof keylessFields]?: z.infer<(typeof keylessFields)[K]> };

/** Every problem of one rule's fields (a rule needs keys, or a trusted root with identity and issuer). */
function ruleProblems(r: RuleFields): string[] {
  const out: string[] = [];
  const keyless = r.trustedRoot ?? r.certificateIdentity ?? r.certificateIdentityRegexp ?? r.certificateOidcIssuer ?? r.rekorPublicKey ?? r.allowExpiredLeaf;
  if (!r.keys && keyless === undefined) out.push('names neither `keys` nor `trustedRoot`');
  if (keyless !== undefined) {
    if (!r.trustedRoot) out.push('keyless fields need `trustedRoot`');
    if (!r.certificateIdentity && !r.certificateIdentityRegexp) out.push('keyless needs `certificateIdentity` or `certificateIdentityRegexp`');
    if (!r.certificateOidcIssuer) out.push('keyless needs `certificateOidcIssuer`');
  }
  if (r.certificateIdentityRegexp) {
    try {
      goRegex(r.certificateIdentityRegexp);
    } catch (err) {
      out.push(`certificateIdentityRegexp: ${(err as Error).message}`);
    }
  }
  return out;
}

const refineRule = (r: RuleFields, ctx: z.RefinementCtx) => {
  for (const message of ruleProblems(r)) ctx.addIssue({ code: 'custom', message });
};

export const VerifyRuleSchema = z
  .object({ images: z.string().min(1).describe('Image reference, or a prefix of normalized references (registry/, registry/path/).'), ...keylessFields })
  .strict()
  .superRefine(refineRule);

export const ImageVerifySchema = z.object(keylessFields).strict().superRefine(refineRule);

/** The policy as it travels in a bundle (`ferry/verify-policy.json`): keys inline. */
export interface VerifyPolicy {
  rules: Array<{ images: string; exact: boolean; keys: Array<{ name: string; pem: string }>; keyless?: KeylessPolicy }>;
}

export const POLICY_FILE = 'ferry/verify-policy.json';
export const COSIGN_SIGNATURE_ARTIFACT = 'application/vnd.dev.cosign.artifact.sig.v1+json';
const SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';
const MAX_PAYLOAD = 1024 * 1024;

/** Read the manifest's rules and their key and root files; every unreadable file is reported at once. */
export async function loadVerifyPolicy(
  manifest: { verify?: Array<RuleFields & { images: string }>; images: Array<{ ref: string; verify?: RuleFields }> },
  dir: string,
): Promise<VerifyPolicy> {
  const raw = [
    ...(manifest.verify ?? []).map((r) => ({ ...r, exact: false })),
    ...manifest.images.filter((i) => i.verify).map((i) => ({ ...i.verify!, images: normalizeImageReference(i.ref), exact: true })),
  ];
  const problems: string[] = [];
  const rules: VerifyPolicy['rules'] = [];
  const read = async (what: string, file: string, parse: (text: string) => void): Promise<string | undefined> => {
    try {
      const text = await readFile(path.resolve(dir, file), 'utf8');
      parse(text);
      return text;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // A missing file names where it was looked for: paths in a manifest are relative to its directory.
      problems.push(code === 'ENOENT' ? `${what} ${file}: no such file (looked for ${path.resolve(dir, file)}: a path in the manifest is relative to the manifest's directory)` : `${what} ${file}: ${code ?? (err as Error).message}`);
      return undefined;
    }
  };
  for (const r of raw) {
    for (const p of ruleProblems(r)) problems.push(`verify ${r.images}: ${p}`);
    const keys: VerifyPolicy['rules'][number]['keys'] = [];
    for (const k of r.keys ?? []) {
      const pem = await read(`verify ${r.images}: key`, k, (t) => createPublicKey(t));
      if (pem !== undefined) keys.push({ name: k, pem });
    }
    const rule: VerifyPolicy['rules'][number] = { images: r.images, exact: r.exact, keys };
    if (r.trustedRoot && r.certificateOidcIssuer) {
      let root: ReturnType<typeof parseTrustedRoot> | undefined;
      await read(`verify ${r.images}: trustedRoot`, r.trustedRoot, (t) => (root = parseTrustedRoot(t)));
      const rekorKeys = (root?.rekorKeys ?? []).map((pem, i) => ({ name: `${r.trustedRoot} tlogs[${i}]`, pem }));
      if (r.rekorPublicKey) {
        const pem = await read(`verify ${r.images}: rekorPublicKey`, r.rekorPublicKey, (t) => createPublicKey(t));
        if (pem !== undefined) rekorKeys.push({ name: r.rekorPublicKey, pem });
      }
      if (root) {
        rule.keyless = {
          trustedRoot: { name: r.trustedRoot, pem: root.certificates },
          ...(r.certificateIdentity !== undefined && { identity: r.certificateIdentity }),
          ...(r.certificateIdentityRegexp !== undefined && { identityRegexp: r.certificateIdentityRegexp }),
          issuer: r.certificateOidcIssuer,
          ...(rekorKeys.length && { rekorKeys }),
          ...(r.allowExpiredLeaf && { allowExpiredLeaf: true }),
        };
      }
    }
    rules.push(rule);
  }
  if (problems.length) throw new FerryError('VALIDATION', `${problems.length} verification rule problem${problems.length > 1 ? 's' : ''}`, { details: problems, hint: 'Keys are cosign public keys (PEM); trustedRoot is a PEM file of CA certificates or a Sigstore trusted_root.json; paths are relative to the manifest.' });
  return { rules };
}

const MAX_PEM = 64 * 1024;
const PemKey = z.object({ name: z.string().min(1).max(4096), pem: z.string().min(1).max(MAX_PEM) }).strict();
/** The policy file's shape: it comes from a bundle, so every field is checked before it is used. */
const PolicyFileSchema = z
  .object({
    rules: z.array(
      z
        .object({
          images: z.string().min(1).max(4096),
          exact: z.boolean(),
          keys: z.array(PemKey),
          keyless: z
            .object({
              trustedRoot: z.object({ name: z.string().min(1).max(4096), pem: z.string().min(1).max(1024 * 1024) }).strict(),
              identity: z.string().min(1).max(4096).optional(),
              identityRegexp: z.string().min(1).max(4096).optional(),
              issuer: z.string().min(1).max(4096),
              rekorKeys: z.array(PemKey).optional(),
              allowExpiredLeaf: z.boolean().optional(),
            })
            .strict()
            .optional(),
        })
        .strict(),
    ),
  })
  .strict();

/**
 * Signature checks one policy may ask for at most (images × covering rules × their keys and
 * certificates × signatures carried): a crafted 4 MiB policy of 40 000 rules over every image
 * would otherwise run for hours. A real policy asks for a few per image.
 */
export const MAX_SIGNATURE_CHECKS = 200_000;

export function parseVerifyPolicy(bytes: Buffer): VerifyPolicy {
  let raw: unknown;
  try {
    raw = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new FerryError('VERIFY', `${POLICY_FILE}: not a verification policy (${(err as Error).message})`);
  }
  const parsed = PolicyFileSchema.safeParse(raw);
  const problems = parsed.success ? [] : parsed.error.issues.slice(0, 20).map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`);
  if (parsed.success) {
    parsed.data.rules.forEach((r, i) => {
      for (const [j, k] of [...r.keys, ...(r.keyless?.rekorKeys ?? [])].entries()) {
        try {
          createPublicKey(k.pem);
        } catch (err) {
          problems.push(`rules.${i}: key ${j} (${k.name}) is not a public key: ${(err as Error).message}`);
        }
      }
      if (r.keyless) {
        try {
          if (!pemCertificates(r.keyless.trustedRoot.pem).length) problems.push(`rules.${i}: trustedRoot holds no certificate`);
        } catch (err) {
          problems.push(`rules.${i}: trustedRoot: ${(err as Error).message}`);
        }
        if (r.keyless.identityRegexp !== undefined) {
          try {
            goRegex(r.keyless.identityRegexp);
          } catch (err) {
            problems.push(`rules.${i}: identityRegexp: ${(err as Error).message}`);
          }
        }
      }
    });
  }
  if (parsed.success) {
    // ferry never writes such a rule (loadVerifyPolicy refuses it): it would cover images and check none of them.
    parsed.data.rules.forEach((r, i) => {
      if (!r.keys.length && !r.keyless) problems.push(`rules.${i} (${r.images}): names no key and no trustedRoot, so it checks nothing`);
    });
  }
  if (problems.length) {
    throw new FerryError('VERIFY', `${POLICY_FILE}: not a verification policy`, { details: problems, hint: 'The bundle was not written by ferry or was changed; do not import it.' });
  }
  return parsed.data as VerifyPolicy;
}

interface Verifiers {
  keys: Array<{ name: string; key: KeyObject }>;
  keyless: KeylessPolicy[];
  /** "k1.pub or certificate for x from y under root.pem" */
  label: string;
}

function describeKeyless(k: KeylessPolicy): string {
  return `a certificate for ${k.identity ?? `/${k.identityRegexp}/`} from ${k.issuer} under ${k.trustedRoot.name}`;
}

type PolicyRule = VerifyPolicy['rules'][number];

const covers = (r: PolicyRule, normalized: string) => (r.exact ? r.images === normalized : normalized.startsWith(r.images));

function verifiersOf(r: PolicyRule): Verifiers {
  const keys = r.keys.map((k) => ({ name: k.name, key: createPublicKey(k.pem) }));
  const keyless = r.keyless ? [r.keyless] : [];
  return { keys, keyless, label: [...keys.map((k) => k.name), ...keyless.map(describeKeyless)].join(' or ') };
}

/**
 * The verifier sets an image must satisfy: one per rule that covers it, every one of them (as
 * cosign's policy-controller requires every matching policy). Within a rule any one key or
 * certificate suffices. An image's own `verify:` does not replace a prefix rule: it adds to it.
 */
function verifiersFor(ref: string, policy: VerifyPolicy): Verifiers[] {
  const normalized = normalizeImageReference(ref);
  return policy.rules.filter((r) => covers(r, normalized) && (r.keys.length || r.keyless)).map(verifiersOf);
}

/** Rules that cover none of the images: a typo there would leave the images it meant unchecked. */
function rulesCoveringNothing(images: SignedImage[], policy: VerifyPolicy): string[] {
  const refs = images.map((i) => normalizeImageReference(i.ref));
  return policy.rules
    .filter((r) => !refs.some((n) => covers(r, n)))
    .map((r) => {
      const first = r.images.split('/')[0];
      const dockerHub = r.images.includes('/') && !/[.:]/.test(first) && first !== 'localhost' ? `; did you mean docker.io/${r.images}?` : '';
      return `verify rule \`images: ${r.images}\` covers none of the ${images.length} image${images.length === 1 ? '' : 's'}, so it checks nothing (rules compare normalized references such as docker.io/library/alpine:3.20${dockerHub})`;
    });
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

/**
 * The digest a cosign key signs with: SHA-256 for ECDSA and RSA keys (cosign's default for
 * `verify --key`), none for Ed25519 (pure EdDSA over the payload, as cosign signs with an
 * imported Ed25519 key; asking for SHA-256 with such a key throws).
 */
const digestFor = (key: KeyObject): string | null => (key.asymmetricKeyType === 'ed25519' || key.asymmetricKeyType === 'ed448' ? null : 'sha256');

/** Why one signature manifest does not vouch for `subject` with any verifier, or undefined if it does. */
async function checkSignature(extra: ImageExtra, subject: string, by: Verifiers, read: DigestReader, notes: string[]): Promise<string | undefined> {
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
    const annotations = layer.annotations!;
    const sig = Buffer.from(annotations[SIGNATURE_ANNOTATION], 'base64');
    let signer: string | undefined = by.keys.find((k) => {
      try {
        return verify(digestFor(k.key), payload, { key: k.key, dsaEncoding: 'der' }, sig);
      } catch {
        return false;
      }
    })?.name;
    let layerNotes: string[] = [];
    if (!signer && by.keyless.length && annotations[CERTIFICATE_ANNOTATION]) {
      const why: string[] = [];
      for (const rule of by.keyless) {
        const r = checkKeyless(annotations, payload, sig, rule);
        if (!r.problem) {
          signer = describeKeyless(rule);
          layerNotes = r.notes;
          break;
        }
        why.push(r.problem);
      }
      if (!signer) {
        reasons.push(`signature in ${extra.digest}: ${why.join('; ')}`);
        continue;
      }
    }
    if (!signer) {
      const tried = by.keys.length ? `does not verify with ${by.keys.map((k) => k.name).join(', ')}` : 'carries no certificate (not a keyless signature)';
      reasons.push(`signature in ${extra.digest} ${tried}${by.keys.length && by.keyless.length ? ' and carries no certificate' : ''}`);
      continue;
    }
    let named: unknown;
    try {
      named = (JSON.parse(payload.toString('utf8')) as { critical?: { image?: { 'docker-manifest-digest'?: unknown } } }).critical?.image?.['docker-manifest-digest'];
    } catch {
      named = undefined;
    }
    if (named === subject) {
      notes.push(...layerNotes);
      return undefined;
    }
    reasons.push(`signature in ${extra.digest} (${by.keys.some((k) => k.name === signer) ? `key ${signer}` : signer}) is over ${typeof named === 'string' ? named : 'no digest'}, not ${subject}`);
  }
  return reasons.join('; ');
}

/**
 * Check every image a rule covers; returns one problem per failing image ("ref: reason"),
 * all of them, never only the first.
 */
export async function verifyImageSignatures(images: SignedImage[], policy: VerifyPolicy, read: (image: SignedImage) => DigestReader, notes: string[] = []): Promise<string[]> {
  const problems: string[] = [];
  for (const image of images) {
    const rules = verifiersFor(image.ref, policy);
    if (!rules.length) continue;
    // A platform-filtered index is not the signed digest: then each kept platform manifest must be signed.
    const subjects = image.storedDigest ? image.manifests.map((m) => m.digest) : [image.digest];
    const failures: string[] = [];
    for (const subject of subjects) {
      const candidates = (image.extras ?? []).filter((e) => e.subject === subject && (e.tag?.endsWith('.sig') || e.artifactType === COSIGN_SIGNATURE_ARTIFACT));
      if (!candidates.length) {
        failures.push(`no cosign signature of ${subject} is carried${image.extras === undefined ? ' (the lock records no signature or other extra for this image: none was found upstream, or `extras: false` / `--no-extras` left them out)' : ''}`);
        continue;
      }
      for (const by of rules) {
        const reasons: string[] = [];
        let ok = false;
        for (const c of candidates) {
          const imageNotes: string[] = [];
          const why = await checkSignature(c, subject, by, read(image), imageNotes).catch((err: Error) => `${c.digest}: ${err.message}`);
          notes.push(...imageNotes.map((n) => `${image.ref}${subjects.length > 1 ? ` (${subject})` : ''}: ${n}`));
          if (!why) {
            ok = true;
            break;
          }
          reasons.push(why);
        }
        if (!ok) failures.push(`not signed by ${by.label} (${reasons.join('; ')})`);
      }
    }
    if (failures.length) problems.push(`${image.ref}: ${failures.join('; ')}`);
  }
  return problems;
}

/** What a refusal `when` means for the user: nothing imported, nothing written, or (a report) nothing more. */
function consequence(when: string): string {
  return when === 'at import' ? '; nothing was imported' : when === 'at bundle verify' ? '' : when === 'at serve' ? '; not serving it' : '; nothing was written';
}

export function policyFailure(problems: string[], when: string, uncovering = 0): FerryError {
  const images = problems.length - uncovering;
  const what = [
    ...(uncovering ? [`${uncovering} verify rule${uncovering > 1 ? 's cover' : ' covers'} no image`] : []),
    ...(images ? [`${images} image${images > 1 ? 's' : ''} failed signature verification`] : []),
  ].join(' and ');
  return new FerryError('VERIFY', `${what} ${when}${consequence(when)}`, {
    details: problems,
    hint: uncovering
      ? 'A rule that covers no image checks nothing: fix its `images:` prefix (a normalized reference: registry/repository…) or remove the rule. Each other line names the image and the reason.'
      : 'Each line names the image and the reason. Sign the image with a key the manifest names, or change the `verify:` rules.',
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

/**
 * `import` (before anything is sent), `serve` (before it listens) and `bundle verify`: check the images of a bundle against
 * the policy it carries. Undefined when the bundle carries none (its manifest had no `verify:`
 * rules): nothing was checked.
 */
export async function checkBundlePolicy(
  source: { entry(name: string): unknown; readFile(name: string): Promise<Buffer>; readBlob(digest: string): Promise<Buffer> },
  notes: string[] = [],
  when: 'at import' | 'at bundle verify' | 'at serve' = 'at import',
): Promise<ImageSignatureSummary | undefined> {
  if (!source.entry(POLICY_FILE)) return undefined;
  // Read before the bundle's full check (a one-pass import sends blobs while it hashes them):
  // the policy and the lock must match the signed checksum list first, or a changed policy
  // (another key, no rules) would decide what is sent.
  const refused = `image signatures were not checked${consequence(when).replace(';', ' and')}`;
  const policy = parseVerifyPolicy(await readListedFile(source, POLICY_FILE, refused));
  // Only the images matter here (their signatures); the rest of the lock is checked by verify.
  const lock = z.object({ images: z.array(ImageLockSchema) }).passthrough().parse(JSON.parse((await readListedFile(source, 'ferry/lock.json', refused)).toString('utf8')));
  const reader = blobReader(source);
  return enforceVerifyPolicy(lock.images, policy, () => reader, when, notes);
}

/** Images no rule covers are named up to this many in a summary (all are counted). */
const UNCHECKED_NAMED = 10;

/**
 * What a policy check covered, for the commands to say: a check that ran must be seen to have
 * run, and what it left out (an image no rule covers) must not read as verified.
 */
export interface ImageSignatureSummary {
  /** Each rule: what it covers (a prefix, or one image's own reference) and what verifies it (key files, keyless certificate roots). */
  rules: Array<{ images: string; verifiers: string[] }>;
  /** Images in the lock. */
  images: number;
  /** Images a rule covers: each carried a signature that every rule covering it verified. */
  verified: number;
  /** Images no rule covers: their signatures were not checked. */
  unchecked: number;
  /** The first of them (at most 10), as the lock names them. */
  uncheckedRefs: string[];
}

function summarize(images: SignedImage[], policy: VerifyPolicy): ImageSignatureSummary {
  const checking = policy.rules.filter((r) => r.keys.length || r.keyless);
  const unchecked = images.filter((i) => {
    const normalized = normalizeImageReference(i.ref);
    return !checking.some((r) => covers(r, normalized));
  });
  return {
    rules: policy.rules.map((r) => ({ images: r.images, verifiers: [...r.keys.map((k) => k.name), ...(r.keyless ? [describeKeyless(r.keyless)] : [])] })),
    images: images.length,
    verified: images.length - unchecked.length,
    unchecked: unchecked.length,
    uncheckedRefs: unchecked.slice(0, UNCHECKED_NAMED).map((i) => i.ref),
  };
}

/**
 * Check and throw with every failing image; returns what was checked (`verified`: how many
 * images a rule covered). `notes` receives what was not checked for a passing keyless signature
 * ("Rekor inclusion not checked").
 */
export async function enforceVerifyPolicy(images: SignedImage[], policy: VerifyPolicy, read: (image: SignedImage) => DigestReader, when: string, notes: string[] = []): Promise<ImageSignatureSummary> {
  if (!policy.rules.length) return summarize(images, policy);
  const uncovering = rulesCoveringNothing(images, policy);
  let checks = 0;
  for (const i of images) {
    const covering = policy.rules.filter((r) => covers(r, normalizeImageReference(i.ref)));
    const candidates = (i.extras ?? []).filter((e) => e.tag?.endsWith('.sig') || e.artifactType === COSIGN_SIGNATURE_ARTIFACT).length;
    checks += covering.reduce((n, r) => n + r.keys.length + (r.keyless ? 1 : 0), 0) * Math.max(candidates, 1);
  }
  if (checks > MAX_SIGNATURE_CHECKS) {
    throw new FerryError('VERIFY', `the verify policy asks for ${checks} signature checks (more than ${MAX_SIGNATURE_CHECKS}) ${when}${consequence(when)}`, {
      hint: 'Each image is checked against every key of every rule covering it: merge rules that share keys, or name fewer keys per rule.',
    });
  }
  const problems = [...uncovering, ...(await verifyImageSignatures(images, policy, read, notes))];
  if (problems.length) throw policyFailure(problems, when, uncovering.length);
  return summarize(images, policy);
}

export function policyFileEntry(policy: VerifyPolicy): Array<[string, Buffer]> {
  return policy.rules.length ? [[POLICY_FILE, Buffer.from(JSON.stringify(policy, null, 2) + '\n')]] : [];
}
