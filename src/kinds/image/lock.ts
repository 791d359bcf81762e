import { z } from 'zod';
import { ImageExtraSchema } from './extras-lock.js';
import { ImageRefString } from './ref-schema.js';

const Digest = z.string().regex(/^sha256:[a-f0-9]{64}$/);

export const DescriptorSchema = z.object({
  mediaType: z.string(),
  digest: Digest,
  size: z.number().int().nonnegative(),
});

export const PlatformManifestSchema = DescriptorSchema.extend({
  platform: z.string().describe('os/arch[/variant]'),
  attestation: z
    .object({ of: Digest.optional().describe('The manifest it describes (its `vnd.docker.reference.digest` annotation).') })
    .optional()
    .describe('Set for a buildx attestation manifest (annotated `vnd.docker.reference.type: attestation-manifest`, platform unknown/unknown): carried with the platform it describes, not a platform itself. Locks written before this field lack it.'),
});

/** One image pinned: the upstream digest, the platform manifests kept and every blob. */
export const ImageLockSchema = z.object({
  source: z.string().describe('The reference as the manifest wrote it.'),
  ref: ImageRefString.describe('Normalized reference (tag and/or digest as written).'),
  digest: Digest.describe('Upstream digest of the top manifest or index.'),
  mediaType: z.string(),
  size: z.number().int().nonnegative(),
  platforms: z
    .array(z.string())
    .optional()
    .describe("The platforms kept: the union of what every entry that brings the image asks for (its images: entry, the charts that deploy it, else the manifest's top-level platforms:); absent: every platform."),
  storedDigest: Digest.optional().describe('Digest of the filtered index ferry stores, when a platform filter changed it.'),
  manifests: z.array(PlatformManifestSchema).describe('Platform manifests kept, with the attestation manifests of those platforms (empty for a single-platform image).'),
  blobs: z.array(DescriptorSchema).describe('Every config and layer blob, sorted by digest.'),
  extras: z.array(ImageExtraSchema).optional().describe('Signatures, attestations, SBOMs and referrers carried with the image.'),
});

export type Descriptor = z.infer<typeof DescriptorSchema>;
export type ImageLock = z.infer<typeof ImageLockSchema>;
