import { z } from 'zod';
import { formatImageReference, parseImageReference, withDefaultTag } from '../../oci/reference.js';
import { isFerryError } from '../../errors.js';
import { ImageVerifySchema } from './verify.js';
import { ImageRefString } from './ref-schema.js';

const PLATFORM = /^[a-z0-9]+\/[a-z0-9_]+(?:\/[a-z0-9.]+)?$/;

/** A list of platforms (`os/arch[/variant]`), as `images:`, `charts:` and the manifest's top-level `platforms:` take it. */
export const PlatformsSchema = z
  .array(z.string().regex(PLATFORM, 'platform must look like os/arch or os/arch/variant, e.g. linux/arm64/v8'))
  .min(1)
  .max(64);

export const ImageSpecSchema = z
  .object({
    ref: ImageRefString.describe('Image reference: tag, digest, or tag@digest. docker.io is the default registry.'),
    platforms: PlatformsSchema.optional().describe(
      'Keep only these platforms of a multi-platform image (default: the manifest\'s top-level platforms:, else all, digests preserved byte for byte).',
    ),
    verify: ImageVerifySchema.optional().describe('cosign public keys: the image must carry a signature by one of them.'),
    extras: z.boolean().optional().describe('Carry cosign signatures, attestations, SBOMs and OCI referrers with the image (default: true).'),
  })
  .strict();

export type ImageSpec = z.infer<typeof ImageSpecSchema>;

/** What an entry asks of its image beyond the reference (platforms as a set). */
function entrySettings(spec: ImageSpec): string {
  return JSON.stringify([[...new Set(spec.platforms ?? [])].sort(), spec.extras ?? true, spec.verify ?? null]);
}

/**
 * The manifest's `images:` list. One reference is one tag (or digest) on the mirror, so an
 * image listed twice with different platforms (or extras, verify) cannot be both: refused,
 * naming both entries, instead of one silently winning.
 */
export const ImageListSchema = z
  .array(ImageSpecSchema)
  .superRefine((list, ctx) => {
    const first = new Map<string, number>();
    list.forEach((spec, i) => {
      let key: string;
      try {
        key = formatImageReference(withDefaultTag(parseImageReference(spec.ref)));
      } catch {
        return; // the entry's own ref issue says it
      }
      const j = first.get(key);
      if (j === undefined) {
        first.set(key, i);
        return;
      }
      if (entrySettings(list[j]) === entrySettings(spec)) return;
      ctx.addIssue({
        code: 'custom',
        path: [i],
        message: `${key} is listed again with other settings (images[${j}]${list[j].platforms ? ` has platforms [${list[j].platforms!.join(', ')}]` : ''}${spec.platforms ? `, this one [${spec.platforms.join(', ')}]` : ''}): one reference is one image on the mirror; list it once, with every platform you need`,
      });
    });
  })
  .default([])
  .describe('Container images to carry.');
