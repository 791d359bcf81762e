import { openSync, readSync, closeSync, fstatSync } from 'node:fs';
import { warmSignatureChecks } from './pgp.js';

/**
 * Imported first by src/main.ts, before the rest of ferry loads: when the command is `lock` or
 * `bundle create` and a manifest among its arguments names OpenPGP keys (`keys:`: APT
 * repositories, signed checksum files), the signature-check thread starts now, so that its own
 * start-up and OpenPGP's load (~0.1 s of CPU together) run on the other core while ferry loads
 * and reads the manifest, instead of after. A hint only: a wrong guess starts an idle thread or
 * starts it later; what is verified, and how, does not change.
 */
const MAX_PEEK = 1 << 20;
const KEYS = /^[ \t-]*keys[ \t]*:/m;

function namesKeys(file: string): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const st = fstatSync(fd);
    if (!st.isFile()) return false;
    const buf = Buffer.alloc(Math.min(st.size, MAX_PEEK));
    const n = readSync(fd, buf, 0, buf.length, 0);
    return KEYS.test(buf.toString('utf8', 0, n));
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

export function warmIfSigned(argv: string[]): boolean {
  const words = argv.filter((a) => !a.startsWith('-'));
  const locks = words[0] === 'lock' || (words[0] === 'bundle' && words[1] === 'create');
  if (!locks) return false;
  if (!argv.some((a) => /\.(ya?ml|json)$/i.test(a) && !a.startsWith('-') && namesKeys(a))) return false;
  warmSignatureChecks();
  return true;
}

warmIfSigned(process.argv.slice(2));
