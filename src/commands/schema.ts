import { z } from 'zod';
import { FerryError } from '../errors.js';
import { LockSchema, ManifestSchema } from '../kinds/schema.js';
import { MirrorTargetSchema } from '../manifest/target.js';

const SCHEMAS = { manifest: ManifestSchema, target: MirrorTargetSchema, lock: LockSchema } as const;

export type SchemaName = keyof typeof SCHEMAS;
export const SCHEMA_NAMES = Object.keys(SCHEMAS) as SchemaName[];

/** `ferry schema <which>`: the JSON Schema of a file format (for editor completion). */
export function schemaCommand(name: string): unknown {
  const schema = SCHEMAS[name as SchemaName];
  if (!schema) throw new FerryError('USAGE', `schema ${JSON.stringify(name)}: unknown; choose one of ${SCHEMA_NAMES.join(', ')}`);
  return z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' });
}
