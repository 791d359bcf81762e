import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { warmIfSigned } from '../../../src/net/pgp-early.js';

describe('starting the signature-check thread early', () => {
  it('starts it for lock and bundle create when a manifest among the arguments names keys, and not otherwise', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-pgp-early-'));
    const signed = path.join(dir, 'm.yaml');
    await writeFile(signed, 'apt:\n  - name: v\n    url: http://x/debian\n    suites: [bookworm]\n    keys:\n      - keys/v.asc\n');
    const plain = path.join(dir, 'images.yaml');
    await writeFile(plain, 'images:\n  - name: n\n    ref: docker.io/library/nginx:1.27\n');
    expect(warmIfSigned(['lock', signed])).toBe(true);
    expect(warmIfSigned(['bundle', 'create', signed, '-o', path.join(dir, 'b.tar')])).toBe(true);
    expect(warmIfSigned(['lock', '-o', path.join(dir, 'l.json'), signed])).toBe(true);
    expect(warmIfSigned(['lock', plain])).toBe(false);
    expect(warmIfSigned(['bundle', 'verify', signed])).toBe(false);
    expect(warmIfSigned(['audit', signed])).toBe(false);
    expect(warmIfSigned(['lock', path.join(dir, 'missing.yaml')])).toBe(false);
    expect(warmIfSigned(['lock', dir + '.yaml'])).toBe(false);
  });
});
