import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FERRY, runCommand } from '../support/cli.js';

/**
 * Manifest bombs through the built CLI as a user would run it (`ferry lock <bomb.yaml>`): each is
 * refused with a VALIDATION message (exit 2) before it costs memory, measured with
 * /usr/bin/time -v. The case names say what each bomb was before the limits: an unresolved or
 * recursive alias came out as "unexpected error" or a stack overflow, eight list vars of 20
 * values expanded to 20^8 entries (1.5 GB and more).
 */
const MAX_RSS_KB = 256 * 1024;
const HEAD = 'apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: {name: bomb}\n';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-hostile-'));
});
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

const BOMBS: Record<string, { text: () => string; message: RegExp }> = {
  'alias bomb (10 levels of 10 aliases)': {
    text: () => {
      const lines = [HEAD + 'l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
      for (let i = 1; i < 10; i++) lines.push(`l${i}: &l${i} [${Array(10).fill(`*l${i - 1}`).join(',')}]`);
      return lines.join('\n') + '\nimages: *l9\n';
    },
    message: /expands to more than \d+ nodes through aliases \(line \d+:\d+\)/,
  },
  'recursive alias': { text: () => `${HEAD}images: &a [{ref: *a}]\n`, message: /line 4:\d+: alias \*a points into its own anchor/ },
  'alias with no anchor': { text: () => `${HEAD}images: [*nowhere]\n`, message: /line 4:10: alias \*nowhere names no anchor/ },
  'vars bomb (8 list vars of 20 values in one field)': {
    text: () => {
      const vars = Array.from({ length: 8 }, (_, i) => `  v${i}: [${Array.from({ length: 20 }, (_, j) => `r${j}`).join(', ')}]`).join('\n');
      return `${HEAD}vars:\n${vars}\nimages:\n  - ref: "registry.example/${Array.from({ length: 8 }, (_, i) => `<v${i}>`).join('-')}:1"\n`;
    },
    message: /images\[0\]: vars expand this entry to 25600000000 entries, more than the limit of 1000/,
  },
  'long var repeated in a field': {
    text: () => `${HEAD}vars:\n  big: "${'y'.repeat(400_000)}"\nfiles:\n  - url: "https://x.example/${'<big>'.repeat(1000)}"\n`,
    message: /characters in all, more than the limit/,
  },
  'deep nesting (deeper than the parser stack)': {
    text: () => `${HEAD}x: ${'['.repeat(9_000)}${']'.repeat(9_000)}\n`,
    message: /not valid YAML[^]*line 4:\d+: Maximum call stack size exceeded/,
  },
  'deep nesting past the token cap': { text: () => `${HEAD}x: ${'['.repeat(100_000)}${']'.repeat(100_000)}\n`, message: /more than 20000 YAML tokens/ },
  'dense list just under the token cap': {
    text: () => `${HEAD}x: [${Array(19_900).fill('1').join(',')}]\n`,
    message: /unknown field "x"|problem/,
  },
  'file over the size cap': { text: () => `${HEAD}# ${'x'.repeat(20 * 1024 * 1024)}\n`, message: /manifest is larger than the 512 KiB ferry reads/ },
};

describe('ferry lock on manifest bombs', () => {
  for (const [name, bomb] of Object.entries(BOMBS)) {
    it(`${name}: exit 2, a VALIDATION message naming the file, bounded memory`, async () => {
      const file = path.join(work, `${name.replace(/\W+/g, '-')}.yaml`);
      await writeFile(file, bomb.text());
      const r = await runCommand('/usr/bin/time', ['-v', process.execPath, FERRY, 'lock', file], { timeoutMs: 60_000 });
      const rss = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr)?.[1]);
      console.log(`${name}: exit ${r.code}, peak RSS ${Math.round(rss / 1024)} MB`);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain(`error: ${file}`);
      expect(r.stderr).toMatch(bomb.message);
      expect(r.stderr).not.toMatch(/unexpected error|at .*\.(m?js|ts):\d+/);
      expect(rss).toBeGreaterThan(0);
      expect(rss).toBeLessThanOrEqual(MAX_RSS_KB);
    });
  }
});
