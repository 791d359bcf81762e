import type { Command } from 'commander';
import { trustOptions, withTrustOptions } from './common.js';
import { bundleVerifyCommand, verifyFailure, type BundleVerifyResult } from '../commands/bundle-verify.js';
import { escapeLine } from '../ui/escape.js';
import { note, printResult } from '../ui/output.js';
import { createProgress, humanBytes } from '../ui/progress.js';
import { describeExpected } from '../store/differential.js';
import type { BaseReport, VerifyReport } from '../store/bundle-verify.js';
import { imageSignatureLines, NO_BUNDLE_POLICY, policyOriginLines } from './image-signatures.js';

/** With --base, a complete pair: the base named and what was re-hashed of it (the omitted blobs are no longer "expected on the target"). */
function describeBase(b: BaseReport, e: VerifyReport['expectedFromBase']): string {
  return `\nwith its base ${escapeLine(b.bundle)}${e ? ` (${e.base.kind} ${escapeLine(e.base.name)}, ${e.base.digest})` : ''}: complete: all ${b.blobs} blob${b.blobs === 1 ? '' : 's'} the differential left out are in it (${humanBytes(b.bytes)} re-hashed${b.differential ? '; the base is itself a differential bundle' : ''}); base signature ${b.signature}`;
}

/**
 * The image signature policy's line(s). A policy that passed came in the bundle with its keys:
 * unless the bundle signature was checked with --key, nothing says who set them.
 */
function describeImageSignatures(r: BundleVerifyResult): string {
  const s = r.imageSignatures;
  const lines = s.status === 'not checked' ? [`image signatures: not checked (${s.reason ?? 'unknown'})`] : imageSignatureLines(s.summary, s.notes, NO_BUNDLE_POLICY);
  if (s.status === 'verified') lines.push(...policyOriginLines(s.summary, r.signature));
  return lines.map((l) => `\n${l}`).join('');
}

/** `ferry bundle verify <bundle>`: re-hash every byte; exit 3 naming artifact and blob on any problem. */
export function addVerifyCommand(bundle: Command): void {
  const cmd = bundle
    .command('verify')
    .description('re-hash every file of a bundle and check it is complete (exit 3 on any problem)')
    .argument('<bundle>', 'bundle .tar, or oci://registry/repository:tag (read in place)')
    .option('--base <bundle>', 'a differential bundle\'s base (.tar, first part or .parts of a split one, oci://…): refused unless it is the one the differential was made against; then every blob the differential left out must be in it, re-hashed (only those ranges are read): complete, or exit 3 naming each missing or damaged blob by artifact')
    .option('--key <file>', 'PEM public key: refuse the bundle unless ferry/checksums.sha256.sig verifies with it (with --base: the base\'s signature too)')
    .option('--base-key <file>', 'PEM public key for the base\'s signature when another key signed it (default: --key)')
    .option('--json', 'print the report as JSON on stdout')
    .option('-q, --quiet', 'no progress on stderr');
  withTrustOptions(cmd).action(async (file: string, opts: { json?: boolean; quiet?: boolean; key?: string; base?: string; baseKey?: string; caFile?: string[]; insecureRegistry?: string[] }) => {
      const progress = createProgress(opts);
      let report: BundleVerifyResult;
      try {
        report = await bundleVerifyCommand(file, { key: opts.key, base: opts.base, baseKey: opts.baseKey, progress, net: trustOptions(opts) });
      } finally {
        progress.done();
      }
      if (opts.json) printResult(report, opts, () => '');
      for (const w of report.warnings) note(`warning: ${escapeLine(w)}`);
      if (!report.ok) throw verifyFailure(report);
      if (!opts.json) {
        printResult(report, opts, (r) =>
          `${r.bundle}: OK (${r.files} files, ${humanBytes(r.bytes)} re-hashed; ${r.artifacts} artifact${r.artifacts === 1 ? '' : 's'} complete${r.images ? `, ${r.images} of them image${r.images === 1 ? '' : 's'}` : ''}; bundle signature ${r.signature}${r.signature === 'verified' ? ' (ferry/checksums.sha256.sig, made with bundle create --sign-key)' : ''})` +
          (r.base ? describeBase(r.base, r.expectedFromBase) : describeExpected(r.expectedFromBase)) +
          describeImageSignatures(r),
        );
      }
    });
}
