import { z } from 'zod';

const Digest = z.string().regex(/^sha256:[a-f0-9]{64}$/);
const Desc = z.object({ mediaType: z.string(), digest: Digest, size: z.number().int().nonnegative() });

/**
 * One chart pinned: exact version, the archive's digest and where it came from. Dependencies
 * that were not vendored are entries of their own, with `dependencyOf` naming the parent.
 */
export const ChartLockSchema = z.object({
  name: z.string(),
  repo: z.string().describe('Repository as the manifest (or the parent Chart.yaml) wrote it.'),
  version: z.string().describe('Exact version chosen.'),
  requested: z.string().describe('Version or range as written.'),
  source: z.enum(['http', 'oci']),
  url: z.string().optional().describe('Archive URL (HTTP repositories).'),
  digest: Digest.describe('sha256 of the chart archive (.tgz), checked against the index digest.'),
  size: z.number().int().nonnegative(),
  prov: z.object({ url: z.string().optional(), digest: Digest, size: z.number().int().nonnegative() }).optional(),
  oci: z
    .object({ manifest: Desc, config: Desc, layers: z.array(Desc) })
    .optional()
    .describe('The upstream Helm artifact, kept byte for byte (OCI repositories).'),
  dependencyOf: z.array(z.string()).optional().describe('Charts (name version) that need this one as a non-vendored dependency.'),
  images: z.array(z.string()).describe('Images the bundle carries for this chart (discovered as certain, or the explicit list).'),
  possibleImages: z.array(z.string()).optional().describe('Discovered as possible only (disabled sections, loose matches); not bundled.'),
});

export type ChartLock = z.infer<typeof ChartLockSchema>;
