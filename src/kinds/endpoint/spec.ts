import { z } from 'zod';

/**
 * The connection model (zones, connections, external endpoints with mitigations).
 * Owned by the audit work (issue 6); kept permissive-but-typed here so the manifest loads.
 */
export const ZoneSchema = z
  .object({
    name: z.string().min(1),
    description: z.string().optional(),
    cidrs: z.array(z.string()).optional(),
  })
  .passthrough();

export const ConnectionSchema = z.object({ name: z.string().min(1) }).passthrough();
export const EndpointSchema = z.object({ name: z.string().min(1) }).passthrough();

export type Zone = z.infer<typeof ZoneSchema>;
export type Connection = z.infer<typeof ConnectionSchema>;
export type Endpoint = z.infer<typeof EndpointSchema>;
