/**
 * hostile57: the daemon.json `mirror-config docker -o <dir>` finds and merges is outside data (a
 * host's /etc/docker). A file nested 20 000 deep crashed with a stack overflow when written back;
 * a registry mirror of 200 000 slashes took minutes (a backtracking trailing-slash pattern); a
 * file listing 200 000 mirrors printed all of them in one note (5 MB); bytes that are not UTF-8
 * came back as U+FFFD in the settings the merge says it keeps. vitest's per-test timeout (BOUND)
 * is what fails on the old code for the pattern: no timing assertion.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { mirrorConfig } from '../../../src/rewrite/mirror-config.js';
import { fixtureContext, scratch } from './helpers.js';

const BOUND = 10_000;
const flat = () =>
  fixtureContext((t) => {
    const reg = t.registry as Record<string, unknown>;
    reg.layout = 'flat';
    delete reg.prefix;
  });

async function withDaemonJson(content: string | Buffer): Promise<{ out: string; file: string }> {
  const out = path.join(await scratch(), 'etc-docker');
  await mkdir(out);
  const file = path.join(out, 'daemon.json');
  await writeFile(file, content);
  return { out, file };
}

describe('hostile57: mirror-config docker merging a crafted daemon.json', () => {
  it('a daemon.json nested 20 000 deep is refused, naming the file, and left as it was', async () => {
    const text = `{"a":${'['.repeat(20_000)}${']'.repeat(20_000)}}`;
    const { out, file } = await withDaemonJson(text);
    const err = await mirrorConfig('docker', await flat(), { output: out }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'VALIDATION' });
    expect((err as Error).message).toBe(`${file}: daemon.json nests deeper than 64 levels`);
    expect(await readFile(file, 'utf8')).toBe(text);
  });

  it('a registry mirror of 200 000 slashes is merged in linear time', async () => {
    const odd = `${'/'.repeat(200_000)}x`;
    const { out, file } = await withDaemonJson(JSON.stringify({ 'registry-mirrors': [odd, 'https://mirror.site.example:5000///'] }));
    const r = await mirrorConfig('docker', await flat(), { output: out });
    // The mirror already listed with trailing slashes is ours (not kept twice); the odd one is kept after it.
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual({ 'registry-mirrors': ['https://mirror.site.example:5000', odd] });
    expect(r.notes.find((n) => n.startsWith('registry-mirrors:'))!.length).toBeLessThan(1000);
  }, BOUND);

  it('200 000 mirrors already listed: all kept, the note names 8 and counts the rest', async () => {
    const many = Array.from({ length: 200_000 }, (_, i) => `https://m${i}.example`);
    const { out, file } = await withDaemonJson(JSON.stringify({ 'log-driver': 'json-file', 'registry-mirrors': many }));
    const r = await mirrorConfig('docker', await flat(), { output: out });
    expect(JSON.parse(await readFile(file, 'utf8'))['registry-mirrors']).toEqual(['https://mirror.site.example:5000', ...many]);
    const note = r.notes.find((n) => n.startsWith('registry-mirrors:'))!;
    expect(note).toContain('https://m7.example, and 199992 more kept after https://mirror.site.example:5000');
    expect(note).not.toContain('https://m8.example');
  });

  it('a daemon.json that is not UTF-8 is refused, naming its line, and left byte for byte', async () => {
    const bytes = Buffer.concat([Buffer.from('{\n  "log-driver": "json-file",\n  "labels": ["site='), Buffer.from([0xff, 0xfe]), Buffer.from('"]\n}\n')]);
    const { out, file } = await withDaemonJson(bytes);
    const err = await mirrorConfig('docker', await flat(), { output: out }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'VALIDATION' });
    expect((err as Error).message).toContain(`${file}: daemon.json is not valid UTF-8 (line 3)`);
    expect(Buffer.compare(await readFile(file), bytes)).toBe(0);
  });

  it('a __proto__ key and a key written twice: kept as dockerd reads them (the later value), nothing else touched', async () => {
    const { out, file } = await withDaemonJson('{"__proto__": {"polluted": true}, "debug": false, "debug": true}');
    await mirrorConfig('docker', await flat(), { output: out });
    const written = await readFile(file, 'utf8');
    expect(JSON.parse(written)).toEqual(JSON.parse('{"__proto__": {"polluted": true}, "debug": true, "registry-mirrors": ["https://mirror.site.example:5000"]}'));
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
