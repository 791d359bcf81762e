import { z } from 'zod';
import { parseImageReference } from '../../oci/reference.js';
import { isFerryError } from '../../errors.js';
import { ImageVerifySchema } from './verify.js';

const PLATFORM = /^[a-z0-9]+\/[a-z0-9_]+(?:\/[a-z0-9.]+)?$/;

export const ImageSpecSchema = z
  .object({
    ref: z.string().superRefine((value, ctx) => {
      try {
        parseImageReference(value);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: isFerryError(err) ? err.message.replace(/^"[^"]*": /, '') : String(err) });
      }
    }).describe('Image reference: tag, digest, or tag@digest. docker.io is the default registry.'),
    platforms: z
      .array(z.string().regex(PLATFORM, 'platform must look like os/arch or os/arch/variant, e.g. linux/arm64/v8'))
      .min(1)
      .optional()
      .describe('Keep only these platforms of a multi-platform image (default: all, digests preserved byte for byte).'),
    verify: ImageVerifySchema.optional().describe('cosign public keys: the image must carry a signature by one of them.'),
    extras: z.boolean().optional().describe('Carry cosign signatures, attestations, SBOMs and OCI referrers with the image (default: true).'),
  })
  .strict();

export type ImageSpec = z.infer<typeof ImageSpecSchema>;
