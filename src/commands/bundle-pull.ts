import { createHash } from 'node:crypto';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { FerryError } from '../errors.js';
import type { NetOptions } from '../oci/context.js';
import { RegistryBundleSource } from '../store/registry-bundle.js';
import { TAR_END, tarPadding } from '../store/tar-index.js';
import { withPlace, writeHeldTemp } from '../store/temp-files.js';
import type { Progress } from '../ui/progress.js';

export interface PullBundleOptions extends NetOptions {
  output: string;
  progress: Progress;
}

export interface PullBundleResult {
  reference: string;
  bundle: string;
  size: number;
  sha256: string;
  entries: number;
}

const BLOB_NAME = /^blobs\/sha256\/([a-f0-9]{64})$/;
const LOOKAHEAD = 4;

/**
 * `ferry bundle pull oci://… -o app.ferry.tar`: rebuild the pushed tar from the registry, entry
 * by entry in archive order, streaming. Each blob is re-hashed against its name as it arrives,
 * each metadata file against its layer digest, and the whole tar against the sha256 recorded at
 * push time; the file appears under its name only when all of that matched.
 */
export async function pullBundle(url: string, opts: PullBundleOptions): Promise<PullBundleResult> {
  const src = await RegistryBundleSource.open(url, { net: opts });
  try {
    const output = path.resolve(opts.output);
    const task = opts.progress.start(`pull ${url}`, src.index.fileSize);
    const whole = createHash('sha256');
    let size = 0;
    // Written through the one descriptor of a temp file made new and owner-only; what is renamed to
    // the output's name is the file hashed (writeHeldTemp checks its identity around the rename).
    await writeHeldTemp(output, async (fh) => {
      // A failed write (a full disk) is the output's, named as it: not a transfer that failed.
      let writeFailed: unknown;
      const write = async (bytes: Buffer) => {
        whole.update(bytes);
        let off = 0;
        while (off < bytes.length) {
          off += (
            await fh.write(bytes, off, bytes.length - off, size + off).catch((err: unknown) => {
              throw (writeFailed = withPlace(err, output));
            })
          ).bytesWritten;
        }
        size += bytes.length;
        task.advance(bytes.length);
      };
      const entries = src.index.entries;
      // The next few blobs are requested while one is written (many small blobs are latency-bound);
      // each waits in its socket's buffers until its turn.
      const ahead = new Map<number, Promise<Readable>>();
      const openAhead = (from: number) => {
        for (let j = from; j < entries.length && ahead.size < LOOKAHEAD; j++) {
          if (ahead.has(j) || entries[j].type !== 'file' || !BLOB_NAME.test(entries[j].name)) continue;
          const p = src.openEntry(entries[j].name);
          p.catch(() => undefined);
          ahead.set(j, p);
        }
      };
      try {
        for (let i = 0; i < entries.length; i++) {
          const e = entries[i];
          await write(src.headers[i]);
          if (e.type !== 'file') continue;
          const m = BLOB_NAME.exec(e.name);
          if (m) {
            const hash = createHash('sha256');
            let n = 0;
            openAhead(i);
            const body = await ahead.get(i)!;
            ahead.delete(i);
            openAhead(i + 1);
            try {
              for await (const c of body) {
                hash.update(c as Buffer);
                n += (c as Buffer).length;
                await write(c as Buffer);
              }
            } catch (err) {
              if (err instanceof FerryError || err === writeFailed) throw err;
              throw new FerryError('NETWORK', `${url}: ${e.name}: transfer failed after ${n} of ${e.size} bytes (${(err as Error).message}); nothing was written`, {
                hint: 'Run the pull again.',
                cause: err,
              });
            }
            if (n !== e.size || hash.digest('hex') !== m[1]) {
              throw new FerryError('VERIFY', `${url}: ${e.name} ${n !== e.size ? `ended after ${n} of ${e.size} bytes` : 'does not match its digest'} in the registry; nothing was written`, {
                hint: 'The registry holds damaged data for this bundle: push it again from a verified copy.',
              });
            }
          } else {
            await write(await src.readFile(e.name));
          }
          await write(tarPadding(e.size));
        }
      } finally {
        for (const p of ahead.values()) p.then((r) => r.destroy(), () => undefined);
      }
      await write(TAR_END);
      await fh.sync();
      const sha256 = 'sha256:' + whole.digest('hex');
      if (src.tarDigest && sha256 !== src.tarDigest) {
        throw new FerryError('VERIFY', `${url}: the rebuilt bundle hashes to ${sha256}, the push recorded ${src.tarDigest}; nothing was written`, {
          hint: 'Push the bundle again from a verified copy.',
        });
      }
    });
    task.finish('pulled');
    return { reference: url, bundle: output, size, sha256: src.tarDigest ?? '', entries: src.index.entries.length };
  } finally {
    await src.close();
  }
}
