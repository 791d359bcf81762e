import { describe, expect, it } from 'vitest';
import { findChecksum, parseChecksumFile, requireChecksum } from '../../../src/kinds/file/checksums.js';
import { isFerryError } from '../../../src/errors.js';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);
const C = 'c'.repeat(128);

describe('checksum files', () => {
  it('parses GNU text and binary forms, BSD forms, SHA-256 and SHA-512, ignoring other lines', () => {
    const lines = parseChecksumFile(
      [`${A}  noble-server-cloudimg-amd64.img`, `${B} *noble-server-cloudimg-arm64.img`, `SHA512 (debian-12-generic-amd64.qcow2) = ${C}`, `SHA256 (./x.iso) = ${A.toUpperCase()}`, '# comment', 'garbage line', ''].join('\n'),
    );
    expect(lines).toEqual([
      { name: 'noble-server-cloudimg-amd64.img', algorithm: 'sha256', hex: A },
      { name: 'noble-server-cloudimg-arm64.img', algorithm: 'sha256', hex: B },
      { name: 'debian-12-generic-amd64.qcow2', algorithm: 'sha512', hex: C },
      { name: './x.iso', algorithm: 'sha256', hex: A },
    ]);
  });

  it('handles CRLF line endings and GNU escaped names', () => {
    const lines = parseChecksumFile(`${A}  a.img\r\n\\${B}  dir\\\\name.img\r\n`);
    expect(lines.map((l) => l.name)).toEqual(['a.img', 'dir\\name.img']);
  });

  it('finds a file by its path relative to the checksum file, then by base name', () => {
    const lines = parseChecksumFile(`${A}  sub/disk.img\n${B}  disk.img\n`);
    expect(findChecksum(lines, 'https://h/x/sub/disk.img', 'https://h/x/SHA256SUMS')?.hex).toBe(A);
    expect(findChecksum(lines, 'https://h/y/disk.img', 'https://h/x/SHA256SUMS')?.hex).toBe(B);
    expect(findChecksum(parseChecksumFile(`SHA256 (./x.iso) = ${A}`), 'https://h/x.iso', 'https://h/SUMS')?.hex).toBe(A);
  });

  it('prefers SHA-512 when both are listed, or the requested algorithm', () => {
    const lines = parseChecksumFile(`${A}  f.img\nSHA512 (f.img) = ${C}\n`);
    expect(findChecksum(lines, 'https://h/f.img', 'https://h/SUMS')?.algorithm).toBe('sha512');
    expect(findChecksum(lines, 'https://h/f.img', 'https://h/SUMS', 'sha256')?.hex).toBe(A);
  });

  it('accepts a checksum file that holds only the bare hash', () => {
    const lines = parseChecksumFile(`${A}\n`);
    expect(findChecksum(lines, 'https://h/alpine.qcow2', 'https://h/alpine.qcow2.sha256')?.hex).toBe(A);
    expect(findChecksum(lines, 'https://h/alpine.qcow2', 'https://h/alpine.qcow2.sha256', 'sha512')).toBeUndefined();
  });

  it('names the checksum file and the file when there is no entry', () => {
    try {
      requireChecksum(parseChecksumFile(`${A}  other.img\n`), 'https://h/f.img', 'https://h/SHA256SUMS', undefined, 'files[f]');
      expect.unreachable();
    } catch (err) {
      expect(isFerryError(err, 'NOT_FOUND')).toBe(true);
      expect((err as Error).message).toBe('files[f]: https://h/SHA256SUMS has no sha256/sha512 checksum for f.img');
    }
  });
});
