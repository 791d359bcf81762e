import path from 'node:path';
import { FerryError } from '../errors.js';
import { loadManifest, loadTarget, lockPathFor, readLock } from '../manifest/load.js';
import { LockSchema, type Lock } from '../manifest/lock.js';
import { parseOrThrow } from '../manifest/validate.js';
import { KINDS } from '../kinds/index.js';
import { BundleReader } from '../store/bundle-reader.js';
import { checkCollisions, mapUpstream, registryMappingFor, type MirrorLocation } from './index.js';

/** The lock from a bundle (`ferry/lock.json`), a lock file, or the lock beside a manifest. */
export async function lockFrom(source: string): Promise<Lock> {
  const abs = path.resolve(source);
  if (/\.tar$/.test(abs)) {
    const reader = await BundleReader.open(abs);
    try {
      return parseOrThrow(LockSchema, JSON.parse((await reader.ferryFile('lock.json')).toString('utf8')), `${abs}:ferry/lock.json`);
    } finally {
      await reader.close();
    }
  }
  if (/\.json$/.test(abs)) {
    const lock = await readLock(abs);
    if (!lock) throw new FerryError('USAGE', `${abs}: no such lock file`);
    return lock;
  }
  const loaded = await loadManifest(abs);
  const lockFile = lockPathFor(loaded.file, loaded.manifest.metadata.name);
  const lock = await readLock(lockFile);
  if (!lock) throw new FerryError('USAGE', `${lockFile}: no lock beside the manifest`, { hint: `Run \`ferry lock ${source}\` first.` });
  return lock;
}

/** `ferry map`: upstream → mirror for everything the lock pins, from the one mapping. */
export async function mapTable(source: string, targetFile: string): Promise<{ target: string; rows: MirrorLocation[] }> {
  const lock = await lockFrom(source);
  const { target, file } = await loadTarget(targetFile);
  if (target.registry) checkCollisions(lock.images.map((i) => i.ref), registryMappingFor(target));
  const rows: MirrorLocation[] = [];
  for (const { field, kind } of KINDS) {
    for (const entry of (lock[field] ?? []) as unknown[]) {
      for (const ref of kind.references(entry)) rows.push(mapUpstream(ref, target));
    }
  }
  rows.sort((a, b) => a.kind.localeCompare(b.kind) || a.upstream.localeCompare(b.upstream));
  return { target: file, rows };
}
