import { stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { FerryError } from '../errors.js';
import { loadVerifyKey } from '../store/bundle-sign.js';
import { listed } from '../store/bundle-import.js';
import { verifyBundle, type VerifyReport } from '../store/bundle-verify.js';
import { printResult } from '../ui/output.js';
import { createProgress, humanBytes } from '../ui/progress.js';

/** `ferry bundle verify <bundle>`: re-hash every byte; exit 3 naming artifact and blob on any problem. */
export function addVerifyCommand(bundle: Command): void {
  bundle
    .command('verify')
    .description('re-hash every file of a bundle and check it is complete (exit 3 on any problem)')
    .argument('<bundle>', 'bundle .tar')
    .option('--key <file>', 'PEM public key: refuse the bundle unless ferry/checksums.sha256.sig verifies with it')
    .option('--json', 'print the report as JSON on stdout')
    .option('-q, --quiet', 'no progress on stderr')
    .action(async (file: string, opts: { json?: boolean; quiet?: boolean; key?: string }) => {
      const key = opts.key ? await loadVerifyKey(opts.key) : undefined;
      const progress = createProgress(opts);
      const size = await stat(file).then((s) => s.size, () => 0);
      const task = progress.start('verify', size);
      let report: VerifyReport;
      try {
        report = await verifyBundle(file, { onProgress: (n) => task.advance(n), key });
      } finally {
        task.finish();
        progress.done();
      }
      if (opts.json) printResult(report, opts, () => '');
      if (!report.ok) {
        const n = report.problems.length;
        throw new FerryError('VERIFY', `${report.bundle}: verification failed (${n} problem${n > 1 ? 's' : ''})`, {
          details: listed(report.problems.map((p) => p.message)),
          hint: 'Do not import this bundle. Copy it again from the source (or re-create it there) and verify again.',
        });
      }
      if (!opts.json) {
        printResult(report, opts, (r) =>
          `${r.bundle}: OK (${r.files} files, ${humanBytes(r.bytes)} re-hashed; ${r.artifacts} artifacts, ${r.images} images complete; signature ${r.signature})`,
        );
      }
    });
}
