import { z } from 'zod';

const HEX64 = /^[a-f0-9]{64}$/;
const HEX128 = /^[a-f0-9]{128}$/;

export const FileSpecSchema = z
  .object({
    name: z.string().min(1).describe('A name for this file, unique in the manifest.'),
    url: z.string().regex(/^https?:\/\/\S+$/, 'url must be http(s)://'),
    sha256: z.string().regex(HEX64, 'sha256 must be 64 lowercase hex characters').optional(),
    sha512: z.string().regex(HEX128, 'sha512 must be 128 lowercase hex characters').optional(),
    checksums: z
      .object({
        url: z.string().regex(/^https?:\/\/\S+$/, 'checksums.url must be http(s)://'),
        signature: z.string().regex(/^https?:\/\/\S+$/).optional().describe('Detached signature; omit when the checksum file is clear-signed or unsigned.'),
        keys: z.array(z.string()).optional().describe('OpenPGP public keys (files relative to the manifest).'),
        algorithm: z.enum(['sha256', 'sha512']).optional(),
      })
      .strict()
      .optional(),
    size: z.number().int().nonnegative().optional(),
  })
  .strict();

export type FileSpec = z.infer<typeof FileSpecSchema>;
