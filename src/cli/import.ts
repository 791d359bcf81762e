import type { Command } from 'commander';
import { importBundle } from '../commands/import.js';
import { escapeLine } from '../ui/escape.js';
import { note, printResult, table } from '../ui/output.js';
import { humanBytes } from '../ui/progress.js';
import { netOptions, progressFor, withNetOptions, type CommonCliOptions } from './common.js';
import { imageSignatureLines, NO_BUNDLE_POLICY, policyOriginLines } from './image-signatures.js';

export function register(program: Command): void {
  withNetOptions(
    program
      .command('import')
      .summary('push/write a bundle into the mirror target, reading it once (idempotent; safe to rerun)')
      .description(
        'Push/write everything in a bundle into the mirror target (idempotent; safe to rerun), reading the bundle once: ' +
          'blobs are hashed as they are pushed (or staged under temporary names in directory targets), and manifests, tags and ' +
          'file names go out only after the whole bundle verified. ' +
          "A damaged bundle writes no manifest and no tag; blobs pushed before the damage was found stay untagged until the registry's " +
          'garbage collection removes them (`registry garbage-collect` for Distribution). --verify-first writes nothing at all.',
      )
      .argument('<bundle>', 'bundle .tar, or oci://registry/repository:tag (read in place)')
      .requiredOption('-t, --target <file>', 'mirror target YAML')
      .option('--key <file>', 'PEM public key: import only a bundle whose signature verifies with it')
      .option('--verify-first', 'verify the whole bundle before writing anything (reads it twice; a damaged bundle then leaves nothing at all on the target)'),
  ).action(async (bundle: string, opts: CommonCliOptions & { target: string; key?: string; verifyFirst?: boolean }) => {
    const progress = progressFor(opts);
    // The progress area is cleared before anything else prints, an error included.
    const r = await importBundle(bundle, { ...netOptions(opts), target: opts.target, key: opts.key, verifyFirst: opts.verifyFirst, progress }).finally(() => progress.done());
    printResult(r, opts, () =>
      [
        `verified ${r.verified.files} files (${humanBytes(r.verified.bytes)}${r.verified.whilePushing.files ? `, ${r.verified.whilePushing.files} of them hashed as they were pushed` : ''}; bundle signature ${r.verified.signature})`,
        ...imageSignatureLines(r.verified.imageSignaturePolicy ?? undefined, r.verified.imageSignatureNotes, NO_BUNDLE_POLICY),
        ...policyOriginLines(r.verified.imageSignaturePolicy ?? undefined, r.verified.signature),
        table(
          ['ARTIFACT', 'MIRROR', 'STATUS'],
          r.results.map((x) => [x.artifact, x.location, x.skipped ? 'already there' : `sent ${humanBytes(x.bytesSent)}${x.previous ? `, tag moved from ${x.previous.slice(0, 19)}…` : ''}`]),
        ),
        `${r.pushed} imported, ${r.skipped} already present, ${humanBytes(r.bytesSent)} sent${moved(r.results)}`,
      ].join('\n'),
    );
    for (const w of r.warnings) note(`warning: ${escapeLine(w)}`);
  });
}

/** `, N tags moved` when the import moved tags that named other manifests on the target. */
function moved(results: Array<{ previous?: string }>): string {
  const n = results.filter((x) => x.previous).length;
  return n ? `, ${n} tag${n > 1 ? 's' : ''} moved to another digest` : '';
}
