import path from 'node:path';
import type { Command } from 'commander';
import { FerryError } from '../errors.js';
import { createBundle } from '../commands/bundle-create.js';
import { escapeLine } from '../ui/escape.js';
import { note, printResult } from '../ui/output.js';
import { humanBytes } from '../ui/progress.js';
import { addVerifyCommand } from './bundle-verify.js';
import { addOciCommands, cacheLine, runShard } from './bundle-oci.js';
import { countsText } from './lock.js';
import { parseSize, describeParts } from '../store/split-file.js';
import { describeSaving } from '../store/differential.js';
import { splitBundle } from '../commands/bundle-split.js';
import { netOptions, progressFor, withNetOptions, type CommonCliOptions } from './common.js';
import { shellQuote } from '../ui/shell-quote.js';
import { imageSignatureLines, NO_MANIFEST_RULES } from './image-signatures.js';

export function register(program: Command): void {
  const bundle = program.command('bundle').description('create and verify transferable bundles');
  withNetOptions(
    bundle
      .command('create')
      .description('resolve (or use the matching lock), fetch and verify every artifact, and pack one .tar (an OCI image layout)')
      .argument('<manifest>', 'manifest YAML')
      .option('-o, --output <file>', 'bundle file to write (e.g. app.ferry.tar); required unless --shard')
      .option('--frozen', 'fail instead of re-resolving when the lock is missing or does not match the manifest')
      .option('--no-extras', 'carry images without their signatures, attestations, SBOMs and referrers')
      .option('--sign-key <file>', 'sign ferry/checksums.sha256 with this PEM ECDSA P-256 private key (cosign sign-blob format)')
      .option('--since <base>', 'differential: leave out the image layers and files this older lock (.json) or bundle already carried (the target must hold them)')
      .option('--split-size <size>', 'write the bundle as parts of at most this size (4G, 700M, 4GiB, 4.7GB, bytes): <output>.001 … and <output>.parts (sha256sum -c checks them; cat joins them)')
      .option('--cache-dir <dir>', 'content-addressed download cache (default ~/.cache/ferry/store); given explicitly, every fetched blob is kept in it, as with --keep-cache')
      .option('--keep-cache', 'keep every fetched blob in the download cache too, then pack from it (each byte written twice); default: blobs of 1 MiB or more the cache lacks go straight into the bundle, and a killed run continues from <output>.partial')
      .option('--cache <oci-url>', 'shared cache registry (oci://registry/ferry-cache): blobs it has are read from it, blobs fetched upstream are pushed to it')
      .option('--shard <i/n>', 'fetch only shard i of n of the lock into --cache and write no bundle (then run without --shard to pack)'),
  ).action(async (manifest: string, opts: CommonCliOptions & { output: string; frozen?: boolean; cacheDir?: string; keepCache?: boolean; signKey?: string; extras?: boolean; cache?: string; shard?: string; splitSize?: string; since?: string }) => {
    if (opts.shard) return runShard(manifest, opts);
    if (!opts.output) throw new FerryError('USAGE', 'bundle create needs -o, --output <file> (unless --shard)', { hint: 'Run `ferry bundle create --help` for the options and examples.' });
    const splitSize = opts.splitSize === undefined ? undefined : parseSize(opts.splitSize);
    const progress = progressFor(opts);
    // The progress area is cleared before anything else prints, an error included.
    const r = await createBundle(manifest, {
      ...netOptions(opts),
      progress,
      output: opts.output,
      frozen: opts.frozen,
      cacheDir: opts.cacheDir,
      keepCache: opts.keepCache,
      cache: opts.cache,
      signKey: opts.signKey,
      noExtras: opts.extras === false,
      splitSize,
      since: opts.since,
    }).finally(() => progress.done());
    printResult(r, opts, () =>
      [
        `wrote ${r.bundle} (${humanBytes(r.size)}; ${r.blobs} blobs, ${humanBytes(r.blobBytes)} unique${r.signed ? '; signed' : ''})`,
        `  ${countsText(r.counts)}`,
        `  lock: ${r.lockFile} (${r.lockUsed === 'existing' ? 'used as is' : 'refreshed'})`,
        ...imageSignatureLines(r.imageSignatures, r.signatureNotes, NO_MANIFEST_RULES).map((l) => `  ${l}`),
        ...(r.resumedBytes ? [`  resumed: ${humanBytes(r.resumedBytes)} already in ${escapeLine(path.basename(r.bundle))}.partial from an interrupted run (re-hashed)`] : []),
        ...(r.cache ? [cacheLine(r.cache)] : []),
        ...describeSaving(r.differential, r.size),
        ...describeParts(r.parts),
      ].join('\n'),
    );
    for (const w of r.warnings) note(`warning: ${escapeLine(w)}`);
  });
  bundle
    .command('split')
    .description('write an existing bundle (a .tar, or a split one at another size) as parts for removable media: <output>.001 … and <output>.parts, as create --split-size does')
    .argument('<bundle>', 'bundle .tar, or the first part or .parts list of a split one (its parts are re-hashed against the list as they are read)')
    .requiredOption('--split-size <size>', 'the largest part (4G, 700M, 4GiB, 4.7GB, bytes)')
    .option('-o, --output <file>', 'the tar name the parts are named after (default: the bundle\'s own name; another one is needed to re-split a split bundle)')
    .option('--json', 'print the result as JSON on stdout')
    .option('-q, --quiet', 'no progress on stderr')
    .action(async (file: string, opts: { splitSize: string; output?: string; json?: boolean; quiet?: boolean }) => {
      const splitSize = parseSize(opts.splitSize);
      const progress = progressFor(opts);
      const r = await splitBundle(file, { splitSize, output: opts.output, progress }).finally(() => progress.done());
      printResult(r, opts, () =>
        [
          `split ${escapeLine(r.input)} (${humanBytes(r.size)}${r.inputParts ? `, ${r.inputParts} parts each re-hashed against their list` : ''})`,
          ...describeParts(r.parts),
          `  the contents were copied, not verified: \`ferry bundle verify ${shellQuote(path.relative(process.cwd(), path.resolve(r.parts[0]?.file ?? r.bundle)) || '.')}\` re-hashes every file (on either side)`,
        ].join('\n'),
      );
      for (const w of r.warnings) note(`warning: ${escapeLine(w)}`);
    });
  addVerifyCommand(bundle);
  addOciCommands(bundle);
}
