import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { FerryError } from '../../../src/errors.js';
import { INPUT_LIMITS } from '../../../src/manifest/input-file.js';
import { loadTarget } from '../../../src/manifest/load.js';
import { loadManifest, readLock } from '../../../src/kinds/schema.js';
import { VARS_LIMITS } from '../../../src/manifest/vars.js';

const HEAD = 'apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: {name: app}\n';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-hostile-'));
});

async function refusal(name: string, text: string, load: (f: string) => Promise<unknown> = loadManifest): Promise<FerryError> {
  const file = path.join(dir, name);
  await writeFile(file, text);
  const err = await load(file).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(FerryError);
  const fe = err as FerryError;
  expect(fe.code).toBe('VALIDATION');
  expect(fe.message).toContain(file);
  return fe;
}

const all = (e: FerryError) => [e.message, ...(e.details ?? [])].join('\n');

describe('hostile YAML', () => {
  it('names the line:column of an alias with no anchor', async () => {
    expect(all(await refusal('undef.yaml', `${HEAD}images: *nope\n`))).toContain('line 4:9: alias *nope names no anchor before it');
  });

  it('refuses an alias into its own anchor (a cycle) instead of overflowing the stack', async () => {
    expect(all(await refusal('cycle.yaml', `${HEAD}images: &a [*a]\n`))).toMatch(/line 4:13: alias \*a points into its own anchor/);
    expect(all(await refusal('cycle2.yaml', `${HEAD}images: &a\n  - ref: x\n    more: {deep: [*a]}\n`))).toMatch(/cyclic/);
  });

  it('refuses an alias bomb before expanding it, naming the alias', async () => {
    const lines = [HEAD + 'x0: &a0 [x,x,x,x,x,x,x,x,x,x]'];
    for (let i = 1; i < 10; i++) lines.push(`x${i}: &a${i} [${Array(10).fill(`*a${i - 1}`).join(',')}]`);
    const e = await refusal('bomb.yaml', lines.join('\n') + '\nimages: []\n');
    expect(e.message).toMatch(new RegExp(`expands to more than ${INPUT_LIMITS.expandedNodes} nodes through aliases \\(line \\d+:\\d+\\)`));
  });

  it('refuses long text multiplied by aliases', async () => {
    const big = 'y'.repeat(200_000);
    const e = await refusal('text-bomb.yaml', `${HEAD}s: &s "${big}"\nl: [${Array(60).fill('*s').join(',')}]\n`);
    expect(e.message).toMatch(/of text through aliases/);
  });

  it('keeps aliases that share a few values', async () => {
    const file = path.join(dir, 'shared.yaml');
    await writeFile(file, `${HEAD}images:\n  - &img {ref: "alpine:3.20", platforms: [linux/amd64]}\n  - {ref: "alpine:3.21", platforms: [linux/amd64]}\n`);
    const { manifest } = await loadManifest(file);
    expect(manifest.images.map((i) => i.ref)).toEqual(['alpine:3.20', 'alpine:3.21']);
  });

  it('bounds nesting, flow and block, with the position', async () => {
    expect((await refusal('deep.yaml', `${HEAD}x: ${'['.repeat(100)}${']'.repeat(100)}\n`)).message).toMatch(/nests deeper than 64 levels \(line 4:\d+\)/);
    const block = Array.from({ length: 80 }, (_, i) => ' '.repeat(i) + '- ').join('\n') + 'x';
    expect((await refusal('deep-block.yaml', `${HEAD}x:\n${block}\n`)).message).toMatch(/nests deeper than 64 levels/);
    // Far deeper than the parser's own stack: still a validation error.
    expect(all(await refusal('deeper.yaml', `${HEAD}x: ${'['.repeat(8000)}${']'.repeat(8000)}\n`))).toMatch(/line \d+:\d+|nests deeper/);
  });

  it('reports duplicate keys, tabs and unknown tags with their line:column', async () => {
    expect(all(await refusal('dup.yaml', `${HEAD}kind: Manifest\n`))).toMatch(/line 4:1: Map keys must be unique/);
    expect(all(await refusal('tab.yaml', `${HEAD}images:\n\t- ref: x\n`))).toMatch(/line 5:1: /);
    expect(all(await refusal('tag.yaml', `${HEAD}images: !evil []\n`))).toMatch(/line 4:9: Unresolved tag: !evil/);
  });

  it('caps the size and the token count of manifest and target files, naming the cap', async () => {
    const big = `${HEAD}# ${'x'.repeat(INPUT_LIMITS.yamlBytes)}\n`;
    expect((await refusal('big.yaml', big)).message).toContain('manifest is larger than the 512 KiB ferry reads');
    expect((await refusal('big-target.yaml', big, loadTarget)).message).toContain('mirror target is larger than the 512 KiB ferry reads');
    const dense = `${HEAD}x: [${Array(INPUT_LIMITS.yamlTokens).fill('1').join(',')}]\n`;
    expect((await refusal('dense.yaml', dense)).message).toContain(`more than ${INPUT_LIMITS.yamlTokens} YAML tokens`);
  });

  it('keeps a __proto__ key as data', async () => {
    const e = await refusal('proto.yaml', `${HEAD}__proto__: {polluted: true}\n`);
    expect(e.details?.join('\n')).toMatch(/__proto__/);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('vars expansion limits', () => {
  it('refuses eight list vars of 20 values in one field before expanding, naming the entry, count and limit', async () => {
    const vars = Array.from({ length: 8 }, (_, i) => `  v${i}: [${Array.from({ length: 20 }, (_, j) => j).join(', ')}]`).join('\n');
    const e = await refusal('vars.yaml', `${HEAD}vars:\n${vars}\nimages:\n  - ref: "x/${Array.from({ length: 8 }, (_, i) => `<v${i}>`).join('')}:1"\n`);
    expect(e.details).toContain(`images[0]: vars expand this entry to ${20 ** 8} entries, more than the limit of ${VARS_LIMITS.perEntry}`);
  });

  it('refuses many entries that together expand past the total', async () => {
    const entries = Array.from({ length: 20 }, (_, i) => `  - ref: "x/a${i}-<v>-<w>:1"`).join('\n');
    const e = await refusal('vars-total.yaml', `${HEAD}vars:\n  v: [${Array.from({ length: 30 }, (_, j) => j).join(',')}]\n  w: [${Array.from({ length: 30 }, (_, j) => j).join(',')}]\nimages:\n${entries}\n`);
    expect(e.details).toContain(`vars: the entries expand to ${20 * 900} entries in all, more than the limit of ${VARS_LIMITS.total}`);
  });

  it('refuses a long scalar var repeated into a field', async () => {
    const e = await refusal('vars-chars.yaml', `${HEAD}vars:\n  big: "${'y'.repeat(200_000)}"\nimages:\n  - ref: "x/${'<big>'.repeat(60)}:1"\n`);
    expect(e.details?.join('\n')).toMatch(/characters in all, more than the limit/);
  });
});

describe('hostile lock files', () => {
  it('refuses deep nesting and bad JSON with the file named, and a missing lock is no lock', async () => {
    const deep = path.join(dir, 'deep.lock.json');
    await writeFile(deep, '['.repeat(100_000) + ']'.repeat(100_000));
    await expect(readLock(deep)).rejects.toMatchObject({ code: 'VALIDATION', message: expect.stringContaining(`${deep}: lock file nests deeper than 64 levels`) });
    const bad = path.join(dir, 'bad.lock.json');
    await writeFile(bad, '{"apiVersion": ');
    await expect(readLock(bad)).rejects.toMatchObject({ code: 'VALIDATION', message: expect.stringContaining(`${bad}: lock file is not valid JSON`) });
    expect(await readLock(path.join(dir, 'none.lock.json'))).toBeUndefined();
  });

  it('refuses an endless lock file without reading it all', async () => {
    await expect(readLock('/dev/zero')).rejects.toMatchObject({ code: 'VALIDATION', message: expect.stringContaining('/dev/zero: lock file is larger than the 32 MiB ferry reads') });
  });
});
