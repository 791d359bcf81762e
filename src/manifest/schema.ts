import { z } from 'zod';

export const API_VERSION = 'ferry/v1alpha1';

export const MetadataSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$/, 'name must be lowercase letters, digits, . _ -'),
    description: z.string().optional(),
  })
  .passthrough();

export const VarsSchema = z
  .record(z.string(), z.union([z.string(), z.number(), z.array(z.union([z.string(), z.number()]))]))
  .describe('Values for <name> placeholders; a list multiplies each entry that uses it.');

/**
 * The manifest: a fixed header and one list per kind. The kinds' lists are not known here
 * (manifest/ sits below kinds/): src/kinds/schema.ts assembles the schema from KINDS with this.
 */
export function manifestSchemaFrom<S extends z.ZodRawShape>(kinds: S) {
  return z
    .object({
      apiVersion: z.literal(API_VERSION),
      kind: z.literal('Manifest'),
      metadata: MetadataSchema,
      vars: VarsSchema.optional(),
      ...kinds,
    })
    .strict();
}

/** What every manifest has, whatever its kinds: what manifest/ itself relies on. */
export interface ManifestBase {
  metadata: z.infer<typeof MetadataSchema>;
  vars?: z.infer<typeof VarsSchema>;
}
