/**
 * A Compose `.env` (newuser35): read as compose-go's dotenv parser reads it, and rewritten where
 * it sets what an image is pulled from — the value only, every other byte kept; refused, naming
 * each image, when images sharing a variable need different values of it.
 */
import { readFile, symlink } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { composeEnvEntries } from '../../../src/audit/compose-env.js';
import { rewriteManifests } from '../../../src/rewrite/manifests.js';
import { fixtureContext, MIRROR, scratch, write } from './helpers.js';

describe('compose-go .env rules', () => {
  it('export, `NAME: value`, quotes, ` #` inline comments, a later assignment wins, multi-line quoted values', () => {
    const text = [
      '# a comment',
      'export REGISTRY=quay.io # where from',
      "APP_IMAGE='quay.io/acme/app:1.4'",
      'TAG: 1.4',
      'HASHED=a#b',
      'MULTI="one',
      'two"',
      'REGISTRY=ghcr.io',
      '  INHERITED',
      'ESC="a\\"b"',
      '',
    ].join('\n');
    const got = composeEnvEntries(text).map((e) => [e.name, e.value, e.line, e.quote, text.slice(e.start, e.end)]);
    expect(got).toEqual([
      ['REGISTRY', 'quay.io', 2, '', 'quay.io'],
      ['APP_IMAGE', 'quay.io/acme/app:1.4', 3, "'", 'quay.io/acme/app:1.4'],
      ['TAG', '1.4', 4, '', '1.4'],
      ['HASHED', 'a#b', 5, '', 'a#b'],
      ['MULTI', 'one\ntwo', 6, '"', 'one\ntwo'],
      ['REGISTRY', 'ghcr.io', 8, '', 'ghcr.io'],
      ['ESC', 'a"b', 10, '"', 'a\\"b'],
    ]);
  });
});

describe('rewrite manifests: the .env where Compose images are set', () => {
  it('APP_IMAGE= and REGISTRY= move in the .env (quotes and comments kept); the Compose file keeps its variables', async () => {
    const dir = await scratch();
    const compose = 'services:\n  app:\n    image: ${APP_IMAGE}\n  cm:\n    image: ${REGISTRY}/jetstack/cert-manager-controller:${CM_TAG}\n';
    const file = await write(dir, 'compose.yaml', compose);
    const env = '# site settings\nAPP_IMAGE="ghcr.io/example/app:2.0"  # the app\nexport REGISTRY=quay.io # upstream\nCM_TAG=v1.16.0\n';
    await write(dir, '.env', env);
    const r = await rewriteManifests([file], await fixtureContext(), {});
    expect(r.unmapped).toEqual([]);
    expect(await readFile(file, 'utf8')).toBe(compose);
    expect(await readFile(path.join(dir, '.env'), 'utf8')).toBe(
      `# site settings\nAPP_IMAGE="${MIRROR}/ghcr.io/example/app:2.0"  # the app\nexport REGISTRY=${MIRROR}/quay.io # upstream\nCM_TAG=v1.16.0\n`,
    );
    expect(r.replacements.map((x) => [path.basename(x.file), x.line, x.old, x.new])).toEqual([
      ['.env', 2, 'ghcr.io/example/app:2.0', `${MIRROR}/ghcr.io/example/app:2.0`],
      ['.env', 3, 'quay.io', `${MIRROR}/quay.io`],
    ]);
    // Rewritten, it asks nothing more.
    const again = await rewriteManifests([file], await fixtureContext(), {});
    expect(again.replacements).toEqual([]);
  });

  it('a variable two images need different values of is refused, each image named, and nothing is written', async () => {
    const dir = await scratch();
    // REGISTRY=docker.io: nginx (carried) would need `<mirror>/docker.io`; busybox is not carried and needs it kept.
    const compose = 'services:\n  web:\n    image: ${REGISTRY}/library/nginx:1.27\n  tool:\n    image: ${REGISTRY}/library/busybox:1.36\n';
    const file = await write(dir, 'compose.yaml', compose);
    await write(dir, '.env', 'REGISTRY=docker.io\n');
    await expect(rewriteManifests([file], await fixtureContext(), {})).rejects.toMatchObject({
      details: expect.arrayContaining([expect.stringMatching(/compose\.yaml:3 .*REGISTRY in \.env is shared by images that need different values of it \(.*compose\.yaml:3 Compose service web needs REGISTRY=mirror\.site\.example:5000\/ferry\/docker\.io; .*compose\.yaml:5 Compose service tool needs it kept/)]),
    });
    expect(await readFile(path.join(dir, '.env'), 'utf8')).toBe('REGISTRY=docker.io\n');
    expect(await readFile(file, 'utf8')).toBe(compose);
  });

  it('a .env that is a link (its edit would land outside the tree) is not edited: the image is named', async () => {
    const dir = await scratch();
    const outside = await scratch();
    const target = await write(outside, 'shared.env', 'APP_IMAGE=ghcr.io/example/app:2.0\n');
    const file = await write(dir, 'compose.yaml', 'services:\n  app:\n    image: ${APP_IMAGE}\n');
    await symlink(target, path.join(dir, '.env'));
    await expect(rewriteManifests([file], await fixtureContext(), {})).rejects.toMatchObject({
      details: [expect.stringMatching(/compose\.yaml:3 .*APP_IMAGE in \.env \(line 1\) is what Compose pulls it with, and \.env is no regular file \(a link\): it is not edited; set APP_IMAGE=mirror\.site\.example:5000\/ferry\/ghcr\.io\/example\/app:2\.0 there/)],
    });
    expect(await readFile(target, 'utf8')).toBe('APP_IMAGE=ghcr.io/example/app:2.0\n');
  });
});
