import { z } from 'zod';
import { manifestUrl } from '../types.js';
import { HttpAuthSchema, type HttpAuth } from '../repo-auth.js';

const HEX64 = /^[a-f0-9]{64}$/;
const HEX128 = /^[a-f0-9]{128}$/;

/**
 * `auth: { bearerTokenEnv: HF_TOKEN }` (or basic auth: `usernameEnv` + `passwordEnv`): the
 * credentials go with every request to the file's own origin (scheme, host and port), never to
 * another origin — not to a checksum URL elsewhere, not to the CDN a redirect leads to (signed URLs
 * there need no token). One schema for every kind that downloads over HTTP (../repo-auth.ts).
 */
export const FileAuthSchema = HttpAuthSchema;
export type FileAuth = HttpAuth;

const ChecksumsSchema = z
  .object({
    url: manifestUrl(/^https?:\/\/\S+$/, 'checksums.url must be http(s)://'),
    signature: manifestUrl(/^https?:\/\/\S+$/, 'signature must be http(s)://').optional().describe('Detached signature; omit when the checksum file is clear-signed or unsigned.'),
    keys: z.array(z.string()).optional().describe('OpenPGP public keys (files relative to the manifest).'),
    algorithm: z.enum(['sha256', 'sha512']).optional(),
  })
  .strict();

export const FileSpecSchema = z
  .object({
    name: z.string().min(1).describe('A name for this file, unique in the manifest.'),
    url: manifestUrl(/^https?:\/\/\S+$/, 'url must be http(s)://'),
    sha256: z.string().regex(HEX64, 'sha256 must be 64 lowercase hex characters').optional(),
    sha512: z.string().regex(HEX128, 'sha512 must be 128 lowercase hex characters').optional(),
    // `checksums: https://…/SHA256SUMS` is the checksum file alone: `{url}` (what a user writes first).
    checksums: z
      .union([manifestUrl(/^https?:\/\/\S+$/, 'checksums must be an http(s):// URL or {url, signature?, keys?, algorithm?}').transform((url): z.output<typeof ChecksumsSchema> => ({ url })), ChecksumsSchema])
      .optional(),
    auth: FileAuthSchema.optional().describe('Credentials for a host that wants them (a gated model on a Hugging Face-style host): the name of an environment variable, never the secret.'),
    size: z.number().int().nonnegative().optional(),
    maxSize: z
      .number()
      .int()
      .positive()
      .optional()
      .describe('Bound on the bytes downloaded when size: is not given (default 64 GiB): a server sending more is cut off.'),
  })
  .strict()
  .superRefine((f, ctx) => {
    if (f.size !== undefined && f.maxSize !== undefined && f.size > f.maxSize) {
      ctx.addIssue({ code: 'custom', path: ['maxSize'], message: `maxSize (${f.maxSize}) is smaller than size (${f.size})` });
    }
  });

/**
 * What a file with no size in the manifest may take on disk unless its entry sets `maxSize:`.
 * Large enough for every ISO and VM image people mirror (dual-layer DVD 8.5 GB, RHEL/Windows
 * full images 10-15 GB, Blu-ray-sized images up to 50 GB); small enough that a server
 * streaming without end stops long before most mirror hosts' disks are full.
 */
export const DEFAULT_MAX_FILE_BYTES = 64 * 1024 ** 3;

export type FileSpec = z.infer<typeof FileSpecSchema>;
