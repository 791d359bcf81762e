import { describe, expect, it } from 'vitest';
import { FerryError } from '../../../src/errors.js';
import { findChecksum, parseChecksumFile } from '../../../src/kinds/file/checksums.js';

/** Crafted checksum files (SHA256SUMS and the like): ambiguity is refused, names never reach a path. */
const A = 'a'.repeat(64);
const B = 'b'.repeat(64);
const SUMS = 'https://h.example/x/SHA256SUMS';

describe('hostile checksum files', () => {
  it('the same name listed twice with different hashes is refused, naming the file (the first was taken silently)', () => {
    for (const text of [`${A}  disk.img\n${B}  disk.img\n`, `${A}  disk.img\n${B}  ./disk.img\n`, `SHA256 (disk.img) = ${A}\n${B} *disk.img\n`]) {
      let err: unknown;
      try {
        findChecksum(parseChecksumFile(text), 'https://h.example/x/disk.img', SUMS);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(FerryError);
      expect((err as FerryError).code).toBe('VERIFY');
      expect((err as Error).message).toMatch(/SHA256SUMS: lists "disk\.img" more than once with different sha256 checksums; refusing to pick one/);
    }
  });

  it('the same name listed twice with the same hash is fine', () => {
    expect(findChecksum(parseChecksumFile(`${A}  disk.img\n${A}  ./disk.img\n`), 'https://h.example/x/disk.img', SUMS)?.hex).toBe(A);
  });

  it('names that climb out (../, absolute) match only themselves, never another file', () => {
    const lines = parseChecksumFile(`${A}  ../x/disk.img\n${B}  /etc/passwd\n`);
    expect(findChecksum(lines, 'https://h.example/x/disk.img', SUMS)).toBeUndefined();
    expect(findChecksum(lines, 'https://h.example/etc/passwd', SUMS)).toBeUndefined();
  });
});
