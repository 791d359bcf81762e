import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { rewriteValues } from '../../../src/rewrite/values.js';
import { CTRL_DIGEST, CTRL_STORED, FIXTURES, MIRROR, fixtureContext, scratch, write } from './helpers.js';

describe('rewrite values --in-place', () => {
  it('changes only the image scalars; every other line is byte for byte the same', async () => {
    const dir = await scratch('values.yaml');
    const file = path.join(dir, 'values.yaml');
    const before = await readFile(file, 'utf8');
    const r = await rewriteValues([file], await fixtureContext(), { inPlace: true });
    const after = await readFile(file, 'utf8');
    const b = before.split('\n');
    const a = after.split('\n');
    expect(a.length).toBe(b.length);
    const changedLines = new Set(r.replacements.map((x) => x.line));
    for (let i = 0; i < b.length; i++) {
      if (changedLines.has(i + 1)) continue;
      expect(a[i], `line ${i + 1}`).toBe(b[i]);
    }
    // On changed lines, everything around the value (indent, key, quotes, comment) is kept.
    expect(a[6]).toBe(`    registry: ${MIRROR}/registry.k8s.io          # upstream`);
    expect(a[9]).toBe(`    digest: ${CTRL_STORED}`);
    expect(a[19]).toBe(`  image: ${MIRROR}/docker.io/library/nginx:1.27 # a plain image string`);
    expect(a[22]).toBe(`      image: "${MIRROR}/registry.example.com-5000/team/tool:1"`);
    expect(a[16]).toBe(`    tag: '7.4'`);
    expect(a[31]).toBe(b[31]); // a string that only mentions quay.io
    expect(r.files).toEqual([file]);
  });

  it('is idempotent: a second run changes nothing', async () => {
    const dir = await scratch('values.yaml');
    const file = path.join(dir, 'values.yaml');
    const ctx = await fixtureContext();
    await rewriteValues([file], ctx, { inPlace: true });
    const once = await readFile(file, 'utf8');
    const r = await rewriteValues([file], ctx, { inPlace: true });
    expect(r.replacements).toEqual([]);
    expect(r.files).toEqual([]);
    expect(await readFile(file, 'utf8')).toBe(once);
  });

  it('--dry-run prints a unified diff and writes nothing', async () => {
    const dir = await scratch('values.yaml');
    const file = path.join(dir, 'values.yaml');
    const before = await readFile(file, 'utf8');
    const r = await rewriteValues([file], await fixtureContext(), { inPlace: true, dryRun: true });
    expect(await readFile(file, 'utf8')).toBe(before);
    expect(r.diff).toContain('-    registry: registry.k8s.io          # upstream');
    expect(r.diff).toContain(`+    registry: ${MIRROR}/registry.k8s.io          # upstream`);
    expect(r.diff).toMatch(/^--- a\/.*values\.yaml$/m);
  });

  it('fills an empty registry key after its colon, keeping a trailing comment', async () => {
    const dir = await scratch();
    const file = await write(dir, 'v.yaml', 'image:\n  repository: nginx\n  tag: "1.27"\n  registry:   # default docker.io\n');
    await rewriteValues([file], await fixtureContext(), { inPlace: true });
    const out = await readFile(file, 'utf8');
    expect(out).toBe(`image:\n  repository: library/nginx\n  tag: "1.27"\n  registry: ${MIRROR}/docker.io   # default docker.io\n`);
  });
});

describe('rewrite values (override)', () => {
  it('writes only the keys that change; lists carried whole; digest is the stored one', async () => {
    const dir = await scratch('values.yaml');
    const out = path.join(dir, 'override.yaml');
    const r = await rewriteValues([path.join(dir, 'values.yaml')], await fixtureContext(), { output: out });
    const o = parse(await readFile(out, 'utf8'));
    expect(o).toEqual({
      controller: { image: { registry: `${MIRROR}/registry.k8s.io`, digest: CTRL_STORED } },
      redis: { image: { registry: `${MIRROR}/docker.io` } },
      web: { image: `${MIRROR}/docker.io/library/nginx:1.27`, sidecars: [{ name: 'tool', image: `${MIRROR}/registry.example.com-5000/team/tool:1` }] },
      app: { image: { repository: `${MIRROR}/ghcr.io/example/app` } },
      certManager: { imageRegistry: `${MIRROR}/quay.io` },
    });
    expect(r.replacements.map((x) => `${x.line} ${x.old} → ${x.new}`)).toContain(`10 ${CTRL_DIGEST} → ${CTRL_STORED}`);
    // The values file itself is untouched.
    expect(await readFile(path.join(dir, 'values.yaml'), 'utf8')).toBe(await readFile(path.join(FIXTURES, 'values.yaml'), 'utf8'));
  });

  it('an image the lock does not pin fails the rewrite, naming file, line and reference; --allow-unmapped goes on', async () => {
    const dir = await scratch();
    const file = await write(dir, 'v.yaml', 'a:\n  image: nginx:1.27\nb:\n  image:\n    repository: quay.io/other/thing\n    tag: "1"\n');
    const ctx = await fixtureContext();
    const err = await rewriteValues([file], ctx, { output: path.join(dir, 'o.yaml') }).catch((e) => e);
    expect(err.code).toBe('CONFLICT');
    expect(err.details.join('\n')).toContain(`${file}:5  quay.io/other/thing:1`);
    await expect(readFile(path.join(dir, 'o.yaml'))).rejects.toThrow();
    const ok = await rewriteValues([file], ctx, { output: path.join(dir, 'o.yaml'), allowUnmapped: true });
    expect(ok.unmapped.map((u) => u.ref)).toEqual(['quay.io/other/thing:1']);
    expect(parse(await readFile(path.join(dir, 'o.yaml'), 'utf8'))).toEqual({ a: { image: `${MIRROR}/docker.io/library/nginx:1.27` } });
  });

  it('a tag the lock does not pin is not covered, even when the repository is', async () => {
    const dir = await scratch();
    const file = await write(dir, 'v.yaml', 'image: nginx:9.99\n');
    const r = await rewriteValues([file], await fixtureContext(), { allowUnmapped: true });
    expect(r.unmapped[0].reason).toBe('tag 9.99 not in the lock');
  });
});

describe('rewrite values: Bitnami substitution guard', () => {
  it('turns global.security.allowInsecureImages on when images move, in place and in the override', async () => {
    const dir = await scratch();
    const text = 'global:\n  security:\n    allowInsecureImages: false  # bitnami\nimage:\n  registry: docker.io\n  repository: bitnami/redis\n  tag: "7.4"\n';
    const file = await write(dir, 'v.yaml', text);
    const out = path.join(dir, 'o.yaml');
    await rewriteValues([file], await fixtureContext(), { output: out });
    expect(parse(await readFile(out, 'utf8'))).toEqual({ image: { registry: `${MIRROR}/docker.io` }, global: { security: { allowInsecureImages: true } } });
    await rewriteValues([file], await fixtureContext(), { inPlace: true });
    expect(await readFile(file, 'utf8')).toBe(text.replace('false  # bitnami', 'true  # bitnami').replace('registry: docker.io', `registry: ${MIRROR}/docker.io`));
  });
});

describe('rewrite values: plain lists of image strings', () => {
  it('rewrites each item in place, and an override carries the whole list (Helm replaces lists)', async () => {
    const dir = await scratch();
    const body = 'extraImages:\n  - docker.io/library/nginx:1.27   # sidecar\n  - quay.io/team/not-in-the-lock:1\n';
    const file = await write(dir, 'v.yaml', 'images:\n  - nginx:1.27\n  - "docker.io/library/nginx:1.27"\n');
    const r = await rewriteValues([file], await fixtureContext(), { inPlace: true });
    expect(r.replacements.map((x) => x.where)).toEqual(['images[0]', 'images[1]']);
    expect(await readFile(file, 'utf8')).toBe(`images:\n  - ${MIRROR}/docker.io/library/nginx:1.27\n  - "${MIRROR}/docker.io/library/nginx:1.27"\n`);

    const other = await write(dir, 'o.yaml', body);
    const o = await rewriteValues([other], await fixtureContext(), { allowUnmapped: true });
    expect(parse(o.override!)).toEqual({ extraImages: [`${MIRROR}/docker.io/library/nginx:1.27`, 'quay.io/team/not-in-the-lock:1'] });
    expect(o.unmapped.map((u) => u.ref)).toEqual(['quay.io/team/not-in-the-lock:1']);
  });
});

describe('rewrite values: every key the shared image-key rule names', () => {
  it('rewrites init_image, img, sidecarimage and initContainerImages like image and *Image', async () => {
    const dir = await scratch();
    const file = await write(
      dir,
      'v.yaml',
      'init_image: docker.io/library/nginx:1.27\nimg: nginx:1.27\nsidecarimage: docker.io/library/nginx:1.27\ninitContainerImages:\n  - nginx:1.27\nsidecarImage: enabled\n',
    );
    const r = await rewriteValues([file], await fixtureContext(), { inPlace: true });
    expect(r.replacements.map((x) => x.where).sort()).toEqual(['img', 'initContainerImages[0]', 'init_image', 'sidecarimage']);
    expect(await readFile(file, 'utf8')).toContain('sidecarImage: enabled\n');
  });
  it('an image given through an alias (image: *img) is rewritten at its anchor, once, and every alias then names the mirror', async () => {
    const dir = await scratch();
    const file = await write(dir, 'alias.yaml', 'common: &img nginx:1.27\nweb:\n  image: *img\nworker:\n  image: *img\n');
    const r = await rewriteValues([file], await fixtureContext(), { inPlace: true });
    const text = await readFile(file, 'utf8');
    expect(text).toBe(`common: &img ${MIRROR}/docker.io/library/nginx:1.27\nweb:\n  image: *img\nworker:\n  image: *img\n`);
    const v = parse(text) as { web: { image: string }; worker: { image: string } };
    expect([v.web.image, v.worker.image]).toEqual([`${MIRROR}/docker.io/library/nginx:1.27`, `${MIRROR}/docker.io/library/nginx:1.27`]);
    expect(r.unmapped).toEqual([]);
  });
});
