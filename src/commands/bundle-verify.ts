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
import { checkBundlePolicy, POLICY_FILE, type ImageSignatureSummary } from '../kinds/image/verify.js';
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

/**
 * The image signature policy the bundle carries (`ferry/verify-policy.json`, its manifest's
 * `verify:` rules), checked offline as `import` checks it: `verified` with what it covered,
 * `failed` (its problems are among the report's, file `ferry/verify-policy.json`), `no policy`
 * (the manifest had no rules: nothing checked), or `not checked` (the lock did not read; `reason`).
 */
export interface ImageSignatureReport {
  status: 'verified' | 'failed' | 'no policy' | 'not checked';
  summary?: ImageSignatureSummary;
  /** What was not checked of keyless signatures that passed (e.g. "Rekor inclusion not checked"). */
  notes: string[];
  reason?: string;
}

export type BundleVerifyResult = VerifyReport & { imageSignatures: ImageSignatureReport; warnings: string[] };

/** Policy problems kept in a report (one per failing image); the rest are counted. */
const MAX_POLICY_PROBLEMS = 1000;

/** The source verify reads is the opened bundle (a tar or a registry bundle), which also names and reads its files. */
const readsFiles = (s: BlobSource): s is BlobSource & Parameters<typeof checkBundlePolicy>[0] => typeof (s as { entry?: unknown }).entry === 'function' && typeof (s as { readFile?: unknown }).readFile === 'function';

/**
 * The bundle's image signature policy, checked on the reader verify opened (the same bytes it
 * re-hashes) once its lock read as a lock: every failing image becomes one problem of the report.
 */
async function checkPolicyOf(source: BlobSource, notes: string[]): Promise<{ report: ImageSignatureReport; problems: string[] }> {
  if (!readsFiles(source)) return { report: { status: 'not checked', notes, reason: 'this bundle source does not read files by name' }, problems: [] };
  try {
    const summary = await checkBundlePolicy(source, notes, 'at bundle verify');
    return { report: summary ? { status: 'verified', summary, notes } : { status: 'no policy', notes }, problems: [] };
  } catch (err) {
    const e = err as Error;
    const details = e instanceof FerryError && e.details?.length ? e.details : [e.message];
    const problems = details.slice(0, MAX_POLICY_PROBLEMS).map((d) => `image signature policy (${POLICY_FILE}): ${d}`);
    if (details.length > MAX_POLICY_PROBLEMS) problems.push(`image signature policy (${POLICY_FILE}): … and ${details.length - MAX_POLICY_PROBLEMS} more images`);
    return { report: { status: 'failed', notes, reason: e.message }, problems };
  }
}

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
    const notes: string[] = [];
    let policy: Awaited<ReturnType<typeof checkPolicyOf>> = { report: { status: 'not checked', notes, reason: 'ferry/lock.json did not read as a lock' }, problems: [] };
    const checkLock: VerifyOptions['checkLock'] = async (value, index, source) => {
      const problems = await lockProblems(value, index, source);
      // The policy names images of the lock: read only a lock that checks out.
      if (!problems.length) policy = await checkPolicyOf(source, notes);
      return problems;
    };
    const report = await verifyBundleFile(file, { onProgress: task && ((n) => task.advance(n)), key, net: opts.net, base, checkLock, isImageKind });
    for (const message of policy.problems) report.problems.push({ file: POLICY_FILE, message });
    if (policy.problems.length) report.ok = false;
    return { ...report, imageSignatures: policy.report, warnings: [] };
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

/** Every byte checked out, but an image is not signed as the bundle's own policy requires. */
const POLICY_HINT =
  "The bundle's bytes are intact, but the images named are not signed as its manifest's `verify:` rules require (the policy and keys in ferry/verify-policy.json); `import` refuses it too. Do not import it: ask its maker for images signed with the keys the rules name (or for corrected rules) and a new bundle.";

/** The error for a bundle that failed verification: every problem listed (capped), exit 3. */
export function verifyFailure(report: VerifyReport): FerryError {
  const n = report.problems.length;
  const b = report.base;
  const incomplete = b && b.missing.length ? `; with its base ${b.bundle}: incomplete (${b.missing.length} of the ${b.blobs} blobs it left out missing or damaged in the base)` : '';
  const baseOnly = b && !b.complete && report.problems.every((p) => p.inBase);
  return new FerryError('VERIFY', `${report.bundle}: verification failed (${n} problem${n > 1 ? 's' : ''})${incomplete}`, {
    details: listed(report.problems.map((p) => p.message)),
    hint: report.problems.every((p) => p.file === POLICY_FILE)
      ? POLICY_HINT
      : !baseOnly
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
