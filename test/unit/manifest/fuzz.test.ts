import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FerryError } from '../../../src/errors.js';
import { loadTarget } from '../../../src/manifest/load.js';
import { loadManifest } from '../../../src/kinds/schema.js';
import { ROOT } from '../../support/cli.js';

/**
 * Mutated manifests and targets through the real loaders: whatever the bytes, the answer is the
 * loaded content or a FerryError naming the file, never another exception, a stack overflow
 * or a hang. Deterministic: a fixed seed, so a failure names a case that reproduces.
 */

/** Parsing costs about 0.4 ms per KiB: small seeds get many cases, the large ones fewer. */
const casesFor = (text: string) => Math.max(20, Math.min(250, Math.floor((500 * 1024) / Math.max(text.length, 1))));
const SEED = 0x5eed_f00d;

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const INTERESTING = ['&', '*', ':', '-', '[', ']', '{', '}', ',', '\t', '"', "'", '!', '|', '>', '#', '?', '<', '\u0000', '\u001b', '\u007f', '\uFEFF', '\n', ' ', '%', '@', '`'];

type Mutation = (text: string, r: () => number) => string;

const pick = <T,>(xs: readonly T[], r: () => number): T => xs[Math.floor(r() * xs.length)];
const lines = (t: string) => t.split('\n');

const MUTATIONS: Record<string, Mutation> = {
  byteFlip: (t, r) => {
    let out = t;
    for (let n = 1 + Math.floor(r() * 4); n > 0; n--) {
      const i = Math.floor(r() * out.length);
      const c = r() < 0.7 ? pick(INTERESTING, r) : String.fromCharCode(Math.floor(r() * 256));
      out = out.slice(0, i) + c + out.slice(i + 1);
    }
    return out;
  },
  deleteRange: (t, r) => {
    const i = Math.floor(r() * t.length);
    return t.slice(0, i) + t.slice(i + 1 + Math.floor(r() * 200));
  },
  duplicateLines: (t, r) => {
    const ls = lines(t);
    const i = Math.floor(r() * ls.length);
    const n = 1 + Math.floor(r() * 5);
    ls.splice(i, 0, ...ls.slice(i, i + n));
    return ls.join('\n');
  },
  swapLines: (t, r) => {
    const ls = lines(t);
    const i = Math.floor(r() * ls.length);
    const j = Math.floor(r() * ls.length);
    [ls[i], ls[j]] = [ls[j], ls[i]];
    return ls.join('\n');
  },
  truncate: (t, r) => t.slice(0, Math.floor(r() * t.length)),
  anchorAlias: (t, r) => {
    // An anchor on one value and aliases to it elsewhere (sometimes before it, sometimes inside it).
    const ls = lines(t);
    const withValue = ls.map((l, i) => [l, i] as const).filter(([l]) => /:\s+\S/.test(l));
    if (!withValue.length) return t;
    const [line, i] = pick(withValue, r);
    ls[i] = line.replace(/:\s+/, ': &x ');
    for (let n = 1 + Math.floor(r() * 3); n > 0; n--) {
      const j = Math.floor(r() * ls.length);
      ls[j] = ls[j].replace(/:\s+\S.*$/, ': *x');
    }
    if (r() < 0.3) ls[i] = ls[i] + ' *x';
    return ls.join('\n');
  },
  undefinedAlias: (t, r) => {
    const ls = lines(t);
    const j = Math.floor(r() * ls.length);
    ls[j] = ls[j].replace(/:\s+\S.*$/, ': *nowhere');
    return ls.join('\n');
  },
  recursiveAlias: (t, r) => {
    const ls = lines(t);
    const j = 1 + Math.floor(r() * (ls.length - 1));
    ls.splice(j, 0, pick(['loop: &r [*r]', 'loop: &r {a: *r}', 'images: &r [{ref: *r}]', 'x: &r\n  - y: [*r, *r]'], r));
    return ls.join('\n');
  },
  aliasBomb: (t, r) => {
    const width = 5 + Math.floor(r() * 10);
    const depth = 4 + Math.floor(r() * 10);
    const bomb = ['b0: &b0 [' + Array(width).fill('"xxxxxxxx"').join(',') + ']'];
    for (let i = 1; i < depth; i++) bomb.push(`b${i}: &b${i} [` + Array(width).fill(`*b${i - 1}`).join(',') + ']');
    return t + '\n' + bomb.join('\n') + '\n';
  },
  deepNesting: (t, r) => {
    const depth = pick([40, 70, 200, 2000, 20000], r);
    const block = r() < 0.5;
    const nest = block
      ? Array.from({ length: Math.min(depth, 400) }, (_, i) => ' '.repeat(i) + '- ').join('\n') + 'x'
      : 'deep: ' + '['.repeat(depth) + ']'.repeat(depth);
    return t + '\n' + nest + '\n';
  },
  hugeVars: (t, r) => {
    const n = 2 + Math.floor(r() * 8);
    const width = 2 + Math.floor(r() * 30);
    const vars = ['vars:', ...Array.from({ length: n }, (_, i) => `  fz${i}: [${Array.from({ length: width }, (_, j) => `v${j}`).join(', ')}]`)];
    const placeholders = Array.from({ length: n }, (_, i) => `<fz${i}>`).join('-');
    const withoutVars = t.replace(/^vars:\n(?:[ \t].*\n?)*/m, '');
    return withoutVars + '\n' + vars.join('\n') + `\nimages:\n  - ref: "registry.example/${placeholders}:1"\n`;
  },
  longScalarVar: (t, r) => {
    const big = 'y'.repeat(50_000 + Math.floor(r() * 200_000));
    return t.replace(/^vars:\n(?:[ \t].*\n?)*/m, '') + `\nvars:\n  big: "${big}"\nfiles:\n  - url: "https://x.example/${'<big>'.repeat(50)}"\n`;
  },
  denseList: (t, r) => t + '\nx: [' + Array(pick([1_000, 50_000], r)).fill('1').join(',') + ']\n',
  duplicateKey: (t) => t + '\nkind: Manifest\n',
  controlBytes: (t, r) => t.replace(/name: (\S+)/, (_m, n: string) => `name: "${n}\\e]0;pwned\\a\\e[2J${pick(['\\u202e', '\\x9b', '\\0'], r)}"`),
};

function readmeManifests(text: string): string[] {
  return [...text.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]).filter((b) => /kind: (Manifest|MirrorTarget)/.test(b));
}

describe('manifest fuzz', () => {
  let dir: string;
  const seeds: Array<{ name: string; text: string; target: boolean }> = [];

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-fuzz-'));
    for (const sub of ['manifests', 'mirror-targets']) {
      for (const f of (await readdir(path.join(ROOT, sub))).sort()) {
        if (f.endsWith('.yaml')) seeds.push({ name: `${sub}/${f}`, text: await readFile(path.join(ROOT, sub, f), 'utf8'), target: sub === 'mirror-targets' });
      }
    }
    readmeManifests(await readFile(path.join(ROOT, 'README.md'), 'utf8')).forEach((text, i) =>
      seeds.push({ name: `README.md example ${i + 1}`, text, target: /kind: MirrorTarget/.test(text) }),
    );
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('loads every unmutated seed manifest and target of the repository', async () => {
    expect(seeds.length).toBeGreaterThanOrEqual(10);
    for (const s of seeds.filter((x) => !x.name.startsWith('README'))) {
      const file = path.join(dir, 'seed.yaml');
      await writeFile(file, s.text);
      const load = s.target ? loadTarget(file) : loadManifest(file);
      await expect(load, s.name).resolves.toBeTruthy();
    }
  });

  it('answers every mutated manifest with its content or a FerryError naming the file', async () => {
    const r = rng(SEED);
    const names = Object.keys(MUTATIONS).sort();
    const outcomes = { loaded: 0, refused: 0 };
    const codes = new Map<string, number>();
    let cases = 0;
    for (const s of seeds) {
      for (let n = casesFor(s.text); n > 0; n--) {
        let text = s.text;
        const applied: string[] = [];
        for (let k = 1 + Math.floor(r() * 2); k > 0; k--) {
          const m = pick(names, r);
          applied.push(m);
          text = MUTATIONS[m](text, r);
        }
        const file = path.join(dir, `case-${cases}.yaml`);
        cases++;
        await writeFile(file, text);
        const where = `${s.name} case ${cases} (${applied.join(' + ')})`;
        try {
          await (s.target ? loadTarget(file) : loadManifest(file));
          outcomes.loaded++;
        } catch (err) {
          if (!(err instanceof FerryError)) throw new Error(`${where}: not a FerryError: ${(err as Error)?.stack ?? String(err)}`);
          expect(err.message, where).toContain(file);
          expect(['VALIDATION', 'USAGE'], where).toContain(err.code);
          codes.set(err.code, (codes.get(err.code) ?? 0) + 1);
          outcomes.refused++;
        }
        await rm(file);
      }
    }
    expect(cases).toBe(seeds.reduce((sum, s) => sum + casesFor(s.text), 0));
    expect(cases).toBeGreaterThan(2000);
    expect(outcomes.refused).toBeGreaterThan(0);
    expect(outcomes.loaded).toBeGreaterThan(0);
    console.log(`manifest fuzz: ${cases} cases, ${outcomes.loaded} loaded, ${outcomes.refused} refused`);
  }, 300_000);
});
