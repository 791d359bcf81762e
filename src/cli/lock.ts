import type { Command } from 'commander';
import { lockCommand } from '../store/bundle-create.js';
import { printResult } from '../ui/output.js';
import { netOptions, progressFor, withNetOptions, type CommonCliOptions } from './common.js';

export function register(program: Command): void {
  withNetOptions(
    program
      .command('lock')
      .description('pin every artifact the manifest names (tags → digests, platforms, blobs) into <name>.lock.json beside it')
      .argument('<manifest>', 'manifest YAML')
      .option('-o, --output <file>', 'write the lock here instead'),
  ).action(async (manifest: string, opts: CommonCliOptions & { output?: string }) => {
    const progress = progressFor(opts);
    const r = await lockCommand(manifest, { ...netOptions(opts), progress, output: opts.output });
    progress.done();
    printResult(opts.json ? { lockFile: r.lockFile, changed: r.changed, counts: r.counts } : r, opts, () =>
      `${r.changed ? 'wrote' : 'unchanged'} ${r.lockFile}: ${r.counts.images} images, ${r.counts.charts} charts, ${r.counts.files} files, ${r.counts.apt} apt repositories`,
    );
  });
}
