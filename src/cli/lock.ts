import type { Command } from 'commander';
import { lockCommand } from '../commands/lock.js';
import { escapeLine } from '../ui/escape.js';
import { note, printResult } from '../ui/output.js';
import { netOptions, progressFor, withNetOptions, type CommonCliOptions } from './common.js';

export function register(program: Command): void {
  withNetOptions(
    program
      .command('lock')
      .description('pin every artifact the manifest names (tags → digests, platforms, blobs) into <name>.lock.json beside it')
      .argument('<manifest>', 'manifest YAML')
      .option('-o, --output <file>', 'write the lock here instead')
      .option('--no-extras', 'lock images without their signatures, attestations, SBOMs and referrers')
      .option('--cache <oci-url>', 'shared cache registry (oci://registry/ferry-cache) for manifests and blobs read by digest'),
  ).action(async (manifest: string, opts: CommonCliOptions & { output?: string; extras?: boolean; cache?: string }) => {
    const progress = progressFor(opts);
    // The progress area is cleared before anything else prints, an error included.
    const r = await lockCommand(manifest, { ...netOptions(opts), progress, output: opts.output, noExtras: opts.extras === false, cache: opts.cache }).finally(() => progress.done());
    const { lock: _lock, ...summary } = r;
    printResult(opts.json ? summary : r, opts, () =>
      [
        `${r.changed ? 'wrote' : 'unchanged'} ${r.lockFile}: ${r.counts.images} images, ${r.counts.charts} charts, ${r.counts.files} files, ${r.counts.apt} apt repositories`,
        ...r.filtered.map((f) => `  ${f.ref}: keeps ${f.kept.join(', ')}; stores index ${f.storedDigest} (upstream ${f.digest})`),
      ].join('\n'),
    );
    for (const w of r.warnings) note(`warning: ${escapeLine(w)}`);
  });
}
