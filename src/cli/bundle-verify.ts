import type { Command } from 'commander';
import { trustOptions, withTrustOptions } from './common.js';
import { bundleVerifyCommand, verifyFailure, type BundleVerifyResult } from '../commands/bundle-verify.js';
import { escapeLine } from '../ui/escape.js';
import { note, printResult } from '../ui/output.js';
import { createProgress, humanBytes } from '../ui/progress.js';
import { describeExpected } from '../store/differential.js';

/** `ferry bundle verify <bundle>`: re-hash every byte; exit 3 naming artifact and blob on any problem. */
export function addVerifyCommand(bundle: Command): void {
  const cmd = bundle
    .command('verify')
    .description('re-hash every file of a bundle and check it is complete (exit 3 on any problem)')
    .argument('<bundle>', 'bundle .tar, or oci://registry/repository:tag (read in place)')
    .option('--key <file>', 'PEM public key: refuse the bundle unless ferry/checksums.sha256.sig verifies with it')
    .option('--json', 'print the report as JSON on stdout')
    .option('-q, --quiet', 'no progress on stderr');
  withTrustOptions(cmd).action(async (file: string, opts: { json?: boolean; quiet?: boolean; key?: string; caFile?: string[]; insecureRegistry?: string[] }) => {
      const progress = createProgress(opts);
      let report: BundleVerifyResult;
      try {
        report = await bundleVerifyCommand(file, { key: opts.key, progress, net: trustOptions(opts) });
      } finally {
        progress.done();
      }
      if (opts.json) printResult(report, opts, () => '');
      for (const w of report.warnings) note(`warning: ${escapeLine(w)}`);
      if (!report.ok) throw verifyFailure(report);
      if (!opts.json) {
        printResult(report, opts, (r) =>
          `${r.bundle}: OK (${r.files} files, ${humanBytes(r.bytes)} re-hashed; ${r.artifacts} artifact${r.artifacts === 1 ? '' : 's'} complete${r.images ? `, ${r.images} of them image${r.images === 1 ? '' : 's'}` : ''}; signature ${r.signature})` +
          describeExpected(r.expectedFromBase),
        );
      }
    });
}
