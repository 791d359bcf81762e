import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LockSchema } from '../../src/kinds/schema.js';
import { MirrorTargetSchema } from '../../src/manifest/target.js';
import { createRewriteContext } from '../../src/rewrite/context.js';
import { rewriteManifests } from '../../src/rewrite/manifests.js';
import { parse as parseYaml } from 'yaml';
import { imagesLock, NESTED_SITE_TARGET } from '../support/offline-lock.js';

/** A kustomization entry without newName gets one added: in a CRLF file, on a CRLF line like the rest. */
const ctx = () => createRewriteContext(MirrorTargetSchema.parse(parseYaml(NESTED_SITE_TARGET)), LockSchema.parse(JSON.parse(imagesLock('k', ['docker.io/library/nginx:1.25']))));

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-review-2-kust-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('rewrite manifests: newName added to a CRLF kustomization', () => {
  it('keeps every line ending CRLF', async () => {
    const file = path.join(dir, 'kustomization.yaml');
    await writeFile(file, 'resources:\r\n- deploy.yaml\r\nimages:\r\n- name: nginx\r\n  newTag: "1.25"\r\n');
    await rewriteManifests([file], ctx(), {});
    const text = await readFile(file, 'utf8');
    expect(text).toBe('resources:\r\n- deploy.yaml\r\nimages:\r\n- name: nginx\r\n  newName: registry.site.internal/ferry/docker.io/library/nginx\r\n  newTag: "1.25"\r\n');
  });

  it('an LF file stays LF', async () => {
    const file = path.join(dir, 'lf', 'kustomization.yaml');
    await import('node:fs/promises').then((fs) => fs.mkdir(path.dirname(file)));
    await writeFile(file, 'images:\n- name: nginx\n  newTag: "1.25"\n');
    await rewriteManifests([file], ctx(), {});
    expect(await readFile(file, 'utf8')).toBe('images:\n- name: nginx\n  newName: registry.site.internal/ferry/docker.io/library/nginx\n  newTag: "1.25"\n');
  });
});
