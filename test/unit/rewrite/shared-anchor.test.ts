/**
 * `rewrite manifests` edits an anchored image scalar in place, so every alias of it changes too —
 * the documented rule, but in silence: a GitLab job's `tags: [*img]` (runner tags, not an image)
 * or an env value aliasing the image became the mirror's name with no word (hostile21's note).
 * Now a warning names the anchor and the lines of its aliases.
 */
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { rewriteManifests } from '../../../src/rewrite/manifests.js';
import { fixtureContext, scratch, write } from './helpers.js';

const DEPLOY = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
spec:
  template:
    spec:
      containers:
        - name: app
          image: &img ghcr.io/example/app:2.0
          env:
            - name: SELF_IMAGE
              value: *img
`;

describe('rewrite manifests: an anchored image', () => {
  it('is rewritten, and the warning names the alias that changed with it', async () => {
    const dir = await scratch();
    const file = await write(dir, 'deploy.yaml', DEPLOY);
    const r = await rewriteManifests([file], await fixtureContext(), {});
    expect(r.unmapped).toEqual([]);
    expect(await readFile(file, 'utf8')).toMatch(/image: &img \S+\/ghcr\.io\/example\/app:2\.0\n/);
    expect(r.warnings.join('\n')).toMatch(/deploy\.yaml:10: the image rewritten here is the YAML anchor &img, and its alias at line 13 now says the same/);
  });

  it('an anchored image without aliases: no warning', async () => {
    const dir = await scratch();
    const file = await write(dir, 'deploy.yaml', DEPLOY.replace('value: *img', 'value: x'));
    const r = await rewriteManifests([file], await fixtureContext(), {});
    expect(r.warnings.filter((w) => /anchor/.test(w))).toEqual([]);
  });
});
