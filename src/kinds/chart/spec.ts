import { z } from 'zod';
import { manifestUrl } from '../types.js';

export const ChartSpecSchema = z
  .object({
    name: z.string().min(1).describe('Chart name in the repository.'),
    repo: manifestUrl(/^(https?|oci):\/\/\S+$/, 'repo must be an http(s):// chart repository or an oci:// registry path')
      .describe('HTTP repository (serving index.yaml) or oci://registry/path.'),
    version: z.string().min(1).describe('Exact version, or a semver range (the newest match wins).'),
    values: z.array(z.string()).optional().describe('Values files you deploy with, relative to the manifest.'),
    kubeVersion: z
      .string()
      .regex(/^v?\d+\.\d+(\.\d+)?$/, 'kubeVersion must be v<major>.<minor>[.<patch>], e.g. v1.34.0')
      .optional()
      .describe("Your cluster's Kubernetes version, as `--kube-version` for discovery (default v1.29.0, or the oldest the chart accepts)."),
    images: z
      .union([z.enum(['discover', 'none']), z.array(z.string())])
      .default('discover')
      .describe('discover (default): bundle every image the chart deploys; none; or an explicit list.'),
    testImages: z
      .enum(['name', 'carry'])
      .optional()
      .describe('The images only `helm test` runs (test hooks), found with images: discover. name (default): recorded in the lock and named by rewrite, not bundled; carry: bundled with the chart\'s images.'),
  })
  .strict();

export type ChartSpec = z.infer<typeof ChartSpecSchema>;
