import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readCapped } from '../../../src/manifest/input-file.js';

describe('readCapped', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'ferry-read-capped-'));

  it('reads a regular file whole, multi-byte characters intact, up to the cap exactly', async () => {
    const text = 'lock ✓ ' + 'é'.repeat(70_000) + ' 🚢\n';
    const file = path.join(dir, 'utf8.json');
    writeFileSync(file, text);
    const bytes = Buffer.byteLength(text);
    expect(await readCapped(file, bytes, 'lock file')).toBe(text);
    await expect(readCapped(file, bytes - 1, 'lock file')).rejects.toMatchObject({ code: 'VALIDATION', message: expect.stringContaining('is larger than') });
  });

  it('reads an empty file as empty text and a missing one as undefined', async () => {
    const file = path.join(dir, 'empty.json');
    writeFileSync(file, '');
    expect(await readCapped(file, 10, 'lock file')).toBe('');
    expect(await readCapped(path.join(dir, 'missing.json'), 10, 'lock file')).toBeUndefined();
  });

  it('refuses an endless device by its cap, without reading it all', async () => {
    await expect(readCapped('/dev/zero', 1024, 'lock file')).rejects.toMatchObject({ code: 'VALIDATION' });
  });
});
