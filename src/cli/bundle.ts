import type { Command } from 'commander';
import { createBundle } from '../commands/bundle-create.js';
import { escapeLine } from '../ui/escape.js';
import { note, printResult } from '../ui/output.js';
import { humanBytes } from '../ui/progress.js';
import { addVerifyCommand } from './bundle-verify.js';
import { netOptions, progressFor, withNetOptions, type CommonCliOptions } from './common.js';

export function register(program: Command): void {
  const bundle = program.command('bundle').description('create and verify transferable bundles');
  withNetOptions(
    bundle
      .command('create')
      .description('resolve (or use the matching lock), fetch and verify every artifact, and pack one .tar (an OCI image layout)')
      .argument('<manifest>', 'manifest YAML')
      .requiredOption('-o, --output <file>', 'bundle file to write (e.g. app.ferry.tar)')
      .option('--frozen', 'fail instead of re-resolving when the lock is missing or does not match the manifest')
      .option('--no-extras', 'carry images without their signatures, attestations, SBOMs and referrers')
      .option('--sign-key <file>', 'sign ferry/checksums.sha256 with this PEM ECDSA P-256 private key (cosign sign-blob format)')
      .option('--cache-dir <dir>', 'content-addressed download cache (default ~/.cache/ferry/store; reused to resume)'),
  ).action(async (manifest: string, opts: CommonCliOptions & { output: string; frozen?: boolean; cacheDir?: string; signKey?: string; extras?: boolean }) => {
    const progress = progressFor(opts);
    // The progress area is cleared before anything else prints, an error included.
    const r = await createBundle(manifest, {
      ...netOptions(opts),
      progress,
      output: opts.output,
      frozen: opts.frozen,
      cacheDir: opts.cacheDir,
      signKey: opts.signKey,
      noExtras: opts.extras === false,
    }).finally(() => progress.done());
    printResult(r, opts, () =>
      [
        `wrote ${r.bundle} (${humanBytes(r.size)}; ${r.blobs} blobs, ${humanBytes(r.blobBytes)} unique${r.signed ? '; signed' : ''})`,
        `  ${r.counts.images} images, ${r.counts.charts} charts, ${r.counts.files} files, ${r.counts.apt} apt repositories`,
        `  lock: ${r.lockFile} (${r.lockUsed === 'existing' ? 'used as is' : 'refreshed'})`,
      ].join('\n'),
    );
    for (const w of r.warnings) note(`warning: ${escapeLine(w)}`);
  });
  addVerifyCommand(bundle);
}
