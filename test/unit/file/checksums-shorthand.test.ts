import { describe, expect, it } from 'vitest';
import { FileSpecSchema } from '../../../src/kinds/file/spec.js';

/** `checksums: <url>` — the checksum file alone, as a new user writes it first — is `{url}`. */
describe('files[].checksums', () => {
  it('a URL alone is the checksum file', () => {
    const spec = FileSpecSchema.parse({ name: 'noble', url: 'https://cloud-images.ubuntu.com/noble/current/x.img', checksums: 'https://cloud-images.ubuntu.com/noble/current/SHA256SUMS' });
    expect(spec.checksums).toEqual({ url: 'https://cloud-images.ubuntu.com/noble/current/SHA256SUMS' });
  });

  it('the object form is unchanged, and anything else is refused by name', () => {
    const full = { url: 'https://h.example/SHA256SUMS', signature: 'https://h.example/SHA256SUMS.gpg', keys: ['k.asc'], algorithm: 'sha256' as const };
    expect(FileSpecSchema.parse({ name: 'a', url: 'https://h.example/a', checksums: full }).checksums).toEqual(full);
    expect(FileSpecSchema.safeParse({ name: 'a', url: 'https://h.example/a', checksums: 'SHA256SUMS' }).success).toBe(false);
    expect(FileSpecSchema.safeParse({ name: 'a', url: 'https://h.example/a', checksums: { url: 'https://h.example/S', extra: 1 } }).success).toBe(false);
  });
});
