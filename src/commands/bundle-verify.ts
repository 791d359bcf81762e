import type { NetOptions } from '../oci/context.js';
import { bundleFrom, pathFrom } from './inputs.js';
import { FerryError } from '../errors.js';
import { LockSchema } from '../kinds/schema.js';
import { loadVerifyKey } from '../store/bundle-sign.js';
import { verifyBundle as verifyBundleFile, type VerifyOptions, type VerifyReport } from '../store/bundle-verify.js';
import { verifyBytes } from '../store/split-file.js';
import type { Progress } from '../ui/progress.js';

/** What is wrong with a bundle's ferry/lock.json against the lock schema, one line per field. */
export function lockProblems(value: unknown): string[] {
  const r = LockSchema.safeParse(value);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`);
}

/** Re-hash and check every byte of a bundle, its lock.json against the lock schema included. */
export function verifyBundle(tarPath: string, opts: Omit<VerifyOptions, 'checkLock'> = {}): Promise<VerifyReport> {
  return verifyBundleFile(tarPath, { ...opts, checkLock: lockProblems });
}

/** At most this many problems are listed one per line; the rest are counted. */
export const MAX_LISTED = 200;

export function listed(lines: string[]): string[] {
  return lines.length <= MAX_LISTED ? lines : [...lines.slice(0, MAX_LISTED), `… and ${lines.length - MAX_LISTED} more`];
}

export interface BundleVerifyOptions {
  /** PEM public key: the bundle must carry a signature it verifies. */
  key?: string;
  progress?: Progress;
  cwd?: string;
  /** Network settings for `oci://…` bundles (`--ca-file`, `--insecure-registry`). */
  net?: NetOptions;
}

export type BundleVerifyResult = VerifyReport & { warnings: string[] };

/** `ferry bundle verify`: the report, whatever it says (the CLI turns a failed one into exit 3 with `verifyFailure`). */
export async function bundleVerifyCommand(bundle: string, opts: BundleVerifyOptions = {}): Promise<BundleVerifyResult> {
  const cwd = opts.cwd ?? process.cwd();
  const at = (p: string) => pathFrom(cwd, p);
  const key = opts.key ? await loadVerifyKey(at(opts.key)) : undefined;
  const file = bundleFrom(cwd, bundle);
  // A split bundle's parts summed; a bundle in a registry, its layers' sizes.
  const size = await verifyBytes(file);
  const task = opts.progress?.start('verify', size);
  try {
    const report = await verifyBundle(file, { onProgress: task && ((n) => task.advance(n)), key, net: opts.net });
    return { ...report, warnings: [] };
  } finally {
    task?.finish();
  }
}

/** The error for a bundle that failed verification: every problem listed (capped), exit 3. */
export function verifyFailure(report: VerifyReport): FerryError {
  const n = report.problems.length;
  return new FerryError('VERIFY', `${report.bundle}: verification failed (${n} problem${n > 1 ? 's' : ''})`, {
    details: listed(report.problems.map((p) => p.message)),
    hint: 'Do not import this bundle. Copy it again from the source (or re-create it there) and verify again.',
  });
}
