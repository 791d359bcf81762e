import type { Command } from 'commander';
import { pullBundle } from '../commands/bundle-pull.js';
import { pushBundle } from '../commands/bundle-push.js';
import { printResult } from '../ui/output.js';
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
