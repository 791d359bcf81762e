import { z } from 'zod';
import { HttpAuthSchema } from '../repo-auth.js';

const HEX64 = z.string().regex(/^[a-f0-9]{64}$/);

/** A file of the repository tree, by its path under the repository root. */
export const AptFileSchema = z.object({ path: z.string(), sha256: HEX64, size: z.number().int().nonnegative() });

export const AptPackageLockSchema = z.object({
  name: z.string(),
  version: z.string(),
  architecture: z.string(),
  filename: z.string().describe('Path under the repository root (pool/…).'),
  sha256: HEX64,
  size: z.number().int().nonnegative(),
});

export const AptSuiteLockSchema = z.object({
  suite: z.string(),
  /** Fingerprint of the key whose signature over the Release was verified. */
  signedBy: z.string(),
  /** Upstream metadata as fetched: InRelease and/or Release + Release.gpg. */
  release: z.array(AptFileSchema),
  /** Whole mirror: every index file carried; filtered: the Packages indexes the kept stanzas come from. */
  indexes: z.array(AptFileSchema),
  packages: z.array(AptPackageLockSchema),
  /**
   * Filtered: the Packages ferry publishes for each of `indexes` (the upstream stanzas of the
   * kept packages, verbatim), by digest. Import holds the bundle's generated indexes to these
   * bytes. Absent in locks written before ferry pinned them (then each stanza is held to
   * `packages` by its Package, Version, Architecture, Filename, Size and SHA256 only).
   */
  generated: z.array(AptFileSchema).optional(),
});

export const AptLockSchema = z.object({
  name: z.string(),
  url: z.string(),
  mode: z.enum(['whole', 'filtered']),
  components: z.array(z.string()),
  architectures: z.array(z.string()),
  /** Requested packages (filtered mode). */
  packages: z.array(z.string()).optional(),
  suites: z.array(AptSuiteLockSchema),
  /** Dependencies no listed repository satisfies (the client's base system must provide them). */
  unsatisfied: z.array(z.string()).default([]),
  /** The manifest entry's auth: (environment variable names, never a secret), for bundle create. */
  auth: HttpAuthSchema.optional(),
});

export type AptFile = z.infer<typeof AptFileSchema>;
export type AptPackageLock = z.infer<typeof AptPackageLockSchema>;
export type AptSuiteLock = z.infer<typeof AptSuiteLockSchema>;
export type AptLock = z.infer<typeof AptLockSchema>;
