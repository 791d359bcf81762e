import { createHash } from 'node:crypto';
import { FerryError } from '../../errors.js';

export type HashAlgorithm = 'sha256' | 'sha512';

export interface ChecksumLine {
  name: string;
  algorithm: HashAlgorithm;
  hex: string;
}

const BSD = /^(SHA256|SHA512|SHA2-256|SHA2-512)\s*\((.+)\)\s*=\s*([A-Fa-f0-9]+)\s*$/;
const GNU = /^\\?([A-Fa-f0-9]{64}|[A-Fa-f0-9]{128})\s[ *]?(.+)$/;

function algorithmFor(hex: string): HashAlgorithm | undefined {
  return hex.length === 64 ? 'sha256' : hex.length === 128 ? 'sha512' : undefined;
}

/** GNU coreutils escapes backslashes and newlines in names when the line starts with `\`. */
function unescapeGnu(name: string): string {
  return name.replace(/\\(\\|n)/g, (_m, c: string) => (c === 'n' ? '\n' : '\\'));
}

/**
 * Parse a checksum file in GNU (`hex  name`, `hex *name`) or BSD (`SHA256 (name) = hex`) form,
 * SHA-256 or SHA-512. Unknown lines (comments, PGP armor left over) are ignored.
 */
export function parseChecksumFile(text: string): ChecksumLine[] {
  const out: ChecksumLine[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trimEnd();
    if (!line || line.startsWith('#')) continue;
    const bsd = BSD.exec(line);
    if (bsd) {
      const algorithm = bsd[1].endsWith('512') ? 'sha512' : 'sha256';
      const hex = bsd[3].toLowerCase();
      if (algorithmFor(hex) === algorithm) out.push({ name: bsd[2], algorithm, hex });
      continue;
    }
    if (/^([A-Fa-f0-9]{64}|[A-Fa-f0-9]{128})$/.test(line.trim())) {
      // A bare hash (`file.sha256` holding only the digest): it names no file, so it names this one.
      const hex = line.trim().toLowerCase();
      out.push({ name: '', algorithm: algorithmFor(hex)!, hex });
      continue;
    }
    const gnu = GNU.exec(line);
    if (gnu) {
      const hex = gnu[1].toLowerCase();
      const name = raw.startsWith('\\') ? unescapeGnu(gnu[2]) : gnu[2];
      out.push({ name, algorithm: algorithmFor(hex)!, hex });
    }
  }
  return out;
}

function normalizeName(name: string): string {
  return name.replace(/^\.\//, '').replace(/^\*/, '');
}

/**
 * The checksum for `fileUrl` in a checksum file published at `checksumUrl`: the entry whose name
 * is the file's path relative to the checksum file's directory, else its base name.
 */
export function findChecksum(lines: ChecksumLine[], fileUrl: string, checksumUrl: string, prefer?: HashAlgorithm): ChecksumLine | undefined {
  const file = new URL(fileUrl);
  const sums = new URL(checksumUrl);
  const dir = sums.pathname.slice(0, sums.pathname.lastIndexOf('/') + 1);
  const filePath = decodeURIComponent(file.pathname);
  const candidates: string[] = [];
  if (file.host === sums.host && filePath.startsWith(decodeURIComponent(dir))) candidates.push(filePath.slice(decodeURIComponent(dir).length));
  candidates.push(filePath.split('/').pop() ?? '');
  for (const c of candidates) {
    const matches = lines.filter((l) => normalizeName(l.name) === c);
    if (!matches.length) continue;
    const pick = prefer ? matches.find((m) => m.algorithm === prefer) : (matches.find((m) => m.algorithm === 'sha512') ?? matches[0]);
    // The same name listed twice with different hashes: which one the publisher meant cannot be known.
    const disagree = pick && matches.some((m) => m.algorithm === pick.algorithm && m.hex !== pick.hex);
    if (disagree) {
      throw new FerryError('VERIFY', `${checksumUrl}: lists ${JSON.stringify(c.slice(0, 200))} more than once with different ${pick.algorithm} checksums; refusing to pick one`, {
        hint: 'The checksum file is broken or was tampered with; ask its publisher, or give sha256: inline in the manifest.',
      });
    }
    if (pick) return pick;
  }
  const bare = lines.filter((l) => l.name === '' && (!prefer || l.algorithm === prefer));
  return lines.length === 1 && bare.length === 1 ? bare[0] : undefined;
}

/** GNU form, one line: what ferry writes beside an imported file. */
export function formatChecksumLine(hex: string, name: string): string {
  return `${hex}  ${name}\n`;
}

export function hashBytes(algorithm: HashAlgorithm, bytes: Uint8Array): string {
  return createHash(algorithm).update(bytes).digest('hex');
}

export function requireChecksum(lines: ChecksumLine[], fileUrl: string, checksumUrl: string, prefer: HashAlgorithm | undefined, label: string): ChecksumLine {
  const found = findChecksum(lines, fileUrl, checksumUrl, prefer);
  if (!found) {
    const name = new URL(fileUrl).pathname.split('/').pop();
    throw new FerryError('NOT_FOUND', `${label}: ${checksumUrl} has no ${prefer ?? 'sha256/sha512'} checksum for ${name}`, {
      hint: `The checksum file lists ${lines.length} entr${lines.length === 1 ? 'y' : 'ies'}; check the file name in url: or give sha256: inline.`,
    });
  }
  return found;
}
