import type { Command } from 'commander';
import { mapCommand } from '../commands/map.js';
import { escapeLine } from '../ui/escape.js';
import { printResult, table } from '../ui/output.js';
import { trustOptions, withOutputOptions, withTrustOptions, type CommonCliOptions } from './common.js';

export function register(program: Command): void {
  withOutputOptions(
    withTrustOptions(program
      .command('map')
      .description('print where every upstream artifact lives on the mirror (the same mapping import, rewrite and audit use)')
      .argument('<source>', 'bundle .tar or oci://…, lock .json, or manifest .yaml (its lock beside it)')
      .requiredOption('-t, --target <file>', 'mirror target YAML')),
    'accepted for symmetry: map prints only its table (or JSON)',
  ).action(async (source: string, opts: CommonCliOptions & { target: string }) => {
    const r = await mapCommand(source, { target: opts.target, net: trustOptions(opts) });
    printResult(r, opts, () =>
      table(
        ['KIND', 'UPSTREAM', 'MIRROR'],
        r.rows.map((row) => [row.kind, escapeLine(row.upstream), row.mirror.map(escapeLine).join(', ') || '(target has no place for this kind)']),
      ),
    );
  });
}
