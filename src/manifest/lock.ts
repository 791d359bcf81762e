import { z } from 'zod';
import { FileLockSchema } from '../kinds/file/lock.js';
import { AptLockSchema } from '../kinds/apt/lock.js';
import { ChartLockSchema } from '../kinds/chart/lock.js';
import { ImageExtraSchema } from '../kinds/image/extras-lock.js';

const Digest = z.string().regex(/^sha256:[a-f0-9]{64}$/);

export const DescriptorSchema = z.object({
  mediaType: z.string(),
  digest: Digest,
  size: z.number().int().nonnegative(),
});

export const PlatformManifestSchema = DescriptorSchema.extend({
  platform: z.string().describe('os/arch[/variant]'),
});

export const ImageLockSchema = z.object({
  source: z.string().describe('The reference as the manifest wrote it.'),
  ref: z.string().describe('Normalized reference (tag and/or digest as written).'),
  digest: Digest.describe('Upstream digest of the top manifest or index.'),
  mediaType: z.string(),
  size: z.number().int().nonnegative(),
  platforms: z.array(z.string()).optional().describe('Platform filter from the manifest, if any.'),
  storedDigest: Digest.optional().describe('Digest of the filtered index ferry stores, when a platform filter changed it.'),
  manifests: z.array(PlatformManifestSchema).describe('Platform manifests kept (empty for a single-platform image).'),
  blobs: z.array(DescriptorSchema).describe('Every config and layer blob, sorted by digest.'),
  extras: z.array(ImageExtraSchema).optional().describe('Signatures, attestations, SBOMs and referrers carried with the image.'),
});

export const LockSchema = z.object({
  apiVersion: z.literal('ferry/v1alpha1'),
  kind: z.literal('Lock'),
  manifest: z.object({ name: z.string(), digest: Digest.describe('sha256 of the expanded manifest content') }),
  images: z.array(ImageLockSchema),
  charts: z.array(ChartLockSchema).default([]),
  files: z.array(FileLockSchema).default([]),
  apt: z.array(AptLockSchema).default([]),
});

export type Descriptor = z.infer<typeof DescriptorSchema>;
export type ImageLock = z.infer<typeof ImageLockSchema>;
export type Lock = z.infer<typeof LockSchema>;
