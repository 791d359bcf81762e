import { readListedFile } from '../store/bundle-sign.js';
import path from 'node:path';
import { FerryError } from '../errors.js';
import { lockPathFor } from '../manifest/load.js';
import { loadManifest, readLock } from '../kinds/schema.js';
import { LockSchema, type Lock } from '../kinds/schema.js';
import { parseOrThrow } from '../manifest/validate.js';
import { isOciUrl, openBundleSource, type BundleSource } from '../store/open-bundle.js';
import { withTempDir } from '../store/temp-files.js';
import { writeFile } from 'node:fs/promises';
import { splitTarOf } from '../store/split-file.js';
import type { NetOptions } from '../oci/context.js';
import { shellQuote } from '../ui/shell-quote.js';

/**
 * Reading the inputs a command names on its command line. Commands resolve what the user typed
 * against their `cwd` once, here or at their top, and pass absolute paths down.
 */

/**
 * A path the user typed, resolved against the command's `cwd`. Kept as typed when `cwd` is the
 * process's own directory, so the mechanics below (which resolve it the same way) name it in
 * their messages exactly as the user wrote it.
 */
export function pathFrom(cwd: string, p: string): string {
  return path.isAbsolute(p) || path.resolve(cwd) === process.cwd() ? p : path.resolve(cwd, p);
}

/** A bundle the user named: a path (as `pathFrom`) or an `oci://` URL, kept as typed. */
export function bundleFrom(cwd: string, p: string): string {
  return isOciUrl(p) ? p : pathFrom(cwd, p);
}

/**
 * `ferry/lock.json` from a bundle: the lock the bundle was built from (and import placed). A tar
 * (split or not), or a bundle pushed to a registry (`oci://…`, the link between two air-gapped
 * rooms): only the lock is read from it.
 */
export async function readBundleLock(bundle: string, net?: NetOptions): Promise<Lock> {
  const reader = await openBundleSource(bundle, net);
  try {
    return await lockInBundle(reader, bundle);
  } finally {
    await reader.close();
  }
}

/** `ferry/lock.json` of an open bundle (a tar, split or not, or one in a registry), checked against the lock schema. */
export async function lockInBundle(reader: { entry(name: string): unknown; readFile(name: string): Promise<Buffer> }, name: string): Promise<Lock> {
  // Held to its line in ferry/checksums.sha256 (the list a bundle signature covers), as import and
  // sbom read it: a lock swapped into a bundle is not reported, audited or diffed as the bundle's.
  const bytes = await readListedFile(reader, 'ferry/lock.json', `${name}: its lock is not read`);
  let raw: unknown;
  try {
    raw = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new FerryError('VERIFY', `${name}: ferry/lock.json is not valid JSON`, { cause: err, hint: 'The bundle is damaged; run `ferry bundle verify` on it.' });
  }
  return parseOrThrow(LockSchema, raw, `${name}:ferry/lock.json`);
}

/**
 * The lock from a bundle (`ferry/lock.json`; a split bundle named by any part, its `.parts` list
 * or the tar's name; a bundle in a registry, `oci://…`), a lock file, or the lock beside a manifest.
 */
export async function lockFrom(source: string, cwd = process.cwd(), net?: NetOptions): Promise<Lock> {
  if (isOciUrl(source)) return readBundleLock(source, net);
  const abs = path.resolve(cwd, source);
  if (/\.tar$/.test(abs) || (await splitTarOf(abs))) return readBundleLock(abs);
  if (/\.json$/.test(abs)) {
    const lock = await readLock(abs);
    if (!lock) throw new FerryError('USAGE', `${abs}: no such lock file`);
    return lock;
  }
  const loaded = await loadManifest(abs);
  const lockFile = lockPathFor(loaded.file, loaded.manifest.metadata.name);
  const lock = await readLock(lockFile);
  if (!lock) throw new FerryError('USAGE', `${lockFile}: no lock beside the manifest`, { hint: `Run \`ferry lock ${shellQuote(source)}\` first.` });
  return lock;
}

const MANIFEST_MEMBER = 'ferry/manifest.yaml';

/** The manifest a bundle was made from (`ferry/manifest.yaml`, as listed in its checksums), loaded as a manifest file. */
export async function manifestInBundle(tarPath: string, reader: BundleSource): Promise<Awaited<ReturnType<typeof loadManifest>>> {
  if (!reader.entry(MANIFEST_MEMBER)) {
    throw new FerryError('VERIFY', `${tarPath}: no ${MANIFEST_MEMBER} in the bundle, so there is no manifest to report on`, { hint: 'Pass the manifest the bundle was made from: `ferry report manifest.yaml --bundle …`.' });
  }
  const bytes = await readListedFile(reader, MANIFEST_MEMBER, 'the report is not made from it');
  return withTempDir('ferry-report-', `a copy of ${MANIFEST_MEMBER}`, async (dir) => {
    const file = path.join(dir, 'manifest.yaml');
    await writeFile(file, bytes);
    return await loadManifest(file).catch((err: unknown) => {
      // Named as the bundle's member: the temporary copy is gone when the error is read.
      if (!(err instanceof FerryError)) throw err;
      const where = `${tarPath} (${MANIFEST_MEMBER})`;
      throw new FerryError(err.code, err.message.split(file).join(where), { hint: err.hint, details: err.details?.map((d) => d.split(file).join(where)), cause: err });
    });
  });
}
