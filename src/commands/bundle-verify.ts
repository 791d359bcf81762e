import path from 'node:path';
import type { NetOptions } from '../oci/context.js';
import { bundleFrom, pathFrom } from './inputs.js';
import { FerryError } from '../errors.js';
import { LockSchema } from '../kinds/schema.js';
import { topsNotInLock } from '../kinds/lock-tops.js';
import { kindByName } from '../kinds/index.js';
import { imageKind } from '../kinds/image/index.js';
import type { OciIndex } from '../oci/media-types.js';
import type { BlobSource } from '../store/source.js';
import { loadVerifyKey, SIGNATURE_FILE, signatureProblemHint } from '../store/bundle-sign.js';
import { verifyBundle as verifyBundleFile, type VerifyOptions, type VerifyReport } from '../store/bundle-verify.js';
import { verifyBytes } from '../store/split-file.js';
import { CHAINED_BASE_HINT } from '../store/differential.js';
import type { Progress } from '../ui/progress.js';

/**
 * What is wrong with a bundle's ferry/lock.json against the lock schema, one line per field; and,
 * given the bundle's index.json, every entry there the lock does not pin.
 */
export async function lockProblems(value: unknown, index: OciIndex | undefined, source: BlobSource): Promise<string[]> {
  const r = LockSchema.safeParse(value);
  const schema = r.success ? [] : r.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`);
  const tops = Array.isArray(index?.manifests) ? index.manifests : [];
  return [...schema, ...(await topsNotInLock(value, tops, source)).map((p) => `index.json ${p.artifact}: ${p.message}`)];
}

/** The report counts the image kind's entries as images. */
const isImageKind = (kind: string) => kindByName(kind) === imageKind;

/** Re-hash and check every byte of a bundle, its lock.json against the lock schema included. */
export function verifyBundle(tarPath: string, opts: Omit<VerifyOptions, 'checkLock' | 'isImageKind'> = {}): Promise<VerifyReport> {
  return verifyBundleFile(tarPath, { ...opts, checkLock: lockProblems, isImageKind });
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
  /** A differential bundle's base (tar, split bundle's first part or .parts, oci://…): it must be the one recorded and supply every omitted blob. */
  base?: string;
  /** PEM public key for the base's signature when it was signed with another key than `key` (default: `key`). */
  baseKey?: string;
}

export type BundleVerifyResult = VerifyReport & { warnings: string[] };

/** `ferry bundle verify`: the report, whatever it says (the CLI turns a failed one into exit 3 with `verifyFailure`). */
export async function bundleVerifyCommand(bundle: string, opts: BundleVerifyOptions = {}): Promise<BundleVerifyResult> {
  const cwd = opts.cwd ?? process.cwd();
  const at = (p: string) => pathFrom(cwd, p);
  const key = opts.key ? await loadVerifyKey(at(opts.key)) : undefined;
  const baseKey = opts.baseKey ? await loadVerifyKey(at(opts.baseKey)) : key;
  if (opts.baseKey && !opts.base) throw new FerryError('USAGE', '--base-key needs --base <base bundle>');
  const file = bundleFrom(cwd, bundle);
  // A split bundle's parts summed; a bundle in a registry, its layers' sizes.
  const size = await verifyBytes(file);
  const task = opts.progress?.start('verify', size);
  try {
    const base = opts.base === undefined ? undefined : { path: bundleFrom(cwd, opts.base), key: baseKey };
    const report = await verifyBundle(file, { onProgress: task && ((n) => task.advance(n)), key, net: opts.net, base });
    return { ...report, warnings: [] };
  } finally {
    task?.finish();
  }
}

/** A split bundle's numbered part (`app.ferry.tar.003`). */
const PART_FILE = /\.\d{3}$/;

/**
 * What to do when some of the problems are a split bundle's parts (missing, or not hashing to
 * their line of the .parts list): copy those parts again, by name, then `then`. Undefined when no
 * problem names a part.
 */
export function partsHint(found: ReadonlyArray<{ file: string }>, then: string): string | undefined {
  const parts = [...new Set(found.filter((p) => PART_FILE.test(p.file)).map((p) => path.basename(p.file)))];
  if (!parts.length) return undefined;
  const named = parts.length > 3 ? `${parts.slice(0, 3).join(', ')} and ${parts.length - 3} more parts` : parts.join(', ');
  return `Copy ${named} again from the source: \`sha256sum -c\` on the .parts file beside ${parts.length > 1 ? 'them' : 'it'} names every part that differs (each part is checked against it). ${then}`;
}

/**
 * The base holds every blob the differential left out, but its signature does not check with the
 * key it was checked with (--base-key, else --key): most often the base was signed before the key
 * was rotated; copying it again would not help.
 */
const BASE_SIGNATURE_HINT =
  'The differential is sound and its base holds every blob it left out; only the base\'s signature does not check with the key named above. A base signed before the signing key was rotated takes its own public key: --base-key <the earlier .pub>. If that key was the right one, compare its fingerprint with its maker\'s (`openssl pkey -pubin -in key.pub -outform DER | sha256sum`): the same fingerprint means the base changed on its way, so copy it again; an unsigned base cannot be checked with a key at all.';

/** The error for a bundle that failed verification: every problem listed (capped), exit 3. */
export function verifyFailure(report: VerifyReport): FerryError {
  const n = report.problems.length;
  const b = report.base;
  const incomplete = b && b.missing.length ? `; with its base ${b.bundle}: incomplete (${b.missing.length} of the ${b.blobs} blobs it left out missing or damaged in the base)` : '';
  const baseOnly = b && !b.complete && report.problems.every((p) => p.inBase);
  return new FerryError('VERIFY', `${report.bundle}: verification failed (${n} problem${n > 1 ? 's' : ''})${incomplete}`, {
    details: listed(report.problems.map((p) => p.message)),
    hint: !baseOnly
      ? (signatureProblemHint(report.problems.map((p) => p.message)) ??
        partsHint(report.problems, 'Then verify again; do not import it before.') ??
        'Do not import this bundle. Copy it again from the source (or re-create it there) and verify again.')
      : b.differential && b.missing.length
        ? CHAINED_BASE_HINT
        : !b.missing.length && report.problems.every((p) => p.file === SIGNATURE_FILE)
          ? BASE_SIGNATURE_HINT
          : 'The differential is sound; its base is not: copy the base again from the source (or carry a full bundle: bundle create without --since) and verify again.',
  });
}
