import { FerryError } from '../errors.js';
import { LockSchema, type Lock } from '../manifest/lock.js';
import { parseOrThrow } from '../manifest/validate.js';
import { BundleReader } from '../store/bundle-reader.js';

/** `ferry/lock.json` from a bundle tar: the lock the bundle was built from (and import placed). */
export async function readBundleLock(tarFile: string): Promise<Lock> {
  const reader = await BundleReader.open(tarFile);
  try {
    const bytes = await reader.ferryFile('lock.json');
    let raw: unknown;
    try {
      raw = JSON.parse(bytes.toString('utf8'));
    } catch (err) {
      throw new FerryError('VERIFY', `${tarFile}: ferry/lock.json is not valid JSON`, { cause: err, hint: 'The bundle is damaged; run `ferry bundle verify` on it.' });
    }
    return parseOrThrow(LockSchema, raw, `${tarFile}:ferry/lock.json`);
  } finally {
    await reader.close();
  }
}
