import { byCodePoint, ROLE } from '../file/artifact.js';
import { createGunzip } from 'node:zlib';
import { PassThrough, pipeline, Readable, Transform } from 'node:stream';
import { FerryError, isFerryError } from '../../errors.js';
import { discard, headerValue, type HttpClient } from '../../net/http.js';
import { clearSignedText, isArmored, isClearSigned, MAX_CLOCK_SKEW_MS, verifyClearSigned, verifyDetached, type PublicKeys } from '../../net/pgp.js';
import type { OciDescriptor } from '../../oci/media-types.js';
import type { BlobStore } from '../../store/blob-store.js';
import { isSafeRelativePath } from '../../store/safe-path.js';
import { ANNOTATION } from '../../store/source.js';
import { downloadToStore } from '../file/download.js';
import { parseRelease, streamDeb822, words, type ReleaseFile, type Stanza } from './control.js';
import { parseRelations, type AptPackage } from './deps.js';
import type { AptFile } from './lock.js';
import { flatDir, inSuiteDir, suiteDir } from './spec.js';
import { trimTrailing } from '../../ui/escape.js';
import { atStartFlags } from '../../net/v8-flags.js';

/** Shared helpers for reading an upstream APT repository: Release, indexes, packages. */

export function repoUrl(base: string, rel: string): string {
  return `${trimTrailing(base, '/')}/${rel.split('/').map(encodeURIComponent).join('/')}`;
}

export interface VerifiedRelease {
  /** Files as fetched and kept (InRelease, Release, Release.gpg that verified). */
  files: AptFile[];
  release: ReleaseFile;
  text: string;
  signedBy: string;
}

/**
 * The largest InRelease, Release or Release.gpg ferry reads. Debian's InRelease is ~150 KB and
 * Ubuntu's ~260 KB; each is held whole (three at once) and parsed by the OpenPGP library.
 */
export const MAX_RELEASE_BYTES = 16 << 20;

async function getOptional(http: HttpClient, url: string, label: string): Promise<Buffer | undefined> {
  try {
    return await http.getBytes(url, { label, maxBytes: MAX_RELEASE_BYTES });
  } catch (err) {
    if (isFerryError(err, 'NOT_FOUND')) return undefined;
    throw err;
  }
}

async function keep(store: BlobStore, path: string, bytes: Buffer): Promise<AptFile> {
  const d = await store.putBytes(bytes);
  return { path, sha256: d.digest.slice(7), size: d.size };
}

/**
 * Fetch and verify `dists/<suite>/InRelease` (or `Release` + `Release.gpg`) with the given keys;
 * a flat repository's are in its directory (`<dir>/InRelease`, the root for `./` and `/`).
 * An InRelease that exists but does not verify is refused, never bypassed via Release.
 * `keys` may still be loading: the requests go out first, so the round trips overlap the
 * OpenPGP library's loading (~30 ms of CPU); a key that fails to load is still the error
 * reported, before anything the requests brought.
 */
export async function fetchVerifiedRelease(
  base: string,
  suite: string,
  keysLoading: PublicKeys | Promise<PublicKeys>,
  http: HttpClient,
  store: BlobStore,
  label: string,
  now = Date.now(),
): Promise<VerifiedRelease> {
  const dir = suiteDir(suite);
  const at = (name: string) => inSuiteDir(suite, name);
  const files: AptFile[] = [];
  let text: string | undefined;
  let signedBy: string | undefined;
  // The three candidates at once: one round trip instead of three.
  const fetched = Promise.all(['InRelease', 'Release', 'Release.gpg'].map((name) => getOptional(http, repoUrl(base, at(name)), label)));
  // Handled below, after the keys; not an unhandled rejection should the keys fail first.
  fetched.catch(() => undefined);
  const keys = await keysLoading;
  const [inRelease, release, releaseGpg] = await fetched;
  if (inRelease) {
    checkClearSignedFraming(inRelease, `${label} ${repoUrl(base, at('InRelease'))}`);
    const v = await verifyClearSigned(inRelease, keys, `${label} ${repoUrl(base, at('InRelease'))}`);
    text = v.text;
    signedBy = v.signer;
    files.push(await keep(store, at('InRelease'), inRelease));
  }
  if (release && releaseGpg && text === undefined && !isArmored(releaseGpg)) {
    // apt 2.6's gpgv method refuses a binary detached signature outright, and then the Release as unsigned.
    throw new FerryError('VERIFY', `${label}: ${repoUrl(base, at('Release.gpg'))} is a binary (unarmored) OpenPGP signature and there is no InRelease: apt refuses it ("Detached signature file … is in unsupported binary format") and then the repository as not signed`, {
      hint: 'Ask the vendor to publish an InRelease or an armored Release.gpg (`gpg --armor --detach-sign`); a mirror of this suite would fail `apt-get update` on every client.',
    });
  }
  if (release && releaseGpg) {
    let signer: string | undefined;
    try {
      signer = await verifyDetached(release, releaseGpg, keys, `${label} ${repoUrl(base, at('Release'))} (signature Release.gpg)`);
    } catch (err) {
      // With a verified InRelease, a Release.gpg by another key is not carried; without one, it is fatal.
      if (text === undefined || !isFerryError(err, 'VERIFY')) throw err;
    }
    if (signer && text === undefined) {
      text = release.toString('utf8');
      signedBy = signer;
    }
    // Carried beside InRelease only when it lists the very same files (an older Release, replayed
    // with its valid signature, would make the mirror publish two Releases that disagree).
    if (signer && sameIndexes(parseRelease(release.toString('utf8')), parseRelease(text!))) {
      files.push(await keep(store, at('Release'), release));
      files.push(await keep(store, at('Release.gpg'), releaseGpg));
    }
  }
  if (text === undefined || !signedBy) {
    throw new FerryError(release ? 'VERIFY' : 'NOT_FOUND', `${label}: ${repoUrl(base, dir)} has ${release ? 'an unsigned Release (no InRelease, no Release.gpg)' : 'no InRelease or Release'}`, {
      hint: release
        ? 'ferry mirrors only signed repositories.'
        : flatDir(suite) === undefined
          ? 'Check url: and suites: (the suite is the directory under dists/).'
          : 'Check url: and suites: (a flat repository\'s directory, as its sources line names it: `deb URL ./` is suites: ["./"]).',
    });
  }
  const parsed = parseRelease(text);
  checkRelease(parsed, `${label} ${repoUrl(base, at(inRelease ? 'InRelease' : 'Release'))}`);
  const validUntil = parsed.fields.get('valid-until');
  if (validUntil && Date.parse(validUntil) < now) {
    throw new FerryError('VERIFY', `${label}: ${repoUrl(base, at('InRelease'))} expired at ${validUntil} (Valid-Until)`, {
      hint: 'The repository served stale metadata; try again later or report it to the vendor.',
    });
  }
  const date = parsed.fields.get('date');
  if (date && Date.parse(date) > now + MAX_FUTURE_DATE_MS) {
    throw new FerryError('VERIFY', `${label}: ${repoUrl(base, at(inRelease ? 'InRelease' : 'Release'))} is dated ${date}, ${Math.round((Date.parse(date) - now) / 60_000)} minutes from now (Date); apt refuses it until then ("not valid yet")`, {
      hint: 'Check this host\'s clock first. If it is right, the repository published a misdated Release: a mirror of it would be refused by every client until that date. Try again later or report it to the vendor.',
    });
  }
  return { files: files.sort((a, b) => byCodePoint(a.path, b.path)), release: parsed, text, signedBy };
}

/**
 * How far in the future a Release's Date may be: apt refuses a Release dated after its clock
 * ("not valid yet"); a few minutes of skew between the vendor's clock and this host's are not that.
 */
export const MAX_FUTURE_DATE_MS = MAX_CLOCK_SKEW_MS;

const BEGIN_SIGNED = '-----BEGIN PGP SIGNED MESSAGE-----';
const END_SIGNATURE = '-----END PGP SIGNATURE-----';

/**
 * Why a clear-signed text carries more than one signed message, or anything but white space
 * outside it; undefined when it does not. The OpenPGP library verifies the signed block and
 * ignores what surrounds it; apt refuses such a file, and a parser looking at the whole text
 * would read the unsigned part (a Release paragraph written before the signed one).
 */
export function clearSignedFramingProblem(text: string): string | undefined {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/).map((l) => l.trimEnd());
  const first = lines.findIndex((l) => l.trim() !== '');
  if (first === -1 || lines[first] !== BEGIN_SIGNED) return 'text before the signed message';
  if (lines.filter((l) => l === BEGIN_SIGNED).length > 1) return 'more than one signed message';
  const ends = lines.flatMap((l, i) => (l === END_SIGNATURE ? [i] : []));
  if (ends.length !== 1) return ends.length ? 'more than one signature block' : 'no end of signature';
  if (lines.slice(ends[0] + 1).some((l) => l.trim() !== '')) return 'text after the signature';
  return undefined;
}

/** Refuses (VERIFY, naming `where`) a clear-signed file with anything outside its one signed message. */
export function checkClearSignedFraming(bytes: Buffer, where: string): void {
  const problem = clearSignedFramingProblem(bytes.toString('utf8'));
  if (problem) {
    throw new FerryError('VERIFY', `${where}: ${problem}; only the signed text may be read, and apt refuses such a file`, {
      hint: 'The text outside the signature is not vouched for by the vendor key: the file was tampered with on the way, or the repository is misconfigured.',
    });
  }
}

/**
 * What makes a verified Release unusable: no SHA256 list (ferry verifies every index by it),
 * a field or a file given twice, a Valid-Until or a Date that is not a date.
 */
export function checkRelease(release: ReleaseFile, where: string): void {
  const problems = [...release.problems];
  if (!release.sha256.size) problems.push('no SHA256 list of index files (ferry verifies every index by SHA-256; MD5Sum and SHA1 are not enough)');
  const validUntil = release.fields.get('valid-until');
  if (validUntil !== undefined && Number.isNaN(Date.parse(validUntil))) problems.push(`Valid-Until ${JSON.stringify(validUntil)} is not a date`);
  const date = release.fields.get('date');
  if (date !== undefined && Number.isNaN(Date.parse(date))) problems.push(`Date ${JSON.stringify(date.slice(0, 200))} is not a date`);
  if (problems.length) {
    throw new FerryError('VERIFY', `${where}: the signed Release cannot be used`, {
      details: problems,
      hint: 'The signature is good but the file is not a Release apt or ferry can read unambiguously; report it to the repository operator.',
    });
  }
}

function sameIndexes(a: ReleaseFile, b: ReleaseFile): boolean {
  if (a.sha256.size !== b.sha256.size) return false;
  for (const [p, x] of a.sha256) {
    const y = b.sha256.get(p);
    if (!y || y.hash !== x.hash || y.size !== x.size) return false;
  }
  return true;
}

/** The Release file a suite is read by, of those kept: InRelease, else Release (each by its name, in any directory). */
export function mainRelease<T>(files: readonly T[], pathOf: (f: T) => string | undefined): T | undefined {
  const named = (name: string) => files.find((f) => pathOf(f)?.split('/').pop() === name);
  return named('InRelease') ?? named('Release');
}

/**
 * The signed Release text from kept bytes (verified when it was fetched). A clear-signed file
 * with anything outside its signed message is refused (VERIFY, naming `where`): its unsigned
 * part must never be parsed (a bundle's InRelease is not re-verified against the vendor key).
 */
export function releaseTextOf(bytes: Buffer, where = 'InRelease'): string {
  const t = bytes.toString('utf8');
  if (!isClearSigned(bytes) && !t.includes(BEGIN_SIGNED)) return t;
  checkClearSignedFraming(bytes, where);
  return clearSignedText(t);
}

/**
 * Which index files of a Release a mirror of these components and architectures carries:
 * Packages (every compression) for each architecture and `all`, per-architecture Release
 * files, translations, AppStream (dep11) and command-not-found (cnf) data. Contents, sources
 * and installer images are left out.
 */
export function selectIndexPaths(release: ReleaseFile, components: string[], architectures: string[]): string[] {
  const arches = new Set([...architectures, 'all']);
  const out: string[] = [];
  for (const p of release.sha256.keys()) {
    const comp = components.find((c) => p.startsWith(`${c}/`));
    if (!comp) continue;
    const rest = p.slice(comp.length + 1);
    const bin = /^binary-([a-z0-9-]+)\/(Packages(\.gz|\.xz|\.bz2|\.zst|\.lzma)?|Release)$/.exec(rest);
    if (bin) {
      if (arches.has(bin[1])) out.push(p);
      continue;
    }
    if (/^i18n\/(Translation-[A-Za-z_@.]+(\.gz|\.xz|\.bz2|\.zst)?|Index)$/.test(rest)) out.push(p);
    // AppStream and command-not-found data: Ubuntu clients fetch these on update when installed.
    const perArch = /^(?:dep11\/Components|cnf\/Commands)-([a-z0-9-]+)(?:\.[a-z0-9.]+)?$/.exec(rest);
    if (perArch && arches.has(perArch[1])) out.push(p);
    if (/^dep11\/icons-[0-9x@]+\.tar(\.gz|\.xz)?$/.test(rest)) out.push(p);
  }
  return out.sort();
}

/**
 * The Packages file to parse for one component and architecture: gzip, else xz (decompressed in
 * WebAssembly, `unxz`), else plain. Debian's -updates and -security suites list the plain file (for
 * its hash) but serve only `Packages.xz`, so the plain one comes last.
 */
export function packagesIndexFor(release: ReleaseFile, component: string, arch: string): string | undefined {
  for (const ext of ['.gz', '.xz', '']) {
    const p = `${component}/binary-${arch}/Packages${ext}`;
    if (release.sha256.has(p)) return p;
  }
  return undefined;
}

/**
 * A flat repository's Packages index, at the top of its directory: gzip, else xz, else plain (as
 * packagesIndexFor). Its stanzas mix architectures; each package's `Architecture` decides.
 */
export function flatPackagesIndex(release: ReleaseFile): string | undefined {
  for (const ext of ['.gz', '.xz', '']) if (release.sha256.has(`Packages${ext}`)) return `Packages${ext}`;
  return undefined;
}

/** The index files a whole mirror of a flat repository carries: every Packages variant its Release lists. */
export function flatIndexPaths(release: ReleaseFile): string[] {
  return [...release.sha256.keys()].filter((p) => /^Packages(\.(gz|xz|bz2|zst|lzma))?$/.test(p)).sort();
}

export function listsPackagesFor(release: ReleaseFile, component: string, arch: string): string[] {
  return [...release.sha256.keys()].filter((p) => p.startsWith(`${component}/binary-${arch}/Packages`));
}

/** Download an index listed in Release, by hash when the repository offers it; verified against Release. */
export async function fetchIndex(
  base: string,
  suite: string,
  relPath: string,
  release: ReleaseFile,
  http: HttpClient,
  store: BlobStore,
  label: string,
): Promise<AptFile> {
  const listed = release.sha256.get(relPath);
  if (!listed) throw new FerryError('INTERNAL', `${label}: ${relPath} is not listed in Release`);
  const path = inSuiteDir(suite, relPath);
  const what = `${label} ${path} (as listed in the signed Release)`;
  const expect = { sha256: listed.hash, size: listed.size };
  if (release.acquireByHash) {
    const byHash = inSuiteDir(suite, `${relPath.slice(0, relPath.lastIndexOf('/') + 1)}by-hash/SHA256/${listed.hash}`);
    try {
      await downloadToStore(store, http, repoUrl(base, byHash), expect, { label: what });
      return { path, sha256: listed.hash, size: listed.size };
    } catch (err) {
      if (!isFerryError(err, 'NOT_FOUND')) throw err;
    }
  }
  const url = repoUrl(base, path);
  try {
    await downloadToStore(store, http, url, expect, { label: what });
  } catch (err) {
    throw await indexMismatch(err, http, url, listed, `${label} ${path}`);
  }
  return { path, sha256: listed.hash, size: listed.size };
}

const MIRROR_SYNC_HINT =
  'The repository (or a mirror or CDN cache in front of it) serves an index its signed Release does not list: a mirror mid-sync or a stale cache (apt says "File has unexpected size" or "Hash Sum mismatch … Mirror sync in progress?"). Try again later, or set url: to another mirror of the same repository. ferry never takes an index the signed Release does not vouch for.';

/**
 * Why an index listed in the signed Release could not be fetched, said as the mismatch it is: a
 * server whose whole file is shorter or longer than the Release lists otherwise looks like a
 * dropped connection retried until it gives up. One HEAD, only after the download failed.
 */
async function indexMismatch(err: unknown, http: HttpClient, url: string, listed: { hash: string; size: number }, what: string): Promise<unknown> {
  if (isFerryError(err, 'NOT_FOUND')) return err;
  let served: number | undefined;
  try {
    const res = await http.request(url, { method: 'HEAD', reuseAfterHead: true });
    await discard(res.body);
    const length = headerValue(res.headers, 'content-length');
    if (res.status === 200 && length && /^\d{1,15}$/.test(length)) served = Number(length);
  } catch {
    // No answer to the HEAD: the download's own error says what went wrong.
  }
  if (served !== undefined && served !== listed.size) {
    return new FerryError('VERIFY', `${what}: the server's file is ${served} bytes, the signed Release lists ${listed.size} (sha256 ${listed.hash}): the index does not match the Release that lists it`, {
      hint: MIRROR_SYNC_HINT,
    });
  }
  if (isFerryError(err, 'VERIFY')) return new FerryError('VERIFY', `${what}: the server's file does not match the signed Release (${err.message})`, { hint: MIRROR_SYNC_HINT });
  return err;
}

/**
 * What a decompressed index may hold. Debian's largest Packages file (main, amd64, all of a
 * release) is ~50 MB; a signed Release vouches for the compressed bytes, not for what they
 * expand to, so a crafted `Packages.gz` of a few MB could otherwise expand to terabytes.
 */
export const MAX_INDEX_BYTES = 1 << 30;

/** Decompressed stream of an index in the store, refused (VERIFY, naming it) past `maxBytes`. */
export function openIndex(store: BlobStore, file: AptFile, maxBytes = MAX_INDEX_BYTES): Readable {
  return indexText(store.open(`sha256:${file.sha256}`), file.path, maxBytes);
}

/**
 * An xz stream decompressed by XZ Embedded compiled to WebAssembly (the `xz-decompress`
 * package: no native code, no `xz` program needed on either side). A damaged or truncated file
 * is an error naming the index, not a short index.
 */
let xzTurn: Promise<void> = Promise.resolve();

function unxz(raw: Readable, indexPath: string): Readable {
  const damaged = (err: unknown) => {
    if (isFerryError(err)) return err;
    const message = (err as Error)?.message ?? String(err);
    const code = /error code (\d+)/.exec(message)?.[1];
    // XZ Embedded's return codes; the decoder's own text is a bare number (or, cut short, a TypeError).
    const why =
      code === '2' || code === '6'
        ? 'an integrity check or filter the decoder does not support (such as a SHA-256 check)'
        : code === '4'
          ? 'a dictionary larger than the 64 MiB the decoder allows'
          : code === '5'
            ? 'not in the xz format'
            : code === '7'
              ? 'corrupt compressed data'
              : code === '8' || /byteLength|null/.test(message)
                ? 'cut short, or followed by bytes that are not xz'
                : message;
    return new FerryError('VERIFY', `${indexPath}: not valid xz (${why})`, {
      hint: code === '2' || code === '4' || code === '6' ? 'Debian-style indexes use xz defaults (CRC64, 8 MiB dictionary); ferry reads those. Ask the repository operator to publish Packages.gz or a default-compressed Packages.xz.' : 'The index is damaged.',
    });
  };
  const out = new PassThrough();
  // One decoder at a time, by our own turn: the package's lock is released by a stream cancelled
  // while still waiting for it, letting a second decoder run beside the first and corrupt it (a
  // valid index then read as damaged). A stream is made only on its turn, and the turn passes on
  // once `out` has closed (read to the end, failed, or abandoned by its reader).
  let done!: () => void;
  const turn = xzTurn;
  xzTurn = turn.then(() => new Promise<void>((resolve) => (done = resolve)));
  let plain: Readable | undefined;
  out.once('close', () => {
    plain?.destroy();
    raw.destroy();
    // After the decoder's cancel has run (it releases the package's own lock).
    void turn.then(() => setImmediate(done));
  });
  turn
    .then(() => atStartFlags(() => import('xz-decompress')))
    .then(
      (mod) => {
        if (out.destroyed) return;
        // A CommonJS module: its exports are `default` once bundled.
        const { XzReadableStream } = (mod.XzReadableStream ? mod : mod.default) as typeof import('xz-decompress');
        plain = Readable.fromWeb(new XzReadableStream(Readable.toWeb(raw) as ReadableStream<Uint8Array>) as import('node:stream/web').ReadableStream<Uint8Array>);
        // Not pipeline(): it would end `out` with the decoder's bare error before this names the index.
        plain.once('error', (err) => out.destroy(damaged(err)));
        plain.pipe(out);
      },
      (err: unknown) => out.destroy(damaged(err)),
    );
  return out;
}

/** An index file's text from its bytes as stored (`raw`; decompressed when `indexPath` ends in .gz or .xz), at most `maxBytes`. */
export function indexText(raw: Readable, indexPath: string, maxBytes = MAX_INDEX_BYTES): Readable {
  const file = { path: indexPath };
  let total = 0;
  const bounded = new Transform({
    transform(chunk: Buffer, _enc, done) {
      total += chunk.length;
      if (total <= maxBytes) return done(null, chunk);
      done(
        new FerryError('VERIFY', `${file.path}: more than ${maxBytes} bytes${/\.(gz|xz)$/.test(file.path) ? ' once decompressed' : ''}; refusing it (a compression bomb?)`, {
          hint: 'The signed Release vouches for the file as served, not for what it expands to; no real Packages index is this large. Report it to the repository operator.',
        }),
      );
    },
  });
  // pipeline: an error anywhere (the read, the gzip, the bound) ends the stream the caller reads
  // with that error, and a caller that stops reading stops the others.
  if (file.path.endsWith('.gz')) pipeline(raw, createGunzip(), bounded, () => undefined);
  else if (file.path.endsWith('.xz')) pipeline(unxz(raw, file.path), bounded, () => undefined);
  else pipeline(raw, bounded, () => undefined);
  return bounded;
}

/**
 * A Filename as a path under the repository root: a leading `./` is dropped (dpkg-scanpackages
 * run in a flat repository's directory writes `Filename: ./app_1.0_amd64.deb`, as NVIDIA's CUDA
 * repository serves it; apt fetches `<uri>/./app…`, the same file). Nothing else is changed.
 */
export function poolPathOf(filename: string): string {
  return filename.replace(/^(?:\.\/)+/, '');
}

/** A package's Filename from an index: a relative path inside the repository (the one path rule, safe-path.ts), without a leading `./`. */
export function safePoolPath(filename: string, label: string): string {
  const p = poolPathOf(filename);
  if (!isSafeRelativePath(p)) {
    throw new FerryError('VERIFY', `${label}: refusing package path ${JSON.stringify(filename)}`, { hint: 'The index names a file outside the repository.' });
  }
  return p;
}

/**
 * A copy of a string that does not keep its source alive. A field parsed from an index is a
 * slice of the text decoded around it, and V8 keeps that whole text while the slice lives: the
 * few fields kept of each package would hold the entire decompressed index (tens of MB, most
 * of it descriptions) for as long as the package list lives.
 */
export function own<T extends string | undefined>(s: T): T {
  return (s === undefined || s.length < 13 ? s : (' ' + s).slice(1)) as T;
}

/**
 * Turn one Packages stanza into the closure's view of it; SHA256 and Size are required.
 * `deps: false` (no closure will be computed: every source is mirrored whole) leaves out what
 * only the closure reads (Provides, Depends, Multi-Arch).
 */
export function stanzaToPackage(st: Stanza, source: number, label: string, deps = true): AptPackage {
  const f = st.fields;
  const name = f.get('package');
  const filename = f.get('filename');
  const sha256 = f.get('sha256')?.toLowerCase();
  const size = f.get('size');
  if (!name || !filename || !sha256 || !/^[a-f0-9]{64}$/.test(sha256) || !size || !/^\d+$/.test(size) || !Number.isSafeInteger(Number(size))) {
    throw new FerryError('VERIFY', `${label}: package ${name ?? '?'} has no valid Filename, SHA256 or Size`, { hint: 'ferry verifies every .deb by SHA-256 and size (a size below 2^53); this index cannot be used.' });
  }
  return {
    source,
    name: own(name),
    version: own(f.get('version') ?? '0'),
    architecture: own(f.get('architecture') ?? 'all'),
    multiArch: deps ? own(f.get('multi-arch')) : undefined,
    provides: deps && f.has('provides') ? parseRelations(f.get('provides')).map((g) => g[0]) : NO_PROVIDES,
    // Parsed only if the closure reaches the package: most of a whole index never is.
    dependsText: deps ? own([f.get('pre-depends'), f.get('depends')].filter(Boolean).join(', ')) : '',
    ...(deps && (f.has('breaks') || f.has('conflicts')) ? { breaksText: own([f.get('breaks'), f.get('conflicts')].filter(Boolean).join(', ')) } : {}),
    ...(deps ? phasedOf(f.get('phased-update-percentage')) : {}),
    filename: own(safePoolPath(filename, label)),
    sha256: own(sha256),
    size: Number(size),
  };
}

const NO_PROVIDES: AptPackage['provides'] = [];

/** Ubuntu's `Phased-Update-Percentage: 0..100` (apt reads 100, or none, as not phased). */
function phasedOf(value: string | undefined): { phased?: number } {
  if (value === undefined || !/^\s*\d{1,3}\s*$/.test(value)) return {};
  const n = Number(value);
  return n < 100 ? { phased: n } : {};
}

/** The Packages fields the closure and the lock use. */
export const PACKAGE_FIELDS: ReadonlySet<string> = new Set(['package', 'version', 'architecture', 'multi-arch', 'provides', 'depends', 'pre-depends', 'breaks', 'conflicts', 'phased-update-percentage', 'filename', 'size', 'sha256']);

export async function* readPackages(store: BlobStore, file: AptFile, keepRaw = false): AsyncGenerator<Stanza> {
  yield* streamDeb822(openIndex(store, file), keepRaw, PACKAGE_FIELDS, file.path);
}

export { words };

const CHECKED_FIELDS: ReadonlySet<string> = new Set(['package', 'filename', 'sha256', 'size']);

/** The package layers of an APT artifact, by title (the Filename an index names). */
export function packageLayers(layers: readonly OciDescriptor[]): Map<string, OciDescriptor> {
  const debs = new Map<string, OciDescriptor>();
  for (const l of layers) {
    const title = l.annotations?.[ANNOTATION.title];
    if (l.annotations?.[ROLE] === 'package' && typeof title === 'string') debs.set(title, l);
  }
  return debs;
}

/** The stanzas of an index whose Filename is not a package layer with the same SHA256 and Size: the count, and the first 20 in words. */
/**
 * A field of a crafted index as an error shows it: a paragraph may be 16 MB (MAX_PARAGRAPH_CHARS),
 * and twenty of them in the details would be hundreds of MB on a terminal.
 */
function shown(value: string): string {
  return value.length > MAX_SHOWN ? `${value.slice(0, MAX_SHOWN)}… (${value.length} characters)` : value;
}

const MAX_SHOWN = 200;

async function packagesNotCarried(text: Readable, debs: ReadonlyMap<string, OciDescriptor>, label: string): Promise<{ count: number; details: string[] }> {
  const bad: string[] = [];
  let count = 0;
  for await (const { fields } of streamDeb822(text, false, CHECKED_FIELDS, label)) {
    const file = fields.get('filename') ?? '';
    const deb = debs.get(poolPathOf(file));
    const why = !deb
      ? 'is not in the bundle'
      : deb.digest !== `sha256:${(fields.get('sha256') ?? '').toLowerCase()}`
        ? `has SHA256 ${shown(fields.get('sha256') ?? '(none)')}, the bundle's is ${deb.digest.slice(7)}`
        : String(deb.size) !== fields.get('size')
          ? `has Size ${shown(fields.get('size') ?? '(none)')}, the bundle's is ${deb.size}`
          : undefined;
    if (why && count++ < 20) bad.push(`${shown(fields.get('package') ?? '?')}: ${JSON.stringify(shown(file))} ${why}`);
  }
  return { count, details: count > bad.length ? [...bad, `… and ${count - bad.length} more`] : bad };
}

/**
 * A filtered mirror's Packages index from a bundle names only packages that bundle carries:
 * each stanza's Filename is a package layer with the same SHA256 and Size. The site key signs
 * the Release over it; it must never vouch for a .deb the bundle does not hold (served or
 * imported, apt would be sent to a 404 or to another bundle's file under that name).
 * Refused (VERIFY, naming `label` and the first packages at fault) otherwise.
 */
export async function checkGeneratedIndex(bytes: Buffer, layers: readonly OciDescriptor[], label: string): Promise<void> {
  const { count, details } = await packagesNotCarried(Readable.from([bytes]), packageLayers(layers), label);
  if (count) {
    throw new FerryError('VERIFY', `${label}: the index names ${count} package${count === 1 ? '' : 's'} the bundle does not carry as listed`, {
      details,
      hint: 'The generated index and the bundle\'s packages disagree: the bundle was crafted or damaged. Nothing of this repository was written or served.',
    });
  }
}

/**
 * A whole mirror's vendor Packages index (`text`, decompressed) names only packages the bundle
 * carries as listed: a mirror that would send apt to a missing or different .deb is refused
 * before anything of it is written, instead of being reported as imported.
 */
export async function checkVendorIndex(text: Readable, debs: ReadonlyMap<string, OciDescriptor>, label: string): Promise<void> {
  const { count, details } = await packagesNotCarried(text, debs, label);
  if (count) {
    throw new FerryError('VERIFY', `${label}: the vendor's index names ${count} package${count === 1 ? '' : 's'} the bundle does not carry as listed`, {
      details,
      hint: 'A whole mirror carries every package its indexes list: the bundle was crafted or damaged. Nothing of this repository was written; create the bundle again on the connected side.',
    });
  }
}
