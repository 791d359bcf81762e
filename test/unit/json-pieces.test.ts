import { afterEach, describe, expect, it, vi } from 'vitest';
import { printResult, writeJson } from '../../src/ui/output.js';

const pieces = (v: unknown, batch?: number): string[] => {
  const out: string[] = [];
  writeJson(v, (t) => out.push(t), batch);
  return out;
};
import { escapeJson } from '../../src/ui/escape.js';

/** A small seeded generator (mulberry32): the same cases every run. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const STRINGS = ['', 'a', 'line\nbreak', 'quote " and \\ backslash', 'tab\there', '\u0000\u001b[31m', '\u2028\u2029', 'é…✓', '\u009b', '\ud83d\ude00', '  leading', 'trailing  '];

function randomValue(r: () => number, depth: number): unknown {
  const pick = r();
  if (depth > 6 || pick < 0.35) {
    const leaves: unknown[] = [null, true, false, 0, -0, 1.5, -42, 1e21, NaN, Infinity, undefined, () => 1, Symbol('s'), new Date(Math.floor(r() * 2e12)), STRINGS[Math.floor(r() * STRINGS.length)]];
    return leaves[Math.floor(r() * leaves.length)];
  }
  // Sometimes large (past the walking depth, so such containers are walked too), of leaves.
  const large = depth >= 2 && r() < 0.1;
  const n = large ? 256 + Math.floor(r() * 40) : Math.floor(r() * 6);
  const child = () => randomValue(r, large ? 99 : depth + 1);
  if (pick < 0.65) return Array.from({ length: n }, child);
  const o: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) o[r() < 0.2 ? STRINGS[Math.floor(r() * STRINGS.length)] : `k${Math.floor(r() * 120)}`] = child();
  if (r() < 0.05) return { toJSON: (key: string) => ({ wrapped: key, inner: o }) };
  return o;
}

describe('JSON output in pieces', () => {
  it('is exactly JSON.stringify(value, null, 2) on 3 000 random values (nesting, toJSON, skipped keys, sparse arrays, odd strings)', () => {
    const r = rng(1234);
    for (let i = 0; i < 3000; i++) {
      const v = randomValue(r, 0);
      expect(pieces(v, 1 + (i % 50)).join(''), `case ${i}`).toBe(JSON.stringify(v, null, 2) ?? 'null');
    }
    // eslint-disable-next-line no-sparse-arrays
    const sparse = [1, , 3];
    expect(pieces({ a: { b: { c: { d: sparse, e: [], f: {} } } } }).join('')).toBe(JSON.stringify({ a: { b: { c: { d: sparse, e: [], f: {} } } } }, null, 2));
  });

  describe('printResult --json', () => {
    afterEach(() => vi.restoreAllMocks());

    it('writes a large report in bounded pieces, with the same text as before (escaped, one final newline)', () => {
      const findings = Array.from({ length: 40_000 }, (_, i) => ({ file: `charts/app${i}/values.yaml`, line: i, value: `registry.example.com/team/app${i}:1.${i}\u009b`, note: 'x'.repeat(100) }));
      const data = { summary: { total: findings.length }, findings };
      const writes: string[] = [];
      vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
        writes.push(String(chunk));
        return true;
      });
      printResult(data, { json: true }, () => '');
      vi.restoreAllMocks();
      const text = writes.join('');
      expect(text).toBe(escapeJson(JSON.stringify(data, null, 2)) + '\n');
      expect(text.length).toBeGreaterThan(8 << 20);
      // No write (and so no string built for one) much over the 1 MiB batch.
      expect(Math.max(...writes.map((w) => w.length))).toBeLessThan((1 << 20) + (64 << 10));
    });
  });
});
