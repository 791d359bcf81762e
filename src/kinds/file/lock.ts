import { z } from 'zod';
import { FileAuthSchema } from './spec.js';

const HEX64 = z.string().regex(/^[a-f0-9]{64}$/);
const HEX128 = z.string().regex(/^[a-f0-9]{128}$/);

/** A small upstream file ferry carried alongside (checksum file, signature), pinned by sha256. */
export const PinnedFileSchema = z.object({ url: z.string(), sha256: HEX64, size: z.number().int().nonnegative() });

export const FileLockSchema = z.object({
  name: z.string(),
  url: z.string(),
  /** From the server (HEAD) or the manifest; absent when the server did not say. */
  size: z.number().int().nonnegative().optional(),
  sha256: HEX64.optional(),
  sha512: HEX128.optional(),
  /** The manifest's `auth:` (the variable's name only; the token is read from the environment at each fetch). */
  auth: FileAuthSchema.optional(),
  /** The manifest's `maxSize:`, kept when no size is pinned: it bounds the download at fetch. */
  maxSize: z.number().int().positive().optional(),
  checksums: z
    .object({
      file: PinnedFileSchema,
      signature: PinnedFileSchema.optional(),
      /** Fingerprint of the key whose signature was verified before any checksum was trusted. */
      signedBy: z.string().optional(),
    })
    .optional(),
});

export type FileLock = z.infer<typeof FileLockSchema>;
export type PinnedFile = z.infer<typeof PinnedFileSchema>;
