/**
 * The signing and verify key files (`bundle create --sign-key`, `bundle verify --key`, `import
 * --key`) were read whole before their 64 KiB bound was checked: a path naming a FIFO hung the
 * command, one naming /dev/zero read until memory ran out (hostile18's note). They are now read up
 * to the bound and only when they are regular files.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSigningKey, loadVerifyKey } from '../../../src/store/bundle-sign.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-key-bound-'));
  execFileSync('mkfifo', [path.join(dir, 'fifo.pem')]);
  await symlink('/dev/zero', path.join(dir, 'zero.pem'));
  await writeFile(path.join(dir, 'big.pem'), Buffer.alloc(200 * 1024, 0x41));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('key files are read within their bound', () => {
  for (const [name, problem] of [
    ['fifo.pem', /fifo\.pem: cannot read the .*FIFO/i],
    ['zero.pem', /zero\.pem: cannot read the .*(character device|device)/i],
    ['big.pem', /big\.pem: 204800 bytes is too large for a/],
  ] as const) {
    it(`${name}: refused, naming the file, without reading it whole`, async () => {
      await expect(loadVerifyKey(path.join(dir, name))).rejects.toThrow(problem);
      await expect(loadSigningKey(path.join(dir, name))).rejects.toThrow(problem);
    }, 10_000);
  }
});
