import { list } from 'tar';
import { FerryError } from '../errors.js';
import { LockSchema, type Lock } from '../manifest/lock.js';
import { parseOrThrow } from '../manifest/validate.js';

/** `ferry/lock.json` from a bundle tar: the lock the bundle was built from. Reads only that entry. */
export async function readBundleLock(tarFile: string): Promise<Lock> {
  const chunks: Buffer[] = [];
  let found = false;
  try {
    await list({
      file: tarFile,
      filter: (p) => p.replace(/^\.\//, '') === 'ferry/lock.json',
      onReadEntry: (entry) => {
        found = true;
        entry.on('data', (c: Buffer) => chunks.push(c));
      },
    });
  } catch (err) {
    throw new FerryError('USAGE', `${tarFile}: cannot read bundle: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  if (!found) throw new FerryError('VALIDATION', `${tarFile}: no ferry/lock.json in the bundle`, { hint: 'Is this a ferry bundle? `ferry bundle create` writes one.' });
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (err) {
    throw new FerryError('VERIFY', `${tarFile}: ferry/lock.json is not valid JSON`, { cause: err, hint: 'The bundle is damaged; run `ferry verify` on it.' });
  }
  return parseOrThrow(LockSchema, raw, `${tarFile}:ferry/lock.json`);
}
