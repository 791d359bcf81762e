import { z } from 'zod';
import { API_VERSION } from './schema.js';

/**
 * The lock file: a fixed header (which manifest, at which digest) and one list per artifact
 * kind. The kinds' lists are not known here (manifest/ sits below kinds/): src/kinds/schema.ts
 * assembles the full schema from the KINDS list with `lockSchemaFrom`.
 */
export function lockSchemaFrom<S extends z.ZodRawShape>(kinds: S) {
  const Digest = z.string().regex(/^sha256:[a-f0-9]{64}$/);
  return z.object({
    apiVersion: z.literal(API_VERSION),
    kind: z.literal('Lock'),
    manifest: z.object({ name: z.string(), digest: Digest.describe('sha256 of the expanded manifest content') }),
    ...kinds,
  });
}
