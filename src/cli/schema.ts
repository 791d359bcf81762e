import type { Command } from 'commander';
import { schemaCommand, SCHEMA_NAMES } from '../commands/schema.js';
import { printResult } from '../ui/output.js';

export function register(program: Command): void {
  program
    .command('schema')
    .description('print the JSON Schema of a file format (for editor completion)')
    .argument('<which>', SCHEMA_NAMES.join(' | '))
    .action((which: string) => {
      printResult(schemaCommand(which), { json: true }, () => '');
    });
}
