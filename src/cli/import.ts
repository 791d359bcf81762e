import type { Command } from 'commander';
import { importBundle } from '../commands/import.js';
import { escapeLine } from '../ui/escape.js';
import { note, printResult, table } from '../ui/output.js';
import { humanBytes } from '../ui/progress.js';
import { netOptions, progressFor, withNetOptions, type CommonCliOptions } from './common.js';

export function register(program: Command): void {
  withNetOptions(
    program
      .command('import')
      .description('verify a bundle, then push/write everything into the mirror target (idempotent; safe to rerun)')
      .argument('<bundle>', 'bundle .tar, or oci://registry/repository:tag (read in place)')
      .requiredOption('-t, --target <file>', 'mirror target YAML')
      .option('--key <file>', 'PEM public key: import only a bundle whose signature verifies with it'),
  ).action(async (bundle: string, opts: CommonCliOptions & { target: string; key?: string }) => {
    const progress = progressFor(opts);
    // The progress area is cleared before anything else prints, an error included.
    const r = await importBundle(bundle, { ...netOptions(opts), target: opts.target, key: opts.key, progress }).finally(() => progress.done());
    printResult(r, opts, () =>
      [
        `verified ${r.verified.files} files (${humanBytes(r.verified.bytes)}; signature ${r.verified.signature})`,
        table(
          ['ARTIFACT', 'MIRROR', 'STATUS'],
          r.results.map((x) => [x.artifact, x.location, x.skipped ? 'already there' : `sent ${humanBytes(x.bytesSent)}`]),
        ),
        `${r.pushed} imported, ${r.skipped} already present, ${humanBytes(r.bytesSent)} sent`,
      ].join('\n'),
    );
    for (const w of r.warnings) note(`warning: ${escapeLine(w)}`);
  });
}
