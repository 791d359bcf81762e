import { closeSync, fstatSync, openSync, readdirSync, readSync, constants } from 'node:fs';
import path from 'node:path';

/** The most files read from one SSL_CERT_DIR directory, and the most bytes of one file. */
const MAX_DIR_FILES = 10_000;
const MAX_FILE_BYTES = 1024 * 1024;

/**
 * The PEM certificates in `SSL_CERT_DIR` (directories separated by `:`), read as Go's crypto/x509
 * reads them on Linux: every regular file in each directory (symbolic links followed, as
 * c_rehash's `<hash>.0` links are), files without a certificate and directories that do not exist
 * skipped. Each certificate once, however many names link to it. Bounded: at most 10 000 entries a
 * directory and the first 1 MiB of a file.
 */
export function certsFromSslCertDir(spec: string | undefined): string[] {
  if (!spec) return [];
  const seen = new Set<string>();
  for (const dir of spec.split(':')) {
    if (!dir) continue;
    let names: string[];
    try {
      names = readdirSync(dir).slice(0, MAX_DIR_FILES).sort();
    } catch {
      continue;
    }
    for (const name of names) {
      const text = readSmallFile(path.join(dir, name));
      if (!text?.includes('-----BEGIN CERTIFICATE-----')) continue;
      for (const pem of text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []) seen.add(pem);
    }
  }
  return [...seen];
}

/** A regular file's first MAX_FILE_BYTES as text; undefined for anything else (a FIFO is never opened for reading to block). */
function readSmallFile(file: string): string | undefined {
  const r = readRegularFileSync(file, MAX_FILE_BYTES);
  return typeof r === 'string' ? r : undefined;
}

/**
 * A regular file's text (latin1: PEM is ASCII), at most `max` bytes; else why not (`error` holds
 * the system error when it could not be opened). Opened without blocking and checked by its
 * descriptor, so a FIFO or device named as a CA file is refused instead of waited on for ever.
 */
export function readRegularFileSync(file: string, max: number, whole = false): string | { why: string; error?: unknown } {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    return { why: 'cannot be opened', error };
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return { why: 'is not a regular file (a FIFO, device or directory)' };
    if (whole && st.size > max) return { why: `is larger than ${max} bytes` };
    const buf = Buffer.alloc(Math.min(st.size, max));
    const n = readSync(fd, buf, 0, buf.length, 0);
    return buf.subarray(0, n).toString('latin1');
  } catch (error) {
    return { why: 'cannot be read', error };
  } finally {
    closeSync(fd);
  }
}
