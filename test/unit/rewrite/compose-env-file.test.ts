/**
 * `rewrite manifests` reads the `.env` beside each Compose file (newuser24): it was read with
 * readFile, whole and whatever it was, so a `.env` that is a FIFO hung the rewrite and one linked
 * to /dev/zero read until memory ran out. It is now read only when it is a regular file of at most
 * 1 MiB (once per directory); otherwise the file is rewritten as if there were no `.env`.
 */
import { execFileSync } from 'node:child_process';
import { readFile, symlink } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { rewriteManifests } from '../../../src/rewrite/manifests.js';
import { fixtureContext, scratch, write } from './helpers.js';

const COMPOSE = 'services:\n  app:\n    image: ${APP_IMAGE:-ghcr.io/example/app:2.0}\n';

describe('rewrite manifests: the .env beside a Compose file', () => {
  for (const kind of ['fifo', '/dev/zero'] as const) {
    it(`a .env that is ${kind === 'fifo' ? 'a FIFO' : 'a link to /dev/zero'} is not read, and the default still moves`, async () => {
      const dir = await scratch();
      const file = await write(dir, 'compose.yaml', COMPOSE);
      if (kind === 'fifo') execFileSync('mkfifo', [path.join(dir, '.env')]);
      else await symlink('/dev/zero', path.join(dir, '.env'));
      const r = await rewriteManifests([file], await fixtureContext(), {});
      expect(r.unmapped).toEqual([]);
      expect(await readFile(file, 'utf8')).toMatch(/image: \$\{APP_IMAGE:-[^}]+\/ghcr\.io\/example\/app:2\.0\}/);
    }, 20_000);
  }

  it('a regular .env is still read: a variable it sets to an upstream image moves there (newuser35)', async () => {
    const dir = await scratch();
    const file = await write(dir, 'compose.yaml', COMPOSE);
    await write(dir, '.env', 'APP_IMAGE=ghcr.io/example/app:2.0\n');
    const r = await rewriteManifests([file], await fixtureContext(), {});
    expect(await readFile(path.join(dir, '.env'), 'utf8')).toMatch(/^APP_IMAGE=[^\n]+\/ghcr\.io\/example\/app:2\.0\n$/);
    expect(r.unmapped).toEqual([]);
  });
});
