import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { rewriteManifests } from '../../../src/rewrite/manifests.js';
import { fixtureContext, scratch, write } from './helpers.js';

/** A shell-script args item is hostile input: the images it hands over and the places it writes them are bounded, and what is past a bound is said, not moved in part. */
const deployment = (script: string[]) =>
  [
    'apiVersion: apps/v1',
    'kind: Deployment',
    'metadata: { name: runner }',
    'spec:',
    '  template:',
    '    spec:',
    '      containers:',
    '        - name: runner',
    '          image: nginx:1.27',
    '          args:',
    '            - |',
    ...script.map((l) => `              ${l}`),
    '',
  ].join('\n');

describe('rewrite manifests: images in a shell-script item, bounded', () => {
  it('more than 256 handed-over images: the first 256 are read, the rest named as not read', async () => {
    const dir = await scratch();
    const file = await write(dir, 'many.yaml', deployment(['run \\', ...Array.from({ length: 300 }, (_v, i) => `  --img${i}-image=registry.example.com/app/c${i}:1.0 \\`), '  --done']));
    const r = await rewriteManifests([file], await fixtureContext(), { allowUnmapped: true });
    expect(r.unmapped.filter((u) => u.where?.includes('in a shell script'))).toHaveLength(256);
    expect(r.warnings.some((w) => /img256-image in a shell script.*more than 256 images; the rest \(from registry\.example\.com\/app\/c256:1\.0 on\) were not read/.test(w))).toBe(true);
  });

  it('a carried image written in more than 256 places of one script is left whole and said, not moved in part', async () => {
    const dir = await scratch();
    const script = ['run --x-image=nginx:1.27', ...Array.from({ length: 300 }, () => 'echo nginx:1.27')];
    const file = await write(dir, 'places.yaml', deployment(script));
    const r = await rewriteManifests([file], await fixtureContext(), {});
    expect(r.warnings.some((w) => w.includes('x-image in a shell script') && w.includes('writes its images in more than 256 places') && w.includes('left upstream'))).toBe(true);
    const after = await readFile(file, 'utf8');
    expect(after.match(/echo nginx:1\.27\n/g)).toHaveLength(300);
    expect(after).toContain('run --x-image=nginx:1.27\n');
    // the container's own image moved
    expect(after).not.toContain('image: nginx:1.27');
  });
});
