import { createHash, hash as hashOnce } from 'node:crypto';
import path from 'node:path';
import { FerryError } from '../errors.js';
import type { OciDescriptor, OciIndex } from '../oci/media-types.js';
import { parseChecksums } from './bundle-pack.js';
import { BundleReader } from './bundle-reader.js';
import { artifactLabel, describeBlob, MAX_MANIFEST_BYTES, roleOf, type BlobRole, type WalkProblem } from './layout.js';
import { isOciUrl, openBundleSource, type BundleSource } from './open-bundle.js';
import { ANNOTATION, type BlobSource } from './source.js';
import type { TarEntry } from './tar-index.js';
import { checkParts, checkSplitBundle, PartHashes, SplitFile, type RandomAccessFile } from './split-file.js';
import { checkBaseMatches, DIFFERENTIAL_FILE, expectedFromBase, lackingInBase, readDifferential, type DifferentialBase } from './differential.js';
import { hashRanges } from './hash-pool.js';
import { noteBytesPassed } from './young-gc.js';
import { EXTRA_ANNOTATION } from '../oci/referrers.js';
import type { NetOptions } from '../oci/context.js';
import { readSignature, SIGNATURE_FILE, type SignatureStatus, type VerifyKey } from './bundle-sign.js';

export interface VerifyProblem {
  /** The artifact(s) that use the file, by reference (images) or title/source (other kinds). */
  artifact?: string;
  /** Path inside the bundle. */
  file: string;
  /** A full sentence naming artifact, blob and what is wrong. */
  message: string;
  /** The problem is in the base given with `--base` (file is then a path inside the base). */
  inBase?: true;
}

export interface VerifyReport {
  ok: boolean;
  bundle: string;
  /** Files re-hashed. */
  files: number;
  /** Bytes re-hashed. */
  bytes: number;
  images: number;
  /** Top-level artifacts of any kind in index.json. */
  artifacts: number;
  problems: VerifyProblem[];
  /** ferry/checksums.sha256.sig: checked with the key given, or not. */
  signature: SignatureStatus;
  /** Of `files` and `bytes`: those whose hash the caller supplied (`known`), hashed while import pushed them, not read again. */
  hashedBefore?: { files: number; bytes: number };
  /** A differential bundle: the blobs it left out, expected on the target from its base (not missing). */
  expectedFromBase?: { base: DifferentialBase; blobs: number; bytes: number; digests: string[]; /** The artifacts and role using each (as in other verify messages), where the walk reached it. */ usedBy?: Record<string, string> };
  /** `--base`: the base checked for every blob the differential left out (see BaseReport). */
  base?: BaseReport;
}

/**
 * `bundle verify <differential> --base <bundle>`: the base is the one the differential names
 * (else the command is refused before anything is hashed), and every blob the differential
 * left out is in it with the recorded size and re-hashes to its digest. Only those blobs'
 * byte ranges of the base are read.
 */
export interface BaseReport {
  /** The base as given (absolute path, or oci://…). */
  bundle: string;
  /** true: every omitted blob is in the base, whole and undamaged (and its signature verified when a key was given). */
  complete: boolean;
  /** Omitted blobs looked for in the base (expectedFromBase.blobs, less any the differential carries after all). */
  blobs: number;
  /** Of them, re-hashed from the base (the rest are missing): files and bytes. */
  files: number;
  bytes: number;
  /** The base is itself a differential bundle (it holds only what it carried: refused if it lacks an omitted blob, as serve --base refuses it). */
  differential: boolean;
  /** The base's ferry/checksums.sha256.sig: checked with the key given (--base-key, else --key), or not. */
  signature: SignatureStatus;
  /** Each omitted blob the base does not supply, digest order: usedBy as in expectedFromBase. */
  missing: Array<{ digest: string; size: number; usedBy?: string; problem: string }>;
}

export interface VerifyOptions {
  /** Network settings for a bundle in a registry (`oci://…`): CAs, plain-HTTP hosts. */
  net?: NetOptions;
  onProgress?: (bytes: number) => void;
  key?: VerifyKey;
  /**
   * What is wrong with ferry/lock.json's parsed content (one line per field; empty when
   * nothing is). The lock's schema lives above store/, so the caller supplies the check;
   * without one, lock.json is only checked to parse.
   */
  checkLock?: (value: unknown, index: OciIndex | undefined, source: BlobSource) => string[] | Promise<string[]>;
  /**
   * false: ferry/lock.json is checked to be there and re-hashed like every file, but not parsed.
   * Import reads nothing of it, and parsing a whole APT component's lock (21 MB of text for
   * 60 000 packages) took ~50 MB at import's peak; `bundle verify` parses and checks it.
   */
  parseLock?: boolean;
  /**
   * Files already hashed by the caller from the bundle's own bytes (import hashes each blob as it
   * pushes it): tar name → hex sha256. They are not read again; their hashes are checked like the
   * ones computed here (against the blob's name and ferry/checksums.sha256), and every other file
   * is hashed as usual. The report's counts and problems are the same as without.
   */
  known?: ReadonlyMap<string, string>;
  /**
   * This bundle, already open (import's reader): its tar index is used rather than a second one
   * built beside it (60 000 entries each), and it is left open. Every byte is still re-read.
   */
  reader?: BundleSource;
  /**
   * A differential bundle's base, checked to supply every blob it left out (`bundle verify --base`,
   * `serve --verify --base`). `reader`: the base already open (serve's), read through and left open.
   */
  base?: { path: string; key?: VerifyKey; reader?: BundleSource };
  /**
   * Whether top-level entries of a kind (their kind annotation) count as the report's images. The
   * kinds live above store/, so the caller says; without it only an entry without a kind
   * annotation that names a reference (a plain OCI layout) counts.
   */
  isImageKind?: (kind: string) => boolean;
}

const CHECKSUMS = 'ferry/checksums.sha256';
/** Problems kept in a report; the rest are counted. */
const MAX_PROBLEMS = 1000;

interface ProblemSink {
  push(p: VerifyProblem): void;
}
const BLOB_NAME = /^blobs\/sha256\/([a-f0-9]{64})$/;

/**
 * Re-hash every file of the bundle in ONE sequential pass over the tar (offsets come from a
 * header-only index, so the pass is a single streaming read), then check: each blob's name is
 * its sha256; every file matches ferry/checksums.sha256 and nothing is missing or extra;
 * index.json parses and everything it reaches (indexes → manifests → config + layers, any
 * artifact kind) is present with the right size; lock.json and bundle.json parse. Nothing in
 * the bundle is trusted; every problem is collected, none stops the others from being found.
 */
export async function verifyBundle(tarPath: string, opts: VerifyOptions = {}): Promise<VerifyReport> {
  const bundle = isOciUrl(tarPath) ? tarPath : path.resolve(tarPath);
  const report: VerifyReport = { ok: false, bundle, files: 0, bytes: 0, images: 0, artifacts: 0, problems: [], signature: 'unsigned' };
  // Bounded: a bundle of a million bad files reports the first MAX_PROBLEMS and counts the rest.
  let omitted = 0;
  const problems: ProblemSink = {
    push: (p) => {
      if (report.problems.length < MAX_PROBLEMS) report.problems.push(p);
      else omitted++;
    },
  };

  // A split bundle: every part present and matching the .parts file, each named on its own.
  // Its parts are opened once (here, or by the caller that gives its `reader`) and every check
  // reads those descriptors: their hashes in the one read of the tar below (the .parts file and
  // the files inside, each byte read once); only a tar that cannot be indexed has them read on
  // their own. A part renamed over in between is never what is checked.
  const split = opts.reader || isOciUrl(bundle) ? { problems: [], incomplete: false } : await checkSplitBundle(bundle);
  for (const p of split.problems) problems.push(p);
  if (split.incomplete) return report;

  let reader: BundleSource;
  let base: BundleSource | undefined;
  try {
    reader = opts.reader ?? (split.file ? await BundleReader.over(bundle, split.file) : await openBundleSource(bundle, opts.net));
  } catch (err) {
    try {
      if (err instanceof FerryError && err.code === 'USAGE') throw err;
      problems.push({ file: '(archive)', message: (err as Error).message });
      if (split.file) for (const p of await checkParts(split.file, opts.onProgress)) problems.push(p);
      return report;
    } finally {
      await split.file?.close();
    }
  }
  const splitFile = reader instanceof BundleReader && reader.file instanceof SplitFile ? reader.file : undefined;
  // After import's push (`known`: each file hashed as it was pushed, then checked against its name
  // and the signed checksum list) the parts are not read again; they are hashed (through the
  // descriptors the push read) only to name the damaged ones when something failed.
  const partHashes = splitFile && !opts.known?.size ? new PartHashes(splitFile.parts) : undefined;

  try {
    // The format version first: exactly one is read (named with the one found in the error).
    if (!reader.entry('ferry/bundle.json')) problems.push({ file: 'ferry/bundle.json', message: 'ferry/bundle.json is missing' });
    else {
      try {
        await reader.info();
      } catch (err) {
        problems.push({ file: 'ferry/bundle.json', message: `ferry/bundle.json: ${withoutPrefix((err as Error).message, bundle)}` });
      }
    }
    const files = reader.index.entries.filter((e) => e.type === 'file');
    const expected = await expectedFromBase(reader).catch((err: Error) => void problems.push({ file: DIFFERENTIAL_FILE, message: withoutPrefix(err.message, bundle) }));
    if (expected) report.expectedFromBase = { base: expected.base, blobs: expected.blobs.size, bytes: expected.bytes, digests: [...expected.blobs.keys()] };
    // The base first: the wrong one is refused before a byte is hashed.
    if (opts.base && !expected && !reader.entry(DIFFERENTIAL_FILE)) throw new FerryError('USAGE', `--base ${opts.base.path}: ${bundle} is a full bundle; it needs no base`);
    if (opts.base && expected) base = await openBase(bundle, expected, opts.base, opts.net);

    // The checksums file first, so each hash is compared as it is computed and only the
    // differing ones are kept (memory stays flat however many files the bundle has).
    const checksumEntry = reader.entry(CHECKSUMS);
    let sums = new Map<string, string>();
    if (!checksumEntry) {
      problems.push({ file: CHECKSUMS, message: `${CHECKSUMS} is missing; the bundle cannot be checked file by file` });
    } else {
      sums = await readChecksums(reader, problems);
    }
    /** What ferry/checksums.sha256 says of `name` (SAME_AS_NAME resolved to the blob name's hex). */
    const listed = (name: string) => {
      const v = sums.get(name);
      return v === SAME_AS_NAME ? BLOB_NAME.exec(name)![1] : v;
    };

    // One pass: hash every file's bytes; keep the hashes that differ from a blob's name or from
    // the checksums file. A single tar: small files in sequential shared reads, large blobs
    // several at once on worker threads. A split tar reads through its parts; a bundle in a
    // registry streams each file.
    const differs = (name: string, hex: string) => {
      const m = BLOB_NAME.exec(name);
      if (m !== null && m[1] !== hex) return true;
      const v = sums.get(name);
      return v !== SAME_AS_NAME && v !== hex;
    };
    const known = opts.known;
    const toHash = known?.size ? files.filter((e) => !known.has(e.name)) : files;
    const hashes = await hashFiles(reader, toHash, opts.onProgress, differs, partHashes);
    if (partHashes && !partHashes.done) for (const p of await checkParts(splitFile!, opts.onProgress)) problems.push(p);
    for (const p of partHashes?.problems ?? []) problems.push(p);
    if (toHash !== files) {
      let n = 0;
      let bytes = 0;
      for (const e of files) {
        const hex = known!.get(e.name);
        if (hex === undefined) continue;
        n++;
        bytes += e.size;
        if (differs(e.name, hex)) hashes.set(e.name, hex);
      }
      report.hashedBefore = { files: n, bytes };
    }
    report.files = files.length;
    report.bytes = files.reduce((s, e) => s + e.size, 0);

    // Blobs whose content does not match their name; their manifests are not parsed.
    const corrupt = new Map<string, string>();
    for (const [name, hex] of hashes) {
      const m = BLOB_NAME.exec(name);
      if (m && hex !== m[1]) corrupt.set(`sha256:${m[1]}`, name);
    }

    let index: OciIndex | undefined;
    try {
      index = await reader.readIndex();
    } catch (err) {
      problems.push({ file: 'index.json', message: (err as Error).message });
    }
    let walk: BundleWalk | undefined;
    if (index) {
      walk = await walkBundle(index, reader, (d) => !corrupt.has(d), expected?.blobs);
      report.artifacts = index.manifests.length;
      report.images = index.manifests.filter((d) => {
        const kind = d.annotations?.[ANNOTATION.kind];
        if (d.annotations?.[EXTRA_ANNOTATION.of]) return false; // a signature or referrer, counted with its image
        return kind === undefined ? d.annotations?.[ANNOTATION.refName] !== undefined : (opts.isImageKind?.(kind) ?? false);
      }).length;
    }
    const blobUse = (digest: string) => walk?.use(digest);
    if (report.expectedFromBase && walk) {
      // A digest alone says nothing to the operator: name what uses each blob the target must hold.
      const usedBy: Record<string, string> = {};
      for (const d of report.expectedFromBase.digests.slice(0, 1000)) {
        const use = blobUse(d);
        if (use) usedBy[d] = `${use.artifacts.join(', ')} ${use.role}`;
      }
      report.expectedFromBase.usedBy = usedBy;
    }

    // Blob names versus content.
    for (const [digest, file] of corrupt) {
      const use = blobUse(digest);
      const actual = `sha256:${hashes.get(file)}`;
      problems.push({
        artifact: use && named(use.artifacts),
        file,
        message: `${use ? describeBlob(shortList(use.artifacts), use.role, digest) : `unreferenced blob ${digest}`}: digest mismatch (content hashes to ${actual})`,
      });
    }
    for (const e of files) {
      if (e.name.startsWith('blobs/') && !BLOB_NAME.test(e.name)) {
        problems.push({ file: e.name, message: `${e.name}: unexpected file under blobs/ (ferry stores sha256 blobs only, named by their digest)` });
      }
    }

    // Checksums file: every other file listed, every listed file present, every hash equal.
    if (checksumEntry) {
      for (const e of files) {
        if (e.name === CHECKSUMS || e.name === SIGNATURE_FILE) continue;
        const expected = listed(e.name);
        const m = BLOB_NAME.exec(e.name);
        const use = m ? blobUse(`sha256:${m[1]}`) : undefined;
        if (expected === undefined) {
          problems.push({ artifact: use && named(use.artifacts), file: e.name, message: `${e.name}: not listed in ${CHECKSUMS} (a file was added)` });
        } else if (hashes.has(e.name) && expected !== hashes.get(e.name) && !(m && corrupt.has(`sha256:${m[1]}`))) {
          problems.push({
            artifact: use && named(use.artifacts),
            file: e.name,
            message: `${use ? describeBlob(shortList(use.artifacts), use.role, `sha256:${m![1]}`) : e.name}: checksum mismatch (${CHECKSUMS} says ${expected}, content hashes to ${hashes.get(e.name)})`,
          });
        }
      }
      for (const name of [...sums.keys()].sort()) {
        if (!reader.entry(name)) problems.push({ file: name, message: `${name}: listed in ${CHECKSUMS} but missing from the bundle` });
      }
    }

    const signed = await readSignature(reader, opts.key);
    report.signature = signed.status;
    for (const message of signed.problems) problems.push({ file: SIGNATURE_FILE, message });

    // Reachability: every descriptor present with the right size.
    for (const p of walk?.problems ?? []) {
      const hex = /^sha256:([a-f0-9]{64})$/.exec(p.digest)?.[1];
      problems.push({
        artifact: named(p.artifacts),
        file: hex ? `blobs/sha256/${hex}` : 'index.json',
        message: `${describeBlob(shortList(p.artifacts), p.role, p.digest)}: ${p.message === 'missing' ? 'missing from the bundle' : p.message}`,
      });
    }

    // Metadata.
    if (opts.parseLock === false) {
      if (!reader.entry('ferry/lock.json')) problems.push({ file: 'ferry/lock.json', message: 'ferry/lock.json is missing' });
    } else await checkJson(reader, 'ferry/lock.json', problems, async (v) => (await opts.checkLock?.(v, index, reader)) ?? []);
    if (!reader.entry('ferry/manifest.yaml')) problems.push({ file: 'ferry/manifest.yaml', message: 'ferry/manifest.yaml is missing' });
    if (!reader.entry('oci-layout')) problems.push({ file: 'oci-layout', message: 'oci-layout is missing; OCI tools will not read the bundle' });
    if (base && expected && opts.base) report.base = await checkBase(reader, base, opts.base, expected.blobs, blobUse, problems, opts.onProgress);
    // Parts not hashed in the pass above (import's): hashed now, through the descriptors the
    // bytes were read from, only to name the damaged ones.
    if (splitFile && !partHashes && (report.problems.length || omitted)) for (const p of await checkParts(splitFile)) problems.push(p);
  } finally {
    if (!opts.base?.reader) await base?.close();
    if (!opts.reader) await reader.close();
  }

  // Stable order: by file, then message.
  report.problems.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : a.message < b.message ? -1 : a.message > b.message ? 1 : 0));
  if (omitted) report.problems.push({ file: '(more)', message: `… and ${omitted} more problems (only the first ${MAX_PROBLEMS} are listed)` });
  report.ok = report.problems.length === 0;
  return report;
}

/**
 * Hash the entries' bytes, keeping the hashes `keep` wants: a single tar's ranges (small files in
 * sequential shared reads, large blobs on worker threads), a split tar through its parts, a
 * bundle in a registry streamed file by file.
 */
async function hashFiles(
  reader: BundleSource,
  entries: TarEntry[],
  onProgress: ((bytes: number) => void) | undefined,
  keep: (name: string, hex: string) => boolean,
  parts: PartHashes | undefined,
): Promise<Map<string, string>> {
  if (!(reader instanceof BundleReader)) return new Map([...(await reader.hashEntries(entries, onProgress))].filter(([name, hex]) => keep(name, hex)));
  // A split tar read whole when its parts are checked too, else only the entries' ranges (a
  // differential's base: a few blobs of a large bundle).
  if (reader.file instanceof SplitFile) return parts ? hashSplit(reader.file, entries, onProgress, keep, parts) : hashEntries(reader.file, entries, onProgress, keep);
  return hashRanges(reader.file.fd === undefined ? reader.file.path : { path: reader.file.path, fd: reader.file.fd }, entries, { onProgress, keep });
}

/** The base of `bundle verify --base`, opened and matched to the digest the differential records (refused otherwise, as serve --base refuses it). */
async function openBase(bundle: string, expected: { base: DifferentialBase; blobs: Map<string, number> }, given: { path: string; reader?: BundleSource }, net: NetOptions | undefined): Promise<BundleSource> {
  const basePath = given.path;
  const base = given.reader ?? (await openBundleSource(isOciUrl(basePath) ? basePath : path.resolve(basePath), net));
  try {
    await base.info();
    const omitted = [...expected.blobs].map(([digest, size]) => ({ digest, size }));
    await checkBaseMatches(bundle, { base: expected.base, omitted }, basePath, base);
    return base;
  } catch (err) {
    if (!given.reader) await base.close();
    throw err;
  }
}

/**
 * Every blob the differential left out, in the base: present with the recorded size (the check
 * serve --base makes), then re-hashed from the base, those byte ranges only. Each one missing
 * or damaged is a problem naming the artifacts that use it; the base's signature is checked
 * with the key given.
 */
async function checkBase(
  reader: BundleSource,
  base: BundleSource,
  opts: { path: string; key?: VerifyKey },
  omittedBlobs: Map<string, number>,
  use: (digest: string) => BlobUse | undefined,
  problems: ProblemSink,
  onProgress: ((bytes: number) => void) | undefined,
): Promise<BaseReport> {
  const omitted = [...omittedBlobs].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([digest, size]) => ({ digest, size }));
  const out: BaseReport = { bundle: base.path, complete: false, blobs: 0, files: 0, bytes: 0, differential: (await readDifferential(base).catch(() => undefined)) !== undefined, signature: 'unsigned', missing: [] };
  const label = `base ${opts.path}`;
  const miss = (digest: string, size: number, problem: string) => {
    const u = use(digest);
    out.missing.push({ digest, size, ...(u ? { usedBy: `${u.artifacts.join(', ')} ${u.role}` } : {}), problem });
    problems.push({
      inBase: true,
      ...(u ? { artifact: named(u.artifacts) } : {}),
      file: `blobs/sha256/${digest.slice(7)}`,
      message: `${label}: ${u ? describeBlob(shortList(u.artifacts), u.role, digest) : `blob ${digest}`} (${size} bytes): ${problem}`,
    });
  };
  const lacking = new Map((await lackingInBase({ omitted }, reader, base)).map((l) => [l.digest, l]));
  const toHash: TarEntry[] = [];
  for (const o of omitted) {
    const l = lacking.get(o.digest);
    if (l) {
      out.blobs++;
      miss(o.digest, o.size, l.got === undefined ? `not in the base${out.differential ? ' (the base is itself a differential bundle)' : ''}` : `${l.got} bytes in the base, the differential recorded ${o.size}`);
      continue;
    }
    const e = base.entry(`blobs/sha256/${o.digest.slice(7)}`);
    if (!e) continue; // carried by the differential itself after all: verified with it
    out.blobs++;
    toHash.push(e);
  }
  const damaged = await hashFiles(base, toHash, onProgress, (name, hex) => BLOB_NAME.exec(name)?.[1] !== hex, undefined);
  // A split base: the parts the damaged blobs lie in are hashed against its .parts list (those
  // parts only, each once, through the descriptors just read), so the part to copy again is named.
  const baseSplit = base instanceof BundleReader && base.file instanceof SplitFile ? base.file : undefined;
  const range = (e: TarEntry) => ({ start: e.offset, end: e.offset + Math.max(e.size, 1) - 1 });
  const badParts = baseSplit && damaged.size ? await checkParts(baseSplit, undefined, toHash.filter((e) => damaged.has(e.name)).map(range)) : [];
  for (const e of toHash) {
    out.files++;
    out.bytes += e.size;
    const hex = damaged.get(e.name);
    if (hex === undefined) continue;
    let where = '';
    if (baseSplit) {
      const inIt = baseSplit.partsIn([range(e)]);
      const bad = badParts.filter((p) => inIt.has(baseSplit.parts.findIndex((q) => q.file === p.file)));
      const copy = bad.length ? `, and ${bad.map((p) => p.message).join('; ')}: copy ${bad.map((p) => path.basename(p.file)).join(', ')} again from the source` : '';
      where = `; it lies in ${baseSplit.partsAt(range(e).start, range(e).end)}${copy}`;
    }
    miss(`sha256:${BLOB_NAME.exec(e.name)![1]}`, e.size, /^[a-f0-9]{64}$/.test(hex) ? `damaged in the base: content hashes to sha256:${hex}${where}` : `unreadable in the base (${hex})${where}`);
  }
  out.missing.sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
  const signed = await readSignature(base, opts.key);
  out.signature = signed.status;
  for (const message of signed.problems) problems.push({ inBase: true, file: SIGNATURE_FILE, message: `${label}: ${message}` });
  out.complete = out.missing.length === 0 && signed.problems.length === 0;
  return out;
}

/** Artifact labels kept per blob: enough to name it; a blob shared by thousands stays cheap. */
const NAMED_PER_BLOB = 5;

/** The labels as a list for messages: "a, b, …" says more may use the blob than are named. */
function shortList(labels: readonly string[]): string[] {
  return labels.length >= NAMED_PER_BLOB ? [...labels, '…'] : [...labels];
}

function named(labels: readonly string[]): string {
  return shortList(labels).join(', ');
}

interface BlobUse {
  role: BlobRole;
  /** Up to NAMED_PER_BLOB artifacts using the blob, sorted. */
  artifacts: readonly string[];
}

interface BundleWalk {
  /** Every descriptor reachable from index.json, by digest: its role and the artifacts using it. */
  use(digest: string): BlobUse | undefined;
  problems: WalkProblem[];
}

/**
 * Walk index.json → indexes → manifests → config + layers (any artifact kind), checking that
 * each descriptor is present with the right size. Linear in the bundle's descriptors, whatever
 * their sharing: each manifest is parsed once; a blob records at most NAMED_PER_BLOB artifacts,
 * and a walk stops at a blob whose list is full (everything below it is full too: every label
 * that reached it went on down). Iterative, so deep nesting cannot overflow the stack.
 * `canParse` skips parsing a manifest whose bytes failed their digest check.
 *
 * Memory is one map entry per blob (90 000 in the largest bundle): a blob in the tar is keyed
 * by its tar entry's name (a string the tar index holds anyway), and its role and artifacts are
 * one shared record per distinct combination (nearly every blob of an artifact has the same).
 */
async function walkBundle(index: OciIndex, reader: BundleSource, canParse: (digest: string) => boolean, fromBase?: Map<string, number>): Promise<BundleWalk> {
  const blobs = new Map<string, BlobUse>();
  const records = new Map<string, BlobUse>();
  const record = (role: BlobRole, artifacts: string[]): BlobUse => {
    const key = `${role}\n${artifacts.join('\n')}`;
    let r = records.get(key);
    if (!r) records.set(key, (r = { role, artifacts }));
    return r;
  };
  const keyOf = (digest: string) => (reader instanceof BundleReader ? reader.blobEntry(digest)?.name : undefined) ?? digest;
  const problems: WalkProblem[] = [];
  const byDigest = new Map<string, WalkProblem>();

  const report = (label: string, role: BlobRole, digest: string, message: string) => {
    if (byDigest.has(digest)) return;
    const p = { artifacts: [label], role, digest, message };
    byDigest.set(digest, p);
    problems.push(p);
  };

  // Manifests of a tar are read into one buffer (a split APT artifact's 60 manifests would
  // otherwise be 60 MB of fresh buffers for the collector); a registry's arrive as buffers.
  let shared: Buffer | undefined;
  const manifestText = async (digest: string): Promise<string> => {
    if (!(reader instanceof BundleReader)) {
      const bytes = await reader.readBlob(digest);
      noteBytesPassed(bytes.length);
      return bytes.toString('utf8');
    }
    const e = reader.blobEntry(digest);
    if (!e) throw new Error('not in the bundle');
    shared ??= Buffer.allocUnsafe(MAX_MANIFEST_BYTES);
    for (let got = 0; got < e.size; ) {
      const n = reader.file.readSync(shared, got, e.size - got, e.offset + got);
      if (n === 0) throw new Error('the bundle ends before it does (truncated?)');
      got += n;
    }
    return shared.toString('utf8', 0, e.size);
  };
  // Not cached: a manifest is expanded at most NAMED_PER_BLOB times (see below), and keeping
  // every parsed manifest's children would hold the whole graph in memory.
  const childrenOf = async (desc: OciDescriptor, role: BlobRole, label: string) => {
    let result: Array<{ desc: OciDescriptor; role: BlobRole }> | null = null;
    if ((role === 'index' || role === 'manifest') && canParse(desc.digest)) {
      if (desc.size > MAX_MANIFEST_BYTES) {
        report(label, role, desc.digest, `${desc.size} bytes: larger than any registry accepts for a ${role} (${MAX_MANIFEST_BYTES}); not read`);
      } else {
        try {
          const json = JSON.parse(await manifestText(desc.digest)) as Record<string, unknown>;
          if (typeof json !== 'object' || json === null) throw new Error('not a JSON object');
          const list = (v: unknown, what: string): OciDescriptor[] => {
            if (v === undefined) return [];
            if (!Array.isArray(v)) throw new Error(`${what} is not an array`);
            return v as OciDescriptor[];
          };
          const children: Array<{ desc: OciDescriptor; role: BlobRole }> = [];
          for (const m of list(json.manifests, 'manifests')) children.push({ desc: m, role: roleOf(m?.mediaType, 'blob') });
          if (json.config !== undefined) children.push({ desc: json.config as OciDescriptor, role: 'config' });
          for (const l of list(json.layers, 'layers')) children.push({ desc: l, role: 'layer' });
          for (const b of list(json.blobs, 'blobs')) children.push({ desc: b, role: 'blob' });
          for (const c of children) {
            if (typeof c.desc?.digest !== 'string' || typeof c.desc?.size !== 'number') throw new Error('descriptor without digest or size');
          }
          // Only what the walk needs, not the parsed JSON (annotations, platforms…).
          result = children.map((c) => ({ desc: { mediaType: '', digest: c.desc.digest, size: c.desc.size }, role: c.role }));
        } catch (err) {
          report(label, role, desc.digest, `not a valid ${role} (${(err as Error).message})`);
        }
      }
    }
    return result;
  };

  for (const top of index.manifests) {
    const label = artifactLabel(top);
    const stack: Array<{ desc: OciDescriptor; role: BlobRole }> = [{ desc: top, role: roleOf(top.mediaType) }];
    while (stack.length) {
      const { desc, role } = stack.pop()!;
      const digest = String(desc.digest);
      const entry = reader instanceof BundleReader ? reader.blobEntry(digest) : undefined;
      const key = entry?.name ?? digest;
      const known = blobs.get(key);
      // Seen from this artifact already, or named by enough artifacts (and so is all below it).
      if (known && (known.artifacts.length >= NAMED_PER_BLOB || known.artifacts.includes(label))) continue;
      blobs.set(key, record(known?.role ?? role, known ? [...known.artifacts, label].sort() : [label]));
      if (!/^sha256:[a-f0-9]{64}$/.test(digest)) {
        report(label, role, digest, 'unsupported or malformed digest');
        continue;
      }
      const actual = reader instanceof BundleReader ? entry?.size : await reader.blobSize(digest);
      if (actual === undefined) {
        // Left out of a differential bundle with this size: expected from the base, not missing.
        if (fromBase?.get(digest) === desc.size) continue;
        report(label, role, digest, 'missing');
        continue;
      }
      if (actual !== desc.size) {
        report(label, role, digest, `size ${actual} bytes, the descriptor says ${desc.size}`);
        continue;
      }
      for (const c of (await childrenOf(desc, role, label)) ?? []) stack.push(c);
    }
  }
  const use = (digest: string) => blobs.get(keyOf(digest));
  // Problems name the artifacts that reach the blob, not only the first one found.
  for (const p of problems) p.artifacts = [...(use(p.digest)?.artifacts ?? p.artifacts)];
  return { use, problems };
}

/** The value kept for a blob whose listed hash is its name's (nearly all): no string per blob. */
const SAME_AS_NAME = '=';
/** Bytes of ferry/checksums.sha256 parsed at a time: the text is never one string, and each piece is small enough to die young (V8 puts strings over 128 KiB in large-object space, freed only by full collections). */
const CHECKSUM_CHUNK = 64 << 10;

/**
 * ferry/checksums.sha256 as name → hex, parsed a chunk of lines at a time (a bundle of 90 000
 * files lists 13 MB): names are the tar index's own strings where the bundle has the file, and a
 * blob listed with its own name's hash keeps SAME_AS_NAME, so the map costs an entry per file
 * and no more. Problems (bad lines, names listed twice) name their line.
 */
async function readChecksums(reader: BundleSource, problems: ProblemSink): Promise<Map<string, string>> {
  const sums = new Map<string, string>();
  // Read here, not in the caller: the file's bytes must not stay reachable from its frame.
  let raw: Buffer;
  try {
    raw = await reader.readFile(CHECKSUMS);
  } catch (err) {
    problems.push({ file: CHECKSUMS, message: withoutPrefix((err as Error).message, reader.path) });
    return sums;
  }
  let line = 0;
  for (let start = 0; start < raw.length; ) {
    let end = raw.indexOf(0x0a, Math.min(start + CHECKSUM_CHUNK, raw.length - 1));
    end = end === -1 ? raw.length : end + 1;
    const parsed = parseChecksums(raw.toString('utf8', start, end));
    for (const p of parsed.problems) problems.push({ file: CHECKSUMS, message: `${CHECKSUMS} line ${line + p.line}: ${p.message}` });
    for (const [name, hex] of parsed.sums) {
      if (sums.has(name)) problems.push({ file: CHECKSUMS, message: `${CHECKSUMS}: ${name} listed twice` });
      // Copies, not slices of the chunk's text: the text can then be freed.
      const key = reader.index.byName.get(name)?.name ?? fresh(name);
      sums.set(key, BLOB_NAME.exec(key)?.[1] === hex ? SAME_AS_NAME : fresh(hex));
    }
    for (let i = raw.indexOf(0x0a, start); i !== -1 && i < end; i = raw.indexOf(0x0a, i + 1)) line++;
    start = end;
  }
  return sums;
}

/** A flat copy of a string (a slice would keep its whole parent alive). */
function fresh(s: string): string {
  return Buffer.from(s, 'utf8').toString('utf8');
}

/** A reader error message without the leading `<bundle path>: ` (the report names the bundle once). */
function withoutPrefix(message: string, bundle: string): string {
  return message.startsWith(`${bundle}: `) ? message.slice(bundle.length + 2) : message;
}

async function checkJson(reader: BundleSource, name: string, problems: ProblemSink, check: (v: unknown) => Promise<string[]>): Promise<void> {
  if (!reader.entry(name)) {
    problems.push({ file: name, message: `${name} is missing` });
    return;
  }
  let raw: Buffer;
  try {
    raw = await reader.readFile(name);
  } catch (err) {
    problems.push({ file: name, message: withoutPrefix((err as Error).message, reader.path) });
    return;
  }
  let value: unknown;
  try {
    value = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    problems.push({ file: name, message: `${name}: not valid JSON (${(err as Error).message})` });
    return;
  }
  for (const issue of await check(value)) problems.push({ file: name, message: `${name}: ${issue}` });
}

/**
 * Hash every entry's data in one sequential read of the tar (headers skipped, entries in
 * offset order), through one reused buffer: memory stays flat whatever the bundle's size.
 */
async function hashEntries(fh: RandomAccessFile, entries: TarEntry[], onProgress: ((bytes: number) => void) | undefined, keep: (name: string, hex: string) => boolean): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const sorted = [...entries].sort((a, b) => a.offset - b.offset);
  const tarPath = fh.path;
  // One 1 MiB window read sequentially: small entries (manifests, configs) share a read.
  const buf = Buffer.allocUnsafe(1 << 20);
  let winStart = 0;
  let winEnd = 0;
  for (const e of sorted) {
    const end = e.offset + e.size;
    if (e.offset >= winStart && end <= winEnd) {
      // Whole entry in the window (manifests, configs, small files): a one-shot hash, no
      // Hash object (each holds native state until it is collected: 80 000 of them add up).
      const hex = hashOnce('sha256', buf.subarray(e.offset - winStart, end - winStart), 'hex');
      onProgress?.(e.size);
      if (keep(e.name, hex)) out.set(e.name, hex);
      continue;
    }
    const hash = createHash('sha256');
    let pos = e.offset;
    while (pos < end) {
      if (pos < winStart || pos >= winEnd) {
        const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
        if (bytesRead === 0) throw new FerryError('VERIFY', `${tarPath}: ended before ${e.name} was complete (truncated?)`);
        winStart = pos;
        winEnd = pos + bytesRead;
      }
      const n = Math.min(end, winEnd) - pos;
      hash.update(buf.subarray(pos - winStart, pos - winStart + n));
      pos += n;
      onProgress?.(n);
    }
    const hex = hash.digest('hex');
    if (keep(e.name, hex)) out.set(e.name, hex);
  }
  return out;
}

/**
 * A split tar's bytes read once, from the first to the last, in 1 MiB windows (the next read in
 * flight while one is hashed): every part's hash (`parts`, checked against the .parts file) and
 * every entry's, headers and padding included in the first only. Memory stays flat whatever the
 * bundle's size: two buffers, one hash per entry being read.
 */
async function hashSplit(fh: SplitFile, entries: TarEntry[], onProgress: ((bytes: number) => void) | undefined, keep: (name: string, hex: string) => boolean, parts: PartHashes): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const sorted = [...entries].sort((a, b) => a.offset - b.offset);
  const WINDOW = 1 << 20;
  const fill = async (buf: Buffer, pos: number): Promise<Buffer> => {
    let n = 0;
    const want = Math.min(buf.length, fh.size - pos);
    while (n < want) {
      const { bytesRead } = await fh.read(buf, n, want - n, pos + n);
      if (bytesRead === 0) throw new FerryError('VERIFY', `${fh.path}: ended at byte ${pos + n} of ${fh.size} (a part was truncated while being read?)`);
      n += bytesRead;
    }
    return buf.subarray(0, n);
  };
  const bufs = [Buffer.allocUnsafe(WINDOW), Buffer.allocUnsafe(WINDOW)];
  let k = 0; // the next entry to start
  let open: { entry: TarEntry; hash: ReturnType<typeof createHash> } | undefined;
  let pending = fh.size > 0 ? fill(bufs[0], 0) : undefined;
  for (let pos = 0, turn = 0; pending; turn ^= 1) {
    const win = await pending;
    const end = pos + win.length;
    // The next window is read while this one is hashed (its buffer is not the one in use).
    pending = end < fh.size ? fill(bufs[turn ^ 1], end) : undefined;
    parts.update(pos, win);
    for (;;) {
      if (!open) {
        if (k >= sorted.length || sorted[k].offset >= end) break;
        const e = sorted[k++];
        if (e.offset + e.size <= end && e.offset >= pos) {
          // Whole entry in the window: a one-shot hash (no Hash object holding native state).
          const hex = hashOnce('sha256', win.subarray(e.offset - pos, e.offset + e.size - pos), 'hex');
          if (keep(e.name, hex)) out.set(e.name, hex);
          continue;
        }
        open = { entry: e, hash: createHash('sha256') };
      }
      const e = open.entry;
      const from = Math.max(e.offset, pos);
      const to = Math.min(e.offset + e.size, end);
      if (to > from) open.hash.update(win.subarray(from - pos, to - pos));
      if (e.offset + e.size > end) break;
      const hex = open.hash.digest('hex');
      if (keep(e.name, hex)) out.set(e.name, hex);
      open = undefined;
    }
    onProgress?.(win.length);
    pos = end;
  }
  // Empty files at the very end have no byte in any window.
  while (!open && k < sorted.length && sorted[k].size === 0 && sorted[k].offset <= fh.size) {
    const e = sorted[k++];
    const hex = hashOnce('sha256', Buffer.alloc(0), 'hex');
    if (keep(e.name, hex)) out.set(e.name, hex);
  }
  if (open || k < sorted.length) throw new FerryError('VERIFY', `${fh.path}: ended before ${(open?.entry ?? sorted[k]).name} was complete (truncated?)`);
  return out;
}
