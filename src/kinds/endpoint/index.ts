import { listField, type KindModule, type UpstreamRefBase } from '../types.js';
import { ConnectionSchema, EndpointSchema, ZoneSchema, type Endpoint } from './spec.js';

export type EndpointRef = UpstreamRefBase<'endpoint'>;

/**
 * Endpoints that cannot be mirrored (license servers, telemetry, webhooks, cloud APIs), with the
 * zones and connections they sit in. They resolve to nothing and fetch nothing, have no lock
 * key and no place in a mirror target; they feed the inventory (src/audit/model.ts) with their
 * purpose, condition and mitigation.
 */
export const endpointKind = {
  name: 'endpoint',
  field: 'endpoints',
  specSchema: EndpointSchema,
  manifestShape: {
    ...listField('zones', ZoneSchema),
    ...listField('connections', ConnectionSchema),
    ...listField('endpoints', EndpointSchema),
  },
  lockShape: {},
  // The inventory expands their placeholders itself (a var's value may use a var).
  expandVars: false,
  resolveItems: () => 0,
  resolve: async () => [],
  fetch: async () => [],
  fetchPlan: () => ({ artifact: '', bytes: 0 }),
  importTo: async () => [],
  references: () => [],
  locations: () => [],
} satisfies KindModule<Endpoint, never, EndpointRef, never>;
