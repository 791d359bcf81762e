import { z } from 'zod';
import { ImageSpecSchema } from '../kinds/image/spec.js';
import { VerifyRuleSchema } from '../kinds/image/verify.js';
import { ChartSpecSchema } from '../kinds/chart/spec.js';
import { FileSpecSchema } from '../kinds/file/spec.js';
import { AptSpecSchema } from '../kinds/apt/spec.js';
import { ZoneSchema, ConnectionSchema, EndpointSchema } from '../kinds/endpoint/spec.js';

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

export const ManifestSchema = z
  .object({
    apiVersion: z.literal(API_VERSION),
    kind: z.literal('Manifest'),
    metadata: MetadataSchema,
    vars: VarsSchema.optional(),
    images: z.array(ImageSpecSchema).default([]),
    charts: z.array(ChartSpecSchema).default([]),
    files: z.array(FileSpecSchema).default([]),
    apt: z.array(AptSpecSchema).default([]),
    zones: z.array(ZoneSchema).default([]),
    connections: z.array(ConnectionSchema).default([]),
    endpoints: z.array(EndpointSchema).default([]),
    verify: z.array(VerifyRuleSchema).optional().describe('Images that must carry a cosign signature by one of these keys (checked offline at bundle create and import).'),
  })
  .strict();

export type Manifest = z.infer<typeof ManifestSchema>;
