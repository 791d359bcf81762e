import { link, lstat, mkdir, readdir, readFile, readlink, rename, rm, symlink } from 'node:fs/promises';
import path from 'node:path';
import { FerryError } from '../../errors.js';
import { safeJoin } from '../../store/safe-path.js';
import { hasSameContent } from '../../store/verified-write.js';
import { parseRelease } from './control.js';
import { releaseTextOf } from './repo.js';
import { flatDir, suiteDir } from './spec.js';

/**
 * A suite is published as a whole: `dists/<suite>` is a relative symlink to one complete version,
 * `dists/.<suite>.ferry/<id>` (`<id>`: 16 hex of the Release's SHA-256, so the same Release gives
 * the same tree). A new version is written beside the current one under `<id>.partial`, renamed to
 * `<id>` once complete, and the symlink is switched by renaming a new symlink over it: an HTTP
 * server resolves `dists/<suite>/…` per request, so every file a client reads is of the old suite
 * or of the new one, never a mix, whenever the import stops (kill -9 included). The symlink stays
 * inside the tree, so `rsync -a` or `cp -a` of `apt.dir` carries it as it is.
 *
 * Two versions are kept: the current one and the one it replaced (removed by the next import that
 * switches); every other directory there (older versions, a killed run's partial) is removed after
 * a switch. Each version also carries, under `by-hash/`, the indexes the version before it listed,
 * so a client that read the old Release just before the switch still gets the indexes that Release
 * names (apt asks for by-hash paths when the Release says `Acquire-By-Hash: yes`, or with
 * `[by-hash=force]` in its sources). `pool/` is shared by all versions and never pruned.
 */
const HASH_STRENGTH = ['SHA512', 'SHA256', 'SHA1', 'MD5Sum'];

/** The by-hash directories a client may ask for: the strongest hash listed, and SHA256. */
export function byHashTypes(hashes: Map<string, Map<string, { hash: string; size: number }>>, relPath: string): string[] {
  const listed = HASH_STRENGTH.filter((t) => hashes.get(t)?.has(relPath));
  return [...new Set([listed[0], ...(listed.includes('SHA256') ? ['SHA256'] : [])].filter((t): t is string => Boolean(t)))];
}

/** Where a by-hash copy of `relPath` (under dists/<suite>/) lives. */
export function byHashPath(relPath: string, type: string, hash: string): string {
  return `${relPath.slice(0, relPath.lastIndexOf('/') + 1)}by-hash/${type}/${hash}`;
}

export interface SuiteVersions {
  /** `<root>/dists/<suite>`: the symlink clients read through. */
  link: string;
  /** `<root>/dists/.<last segment of suite>.ferry`: the versions. */
  dir: string;
}

const VERSION_DIR = (base: string) => `.${base}.ferry`;
const VERSION_ID = /^[0-9a-f]{16}$/;

/** Bytes of one segment of a suite name: `.<segment>.ferry` and `<segment>.ferry-switch` stay file names (255 bytes). */
const MAX_SUITE_SEGMENT = 200;

/**
 * A suite name from a bundle (its config, or a lock) names nothing ferry's publishing keeps for
 * itself: no segment starting with `.` (`dists/.<suite>.ferry` holds a suite's versions: a suite
 * `.stable.ferry` or `.stable.ferry/<id>` was published over suite stable's versions, moving them
 * aside and leaving `dists/stable` dangling), none ending in `.ferry-switch` (the next symlink of
 * a switch: publishing `stable` removed suite `stable.ferry-switch`), none longer than
 * MAX_SUITE_SEGMENT bytes (the version directory's name would not fit: ENAMETOOLONG midway).
 */
export function checkSuiteName(suite: string, label: string): void {
  // A flat repository's directory is named by its path, as `./`, `/` or `binary/` (no dists/).
  const name = flatDir(suite) ?? suite;
  const bad = name === '' ? undefined : reservedSegment(name);
  if (bad === undefined) return;
  throw new FerryError('VERIFY', `${label} suite ${JSON.stringify(suite.length > 120 ? `${suite.slice(0, 120)}…` : suite)}: ${Buffer.byteLength(bad) > MAX_SUITE_SEGMENT ? `a path segment longer than ${MAX_SUITE_SEGMENT} bytes` : 'a name ferry keeps for publishing suites (a segment starting with "." or ending in ".ferry-switch")'}; refusing it`, {
    hint: 'No Debian-style repository names a suite so: the bundle was crafted or damaged. Nothing of this repository was written.',
  });
}

/** The first segment of `p` that names something ferry keeps for publishing (see checkSuiteName), or undefined. */
function reservedSegment(p: string): string | undefined {
  return p.split('/').find((seg) => seg.startsWith('.') || seg.endsWith('.ferry-switch') || Buffer.byteLength(seg) > MAX_SUITE_SEGMENT);
}

/** What a flat repository publishes in its directory: the Release files, its indexes, their by-hash copies. */
const FLAT_METADATA = /^(?:InRelease|Release(?:\.gpg)?|Packages(?:\.[^/]*)?|by-hash(?:\/.*)?)$/;

/**
 * A flat repository's packages lie beside what it publishes: in its directory (switched whole, so
 * written into each version) or around it, in the repository's root. A package path (a Filename
 * from the index: from outside) is refused (VERIFY, naming `label`) where it would be written
 * over the directory's Release, indexes or by-hash copies, over the directory itself, or into the
 * names publishing keeps (`.<dir>.ferry` versions, `<dir>.ferry-switch`); the path itself is
 * checked by safePoolPath (no `..`, absolute path or backslash).
 */
export function checkFlatPackagePath(filename: string, suite: string, label: string): void {
  const dir = suiteDir(suite);
  const inDir = dir === '' ? filename : filename.startsWith(`${dir}/`) ? filename.slice(dir.length + 1) : undefined;
  const why =
    filename === dir
      ? 'is the flat directory itself'
      : inDir !== undefined && FLAT_METADATA.test(inDir)
        ? "would be written over the flat directory's signed metadata (Release, Packages, by-hash)"
        : reservedSegment(filename) !== undefined
          ? 'has a segment starting with "." or ending in ".ferry-switch", names ferry keeps for publishing'
          : undefined;
  if (!why) return;
  throw new FerryError('VERIFY', `${label}: refusing package path ${JSON.stringify(filename.length > 200 ? `${filename.slice(0, 200)}…` : filename)}: it ${why}`, {
    hint: 'The index of a flat repository names a package where its own metadata is published: the index was crafted or the repository is broken. Nothing of it was written.',
  });
}

/**
 * checkFlatPackagePath over a bundle's package titles (from outside, possibly many): one error
 * naming how many are refused and the first five, before anything of the repository is written or served.
 */
export function checkFlatPackages(titles: readonly string[], suite: string, label: string): void {
  if (flatDir(suite) === undefined) return;
  const bad: string[] = [];
  let count = 0;
  for (const t of titles) {
    try {
      checkFlatPackagePath(t, suite, label);
    } catch (err) {
      if (count++ < 5) bad.push((err as Error).message);
    }
  }
  if (!count) return;
  throw new FerryError('VERIFY', `${count} package path${count === 1 ? '' : 's'} of the flat repository refused; the first: ${bad[0]}`, {
    details: count > 1 ? (count > bad.length ? [...bad.slice(1), `… and ${count - bad.length} more`] : bad.slice(1)) : undefined,
    hint: 'The bundle names packages where the flat directory\'s own metadata is published: it was crafted or damaged. Nothing of this repository was written.',
  });
}

export function suiteVersions(root: string, suite: string, label: string): SuiteVersions {
  checkSuiteName(suite, label);
  // A flat repository at the root (`./`, `/`) is published by switching the root itself.
  const dir = suiteDir(suite);
  const link = dir === '' ? root : safeJoin(root, dir, `${label} suite`);
  const versions = safeJoin(path.dirname(link), VERSION_DIR(path.basename(link)), `${label} suite versions`);
  return { link, dir: versions };
}

/** The version `dists/<suite>` points at now: its id (one ferry wrote) and directory, or the plain directory of an older layout. */
export async function currentVersion(v: SuiteVersions): Promise<{ id?: string; dir?: string }> {
  const st = await lstat(v.link).catch(() => undefined);
  if (!st) return {};
  if (st.isDirectory()) return { dir: v.link };
  if (!st.isSymbolicLink()) return {};
  const to = await readlink(v.link);
  const [vdir, id, ...rest] = to.split('/');
  if (vdir !== path.basename(v.dir) || !VERSION_ID.test(id ?? '') || rest.length) return {};
  // A version is a directory ferry made; a symbolic link put there is not written through.
  if (!(await lstat(path.join(v.dir, id)).then((s) => s.isDirectory(), () => false))) return {};
  return { id, dir: path.join(v.dir, id) };
}

/**
 * Publish version `id` of a suite: `write(dir)` fills a version directory (idempotently: files
 * already there with the right content are kept, so a killed run's partial is completed and the
 * current version is re-checked in place). Returns the bytes `write` wrote.
 */
export async function publishSuiteVersion(v: SuiteVersions, id: string, write: (dir: string) => Promise<number>): Promise<number> {
  // Written into and swept: a symbolic link there (to a directory outside the tree) would be both.
  const at = await lstat(v.dir).catch(() => undefined);
  if (at && !at.isDirectory()) {
    throw new FerryError('CONFLICT', `${v.dir}: not a directory (a symbolic link or a file) where ferry keeps the versions of ${path.basename(v.link)}; refusing to write through it`, {
      hint: 'Remove it (ferry creates it as a plain directory) and import again.',
    });
  }
  const cur = await currentVersion(v);
  if (cur.id === id) return write(cur.dir!);
  await mkdir(v.dir, { recursive: true });
  const final = path.join(v.dir, id);
  let sent: number;
  if (await lstat(final).then((s) => s.isDirectory(), () => false)) {
    // Renamed into place only once complete (a run killed before its switch, or the version before the current one).
    if (cur.dir) await carryByHash(cur.dir, final);
    sent = await write(final);
  } else {
    const partial = path.join(v.dir, `${id}.partial`);
    await mkdir(partial, { recursive: true });
    if (cur.dir) await carryByHash(cur.dir, partial);
    sent = await write(partial);
    await rename(partial, final);
  }
  await switchTo(v, id, cur.dir === v.link);
  // The version replaced stays (for a client that still holds its Release); everything else goes.
  const keep = new Set([id, cur.id ?? (cur.dir === v.link ? 'legacy' : '')]);
  for (const name of await readdir(v.dir)) if (!keep.has(name)) await rm(path.join(v.dir, name), { recursive: true, force: true });
  return sent;
}

/** Rename a new symlink over `dists/<suite>`; a plain directory there (an older ferry's layout) moves into the versions first. */
async function switchTo(v: SuiteVersions, id: string, legacyDir: boolean): Promise<void> {
  const next = `${v.link}.ferry-switch`;
  await rm(next, { force: true });
  await symlink(`${path.basename(v.dir)}/${id}`, next);
  if (legacyDir) {
    // rename(2) cannot replace a directory with a symlink: for this one switch the suite is absent
    // between two renames (a client then gets 404 and keeps its lists); never again afterwards.
    const legacy = path.join(v.dir, 'legacy');
    await rm(legacy, { recursive: true, force: true });
    await rename(v.link, legacy);
  }
  await rename(next, v.link);
}

/**
 * Hard-link the indexes the current version's Release lists into the new version's `by-hash/`
 * (the strongest hash and SHA256, as byHashTypes): a client that read that Release just before
 * the switch then finds them. Each is checked against its listed SHA256 and size first; one
 * that does not match, or a Release that cannot be read, is left out (nothing is carried).
 */
async function carryByHash(from: string, to: string): Promise<void> {
  const text = await readFile(path.join(from, 'InRelease'))
    .catch(() => readFile(path.join(from, 'Release')))
    .catch(() => undefined);
  if (!text) return;
  let rel;
  try {
    rel = parseRelease(releaseTextOf(text));
  } catch {
    return;
  }
  for (const [relPath, want] of rel.sha256) {
    let src: string;
    try {
      src = safeJoin(from, relPath, 'previous index');
    } catch {
      continue;
    }
    if (!(await hasSameContent(src, `sha256:${want.hash}`, want.size))) continue;
    for (const type of byHashTypes(rel.hashes, relPath)) {
      let dest: string;
      try {
        dest = safeJoin(to, byHashPath(relPath, type, rel.hashes.get(type)!.get(relPath)!.hash), 'carried by-hash index');
      } catch {
        continue;
      }
      if (await hasSameContent(dest, `sha256:${want.hash}`, want.size)) continue;
      await mkdir(path.dirname(dest), { recursive: true });
      await rm(dest, { force: true });
      await link(src, dest).catch(() => undefined);
    }
  }
}
