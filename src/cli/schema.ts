import type { Command } from 'commander';
import { z } from 'zod';
import { FerryError } from '../errors.js';
import { ManifestSchema } from '../manifest/schema.js';
import { MirrorTargetSchema } from '../manifest/target.js';
import { LockSchema } from '../manifest/lock.js';

const SCHEMAS = { manifest: ManifestSchema, target: MirrorTargetSchema, lock: LockSchema } as const;

export function jsonSchemaFor(name: string): unknown {
  const schema = SCHEMAS[name as keyof typeof SCHEMAS];
  if (!schema) throw new FerryError('USAGE', `schema ${JSON.stringify(name)}: unknown; choose one of ${Object.keys(SCHEMAS).join(', ')}`);
  return z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' });
}

export function register(program: Command): void {
  program
    .command('schema')
    .description('print the JSON Schema of a file format (for editor completion)')
    .argument('<which>', 'manifest | target | lock')
    .action((which: string) => {
      process.stdout.write(JSON.stringify(jsonSchemaFor(which), null, 2) + '\n');
    });
}
