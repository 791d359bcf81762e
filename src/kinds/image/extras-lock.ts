import { z } from 'zod';

/**
 * A signature, attestation, SBOM or referrer carried with an image, as the lock records it
 * (its own file, no imports beyond zod, so the lock schema can use it without a cycle).
 */
const Digest = z.string().regex(/^sha256:[a-f0-9]{64}$/);
const Desc = z.object({ mediaType: z.string(), digest: Digest, size: z.number().int().nonnegative() });

export const ImageExtraSchema = z.object({
  subject: Digest.describe('The manifest (index or platform manifest) the extra is about.'),
  digest: Digest,
  mediaType: z.string(),
  size: z.number().int().nonnegative(),
  artifactType: z.string().optional().describe('OCI 1.1 referrers: the artifact type (signature, SBOM, attestation …).'),
  tag: z.string().optional().describe('Tag-scheme extras: the cosign tag (sha256-<hex>.sig, .att, .sbom).'),
  via: z.enum(['tag', 'referrers-api', 'referrers-tag']).describe('How it was found upstream.'),
  blobs: z.array(Desc).describe('Config and layers of the extra.'),
});

export type ImageExtra = z.infer<typeof ImageExtraSchema>;
