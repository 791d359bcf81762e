import type { Command } from 'commander';
import { pullBundle } from '../commands/bundle-pull.js';
import { pushBundle } from '../commands/bundle-push.js';
import type { CacheStats } from '../store/registry-cache.js';
import { createShard } from '../commands/bundle-shard.js';
import { escapeLine } from '../ui/escape.js';
import { note, printResult } from '../ui/output.js';
import { humanBytes } from '../ui/progress.js';
import { netOptions, progressFor, withNetOptions, type CommonCliOptions } from './common.js';

/** `ferry bundle push` and `ferry bundle pull`: a bundle as an OCI artifact in a registry. */
export function addOciCommands(bundle: Command): void {
  withNetOptions(
    bundle
      .command('push')
      .description('push a bundle into an OCI registry as one artifact (import, verify and serve read it there as oci://…)')
      .argument('<bundle>', 'bundle .tar')
      .argument('<reference>', 'oci://registry[:port]/repository:tag'),
  ).action(async (file: string, ref: string, opts: CommonCliOptions) => {
    const progress = progressFor(opts);
    const r = await pushBundle(file, ref, { ...netOptions(opts), progress });
    progress.done();
    printResult(r, opts, () => `pushed ${r.bundle} to ${r.reference} (${r.digest}; ${r.blobs} blobs, ${r.uploaded} uploaded, ${humanBytes(r.bytes)})`);
  });
  withNetOptions(
    bundle
      .command('pull')
      .description('rebuild a pushed bundle as the same .tar, byte for byte (every blob and the whole tar re-hashed)')
      .argument('<reference>', 'oci://registry[:port]/repository:tag (or @sha256:…)')
      .requiredOption('-o, --output <file>', 'bundle file to write'),
  ).action(async (ref: string, opts: CommonCliOptions & { output: string }) => {
    const progress = progressFor(opts);
    const r = await pullBundle(ref, { ...netOptions(opts), progress, output: opts.output });
    progress.done();
    printResult(r, opts, () => `wrote ${r.bundle} (${humanBytes(r.size)}, ${r.sha256})`);
  });
}

/** One line on what a shared cache saved. */
export function cacheLine(c: CacheStats): string {
  return `  cache ${c.cache}: ${c.hits} read from the cache (${humanBytes(c.hitBytes)}), ${c.misses} fetched upstream and cached (${humanBytes(c.missBytes)})`;
}

/** `bundle create --shard i/n`: this shard's share into the shared cache; no bundle. */
export async function runShard(manifest: string, opts: CommonCliOptions & { shard?: string; cache?: string; cacheDir?: string }): Promise<void> {
  const progress = progressFor(opts);
  const r = await createShard(manifest, { ...netOptions(opts), progress, shard: opts.shard!, cache: opts.cache, cacheDir: opts.cacheDir });
  progress.done();
  printResult(r, opts, () =>
    [
      `shard ${r.shard}: ${r.units} of ${r.totalUnits} units (${humanBytes(r.bytes)} of ${humanBytes(r.totalBytes)}) are in ${r.cache.cache}; no bundle written`,
      cacheLine(r.cache),
      `  ${r.cache.skipped} blobs left to the other shards`,
    ].join('\n'),
  );
  for (const w of r.warnings) note(`warning: ${escapeLine(w)}`);
}
