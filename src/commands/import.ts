import path from 'node:path';
import { FerryError } from '../errors.js';
import { loadResolvedTarget, withRegistryClient, type ResolvedTarget } from '../manifest/resolved-target.js';
import { checkCollisions } from '../mapping/index.js';
import { createTargetNetContext, type NetContext, type NetOptions } from '../oci/context.js';
import { goesToRegistry, kindByName, kindsWithoutPlace } from '../kinds/index.js';
import type { ImportNeed, ImportResult } from '../kinds/types.js';
import { bundleIndex, isDescriptor, ProblemList } from '../kinds/import-checks.js';
import { checkBundlePolicy, type ImageSignatureSummary } from '../kinds/image/verify.js';
import { DEFAULT_CONCURRENCY, mapLimit } from '../net/concurrency.js';
import type { OciDescriptor } from '../oci/media-types.js';
import { parseImageReference } from '../oci/reference.js';
import { loadVerifyKey, readListedJson, readSignature, signatureProblemHint, type SignatureStatus, type VerifyKey } from '../store/bundle-sign.js';
import { checksAgainstLock, kindNameOf, topsNotInLock } from '../kinds/lock-tops.js';
import { confineTo } from '../store/confined-dirs.js';
import { requireRoomInDirectories } from '../store/free-space.js';
import { HashedReads } from '../store/hashed-reads.js';
import { HashThreads } from '../store/hash-threads.js';
import { StagedBlobs } from '../store/staged-blobs.js';
import { checkBaseOnTarget } from './differential.js';
import { artifactLabel, LayoutWriters } from '../store/layout.js';
import { openBundleSource, type BundleSource } from '../store/open-bundle.js';
import { ANNOTATION } from '../store/source.js';
import { RegistryPushSession } from '../oci/push-session.js';
import type { Progress } from '../ui/progress.js';
import { listed, MAX_LISTED, partsHint, verifyBundle } from './bundle-verify.js';
import { bundleFrom, pathFrom } from './inputs.js';

export interface ImportOptions extends NetOptions {
  /** Mirror target YAML. */
  target: string;
  /** A public key: the bundle must carry a signature it verifies. */
  key?: string;
  /**
   * The old order: re-hash the whole bundle, then import (reading it twice). Without it, blobs
   * are hashed while they are pushed and a damaged bundle can leave untagged blobs in the
   * target registry (never a manifest or a tag); with it, nothing at all is written.
   */
  verifyFirst?: boolean;
  concurrency?: number;
  progress: Progress;
  cwd?: string;
}

export interface ImportReport {
  bundle: string;
  target: string;
  verified: {
    files: number;
    bytes: number;
    signature: SignatureStatus;
    imageSignatures: number;
    /** What the policy the bundle carries checked (rules, keys, images covered and not); null: the bundle carries none. */
    imageSignaturePolicy: ImageSignatureSummary | null;
    imageSignatureNotes: string[];
    /** Of those: the blobs hashed while they were pushed (not read again by the verify pass), and the bundle bytes the push read. */
    whilePushing: { files: number; bytes: number; read: number };
  };
  results: ImportResult[];
  pushed: number;
  skipped: number;
  bytesSent: number;
  warnings: string[];
}

/**
 * The mirror target, resolved once, with the client for its registry (its CA, its plain-HTTP
 * rule) when it has one. Close `net` when done.
 */
export function connectTarget(target: ResolvedTarget, opts: NetOptions): { target: ResolvedTarget; net?: NetContext } {
  const reg = target.registry;
  if (!reg) return { target };
  const net = createTargetNetContext({ registry: { url: reg.url, ca: reg.ca, certDir: reg.certDir, insecure: reg.insecure } }, target.dir, opts);
  return { target: withRegistryClient(target, net?.registry), net };
}

/**
 * `ferry import`. A hostile or damaged bundle is refused before any tag or manifest points at
 * its content, reading the bundle once:
 *  1. validation (cheap, reads only small metadata): the format version, index.json, every
 *     entry's kind, the target facets and keys it needs, and every name and path each kind will
 *     write — all problems collected, each with its artifact, and reported at once; then the
 *     bundle's signature (`--key`), the image signature policy and a differential bundle's base;
 *  2. blobs: every entry whose kind can (`importBlobs`: images, their signatures, charts) pushes
 *     its blobs to the target registry, each hashed as it streams out of the bundle — a blob
 *     that does not match its digest fails before its upload completes;
 *  3. verify: every byte not hashed in 2 (metadata, manifests, blobs the target had, the other
 *     kinds' files) is re-hashed and the whole bundle checked as `bundle verify` does. Any
 *     problem stops the import here: at most untagged blobs were written;
 *  4. import: each top-level entry to its kind — manifests and tags (its blobs are there now),
 *     and the directory targets' files. Each kind skips what the target already has, so a rerun
 *     after an interruption completes without resending.
 * `verifyFirst` (and a target without a registry) runs 3 before anything else instead, and no 2.
 * The bundle is opened once: 1–4 all read those descriptors (a file renamed over meanwhile is not read).
 */
export async function importBundle(bundle: string, opts: ImportOptions): Promise<ImportReport> {
  const cwd = opts.cwd ?? process.cwd();
  const at = (p: string) => pathFrom(cwd, p);
  bundle = bundleFrom(cwd, bundle);
  const resolved = await loadResolvedTarget(at(opts.target));
  const key = opts.key ? await loadVerifyKey(at(opts.key)) : undefined;
  // Hashing threads for one pass, booted while the bundle is validated (see HashThreads.warm).
  const early = !opts.verifyFirst ? new HashThreads().warm() : undefined;
  // Every write and presence check under the target's directories stays inside them on disk too:
  // a link planted there that leads outside is refused, never written or read through.
  const release = confineTo([resolved.directory, resolved.files?.dir, resolved.charts?.dir, resolved.apt?.dir]);
  try {
    return await importWith(bundle, resolved, key, early, opts);
  } finally {
    release();
    await early?.close();
  }
}

/** importBundle's work, with the hashing threads it owns (closed by the caller). */
async function importWith(bundle: string, resolved: ResolvedTarget, key: VerifyKey | undefined, early: HashThreads | undefined, opts: ImportOptions): Promise<ImportReport> {
  // Opened once: the validation, the verify pass (one pass or --verify-first) and the import all
  // read these descriptors, so a bundle (or a split bundle's part) renamed over on disk meanwhile
  // is never what is imported after the one opened was checked.
  const source = await openBundleSource(bundle, opts);
  try {
    return await importFrom(bundle, source, resolved, key, early, opts);
  } finally {
    await source.close();
  }
}

/** importWith's work on the bundle it opened (closed by the caller). */
async function importFrom(bundle: string, source: BundleSource, resolved: ResolvedTarget, key: VerifyKey | undefined, early: HashThreads | undefined, opts: ImportOptions): Promise<ImportReport> {
  const checkTask = opts.progress.start('check', 0);
  let tops: OciDescriptor[];
  try {
    tops = await validateBundleImport(bundle, resolved, opts, source);
    await requireRoomOnTarget(bundle, tops, source, resolved);
  } finally {
    checkTask.finish();
  }
  const concurrency = opts.concurrency ?? DEFAULT_CONCURRENCY;
  // One pass needs a kind that writes its blobs ahead of its manifests and names: into the
  // registry, or staged in a directory target (see StagedBlobs).
  const onePass = !opts.verifyFirst && tops.some((t) => kindOf(t)?.importBlobs);
  // Not needed after all: stopped now rather than at the end.
  if (!onePass) await early?.close();
  const verifyPass = async (known?: ReadonlyMap<string, string>) => {
    const task = opts.progress.start('verify', 0);
    // The lock is re-hashed with every file but not parsed: import reads nothing of it (`bundle verify` checks it).
    const report = await verifyBundle(bundle, { onProgress: (n) => task.advance(n), key, known, net: opts, reader: source, parseLock: false });
    // Said once, by the result (`verified N files …`), not also here as `verify: verified`.
    task.finish(report.ok ? undefined : 'FAILED');
    return report;
  };
  let verified: Awaited<ReturnType<typeof verifyPass>> | undefined;
  if (!onePass) {
    verified = await verifyPass();
    if (!verified.ok) throw verifyFailed(bundle, verified.problems);
  }

  const threads = onePass ? early : undefined;
  // A target registry answering 5xx is retried: the import's progress says so, each time.
  const { target, net } = connectTarget(resolved, { ...opts, onRetry: (m) => opts.progress.log(m) });
  const results: ImportResult[] = [];
  const warnings: string[] = [];
  const hashed = new HashedReads(source, bundle, threads);
  const staged = onePass && (resolved.directory || resolved.files || resolved.charts || resolved.apt) ? new StagedBlobs(hashed) : undefined;
  let imageSignaturePolicy: ImageSignatureSummary | undefined;
  const imageSignatureNotes: string[] = [];
  // Where a full disk stopped the import, said with what it left (diskFullOnImport).
  let phase: ImportPhase = onePass ? 'blobs' : 'import';
  let written = () => 0;
  try {
    if (onePass && key) {
      // The bundle's signature (over checksums.sha256) before the first byte goes out: cheap.
      const signed = await readSignature(source, key);
      if (signed.problems.length) throw verifyFailed(bundle, signed.problems.map((message) => ({ file: '(signature)', message })));
    }
    imageSignaturePolicy = await checkBundlePolicy(source, imageSignatureNotes);
    // A differential bundle: the target must already hold every blob it left out; one found in
    // another mirror repository (a base image's) is mounted from there by the push session.
    const mounts = await checkBaseOnTarget(bundle, source, target, target.registry?.client);
    const client = target.registry?.client;
    const push = client
      ? new RegistryPushSession(client, { openBlob: (digest, start) => (onePass ? hashed.openBlob(digest, start) : source.openBlob(digest, start)), progress: opts.progress, concurrency })
      : undefined;
    for (const [digest, repositories] of mounts) push?.knownAt(digest, repositories);
    written = () => push?.written ?? 0;
    // A directory target's index.json is written once, after every entry's blobs are in place.
    const layouts = new LayoutWriters({ deferred: true });
    const ctx = { source, target, progress: opts.progress, concurrency, registry: client, layouts, push, staged, warnings, tops };
    const perEntry = Math.max(1, Math.ceil(concurrency / 2));

    if (onePass) {
      // Every blob, hashed on its way out; no manifest yet. A failure does not stop the others:
      // the verify pass below names every problem of the bundle, not the first one met here.
      const failures: unknown[] = [];
      await mapLimit(tops, perEntry, (top) => (kindOf(top)!.importBlobs?.(top, ctx) ?? Promise.resolve()).catch((err: unknown) => void failures.push(err)));
      // Failed for another reason than a damaged blob (the network, the registry): say so now.
      if (failures.length && !hashed.damaged.size) throw failures[0];
      verified = await verifyPass(hashed.verified);
      if (!verified.ok) throw verifyFailed(bundle, verified.problems, push?.written ?? 0);
      if (failures.length) throw failures[0];
    }

    // Entries import side by side (each pushes its own blobs, manifests, then tag, in that order).
    phase = 'import';
    const done = await mapLimit(tops, perEntry, (top) => kindOf(top)!.importTo(top, ctx));
    await layouts.flush();
    results.push(...done.flat());
  } catch (err) {
    throw diskFullOnImport(err, bundle, resolved, phase, written()) ?? err;
  } finally {
    await staged?.cleanup();
    await net?.close();
  }
  const v = verified!;
  // Signed, but nobody asked whose key: the one line `signature not checked` is easy to miss.
  if (v.signature === 'not checked') warnings.push('the bundle is signed, but no --key was given: its signature was not checked, so nothing here says who made it; pass --key <the public key of its maker> (`ferry bundle verify --key` checks it without importing)');
  return {
    bundle,
    target: target.file,
    verified: {
      files: v.files,
      bytes: v.bytes,
      signature: v.signature,
      imageSignatures: imageSignaturePolicy?.verified ?? 0,
      imageSignaturePolicy: imageSignaturePolicy ?? null,
      imageSignatureNotes,
      whilePushing: { files: v.hashedBefore?.files ?? 0, bytes: v.hashedBefore?.bytes ?? 0, read: hashed.bytesRead },
    },
    results,
    pushed: results.filter((r) => !r.skipped).length,
    skipped: results.filter((r) => r.skipped).length,
    bytesSent: results.reduce((a, r) => a + r.bytesSent, 0),
    warnings,
  };
}

/** The bundle failed verification: what was found, and what (if anything) was written. */
function verifyFailed(bundle: string, found: ReadonlyArray<{ file: string; message: string }>, written = 0): FerryError {
  const problems = found.map((p) => p.message);
  const left = written
    ? `nothing was imported: no manifest or tag was written; ${written} blob${written > 1 ? 's' : ''} pushed before the check finished stay${written > 1 ? '' : 's'} untagged in the target registry, and its garbage collection removes ${written > 1 ? 'them' : 'it'} (\`registry garbage-collect\` for Distribution)`
    : 'nothing was imported';
  return new FerryError('VERIFY', `${bundle}: bundle failed verification; ${left}`, {
    details: listed(problems),
    hint:
      signatureProblemHint(problems) ??
      partsHint(found, 'Then import again.') ??
      'Copy the bundle across again (compare `sha256sum` on both sides), or recreate it. `--verify-first` checks the whole bundle before writing anything.',
  });
}

/** Where the import was: its blob pass (nothing named yet) or naming the artifacts (some may be done). */
type ImportPhase = 'blobs' | 'import';

/** The system's words for a disk that cannot take more. */
const DISK_FULL: Record<string, string> = { ENOSPC: 'no space left on the device', EDQUOT: 'disk quota exceeded' };

/**
 * A target directory whose disk filled (or whose quota ran out) during the import: which of the
 * target's directories it is, what the import left there and in the registry, and what to do.
 * Undefined for any other error. The path the system names is looked up through FerryError causes.
 */
function diskFullOnImport(err: unknown, bundle: string, target: ResolvedTarget, phase: ImportPhase, written: number): FerryError | undefined {
  let e: unknown = err;
  for (let depth = 0; depth < 8 && e && !(DISK_FULL[(e as NodeJS.ErrnoException).code ?? ''] && (e as NodeJS.ErrnoException).path); depth++) e = (e as { cause?: unknown }).cause;
  const errno = e as NodeJS.ErrnoException | undefined;
  const reason = errno && DISK_FULL[errno.code ?? ''];
  if (!errno?.path || !reason) return undefined;
  const facets: Array<[string, string | undefined]> = [
    ['apt.dir', target.apt?.dir],
    ['files.dir', target.files?.dir],
    ['charts.dir', target.charts?.dir],
    ['directory', target.directory],
  ];
  const inside = (dir: string) => {
    const rel = path.relative(dir, errno.path!);
    return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
  };
  const facet = facets.find(([, dir]) => dir !== undefined && inside(dir));
  if (!facet) return undefined;
  const [name, dir] = facet as [string, string];
  const untagged = written
    ? `; ${written} blob${written > 1 ? 's' : ''} pushed to the target registry before it stay${written > 1 ? '' : 's'} untagged until the import is run again (or the registry's garbage collection removes ${written > 1 ? 'them' : 'it'})`
    : '';
  const left =
    phase === 'blobs'
      ? `nothing was imported: no manifest or tag was written, no file was named in the target's directories (what was staged in them is removed)${untagged}`
      : 'artifacts imported before it are complete; the rest were not imported (nothing is left half-written under a final name)';
  return new FerryError('INTERNAL', `${dir} (the target's ${name}): ${reason} while importing ${bundle}; ${left}`, {
    cause: err,
    hint: `Free space on the file system that holds ${dir} (\`df -h ${dir}\`; the import needs room there for the files the bundle brings into it), or point the target's ${name} at a disk with room; then run the same import again: what the target already holds is skipped.`,
  });
}

const kindOf = (top: OciDescriptor) => kindByName(kindNameOf(top));

/**
 * Before the first byte: every target directory's file system has room for what the bundle
 * brings into it and the directory lacks (each kind's importNeeds); one that has not is refused,
 * named with its target key and figures. A registry is not checked (its disk is not ours to see).
 */
async function requireRoomOnTarget(bundle: string, tops: OciDescriptor[], source: BundleSource, target: ResolvedTarget): Promise<void> {
  if (!target.directory && !target.files && !target.charts && !target.apt) return;
  const needs: ImportNeed[] = [];
  for (const top of tops) {
    for (const n of (await kindOf(top)?.importNeeds?.(top, source, target)) ?? []) {
      // What the bundle holds, not what a manifest says: a size that lies fails the verify pass (named
      // there), and a blob a differential bundle left out is the base check's to name.
      if (n.digest !== undefined) n.bytes = (await source.blobSize(n.digest)) ?? 0;
      needs.push(n);
    }
  }
  await requireRoomInDirectories(needs, `importing ${bundle}`, 'run the same import again: nothing was written, and what the target already holds is not counted.');
}

/**
 * The validation pass: everything `import` would write, checked without writing. Throws one
 * FerryError listing every problem (each with its artifact); returns index.json's entries.
 * `opened`: the bundle already open (import's), read through and left open.
 */
export async function validateBundleImport(bundle: string, target: ResolvedTarget, net?: NetOptions, opened?: BundleSource): Promise<OciDescriptor[]> {
  const source = opened ?? (await openBundleSource(bundle, net));
  const problems = new ProblemList(MAX_LISTED);
  try {
    await source.info();
    const index = await bundleIndex(source);
    const tops = index.manifests;
    const where = (top: OciDescriptor) => artifactLabel(top);

    for (const top of tops) {
      if (!isDescriptor(top)) problems.add(where(top), `index.json entry ${JSON.stringify(String((top as { digest?: unknown }).digest)).slice(0, 100)} is not a sha256 descriptor with a size`);
      if (!kindOf(top)) problems.add(where(top), `kind ${JSON.stringify(kindNameOf(top))} is not one this ferry can import (use the same or a newer ferry than the one that made the bundle)`);
    }
    const missing = kindsWithoutPlace(tops.map(kindNameOf), target.target);
    for (const k of missing) problems.add(k, `add ${kindByName(k)!.targetFacet!.add}`, 'VALIDATION');
    if (target.registry) {
      // Every kind the registry receives (images and charts, as serve checks them): two upstream
      // repositories that one mirror repository would hold are refused before anything is pushed.
      const names = tops.filter((d) => goesToRegistry(kindNameOf(d))).map((d) => d.annotations?.[ANNOTATION.refName]).filter((n): n is string => typeof n === 'string');
      await problems.check('registry', () => checkCollisions(names.filter((n) => isImageReference(n)), target.registry!.mapping));
    }
    // An entry already refused (its name, its manifests) is not named again for the lock.
    const refused = new Set<OciDescriptor>();
    for (const top of tops) {
      const kind = kindOf(top);
      if (!kind?.validateImport || missing.includes(kind.name)) continue;
      const found = await kind.validateImport(top, source, target);
      if (found.length) refused.add(top);
      for (const p of found) problems.add(p.artifact, p.message, p.code, p.details);
    }
    // What is imported must be what the lock pins: map, rewrite, sbom, report and the signature
    // policy read the lock, so an entry only index.json names would be imported unseen by them.
    if (checksAgainstLock(tops)) {
      const lock = await problems.check('ferry/lock.json', () => readListedJson(source, 'ferry/lock.json', 'nothing was imported'));
      if (lock !== undefined) for (const p of await topsNotInLock(lock, tops.filter((t) => !refused.has(t)), source)) problems.add(p.artifact, p.message);
    }
    if (problems.count) {
      const n = problems.count;
      // The bundle's fault (crafted or damaged) is a verification failure; the target's, a validation one.
      const code = problems.bundleAtFault ? 'VERIFY' : problems.items[0].code;
      const headline = missing.length
        ? `${target.file}: the target has no place for the bundle's ${missing.map((k) => kindByName(k)!.targetFacet!.noun).join(', ')}; nothing was imported`
        : `${bundle}: ${n} problem${n > 1 ? 's' : ''} found before anything was written; nothing was imported`;
      throw new FerryError(code, headline, {
        details: [
          ...problems.items.map((p) => [p.message.startsWith(p.artifact) ? p.message : `${p.artifact}: ${p.message}`, ...(p.details ?? [])].join('\n')),
          ...(n > problems.items.length ? [`… and ${n - problems.items.length} more`] : []),
        ],
        hint: problems.bundleAtFault ? 'The bundle names something this target cannot take, or was crafted or damaged. Fix the target, or re-create the bundle on the connected side.' : 'Fix the target (or the settings it needs) as each problem says; the bundle itself is not at fault.',
      });
    }
    return tops;
  } finally {
    if (!opened) await source.close();
  }
}

function isImageReference(s: string): boolean {
  try {
    parseImageReference(s);
    return true;
  } catch {
    return false;
  }
}
