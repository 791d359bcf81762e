import { Readable } from 'node:stream';
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { indexText } from '../../src/kinds/apt/repo.js';

// Hostile pass 15: xz-decompress runs one decoder at a time behind its own lock, which a stream
// cancelled while waiting releases under the running one. Its own file: the first decode of the
// process (the WebAssembly module still loading) is the case that broke.

describe('hostile 15: Packages.xz decoders take turns', () => {
  const xz = (input: string | Buffer) => execFileSync('xz', ['-c'], { input, maxBuffer: 1 << 28 });
  const a = 'Package: a\nVersion: 1\n\n';
  const b = 'Package: b\nVersion: 2\n\n';

  it('an index abandoned while another decodes neither breaks that one nor blocks the next', async () => {
    const open = (bytes: Buffer) => indexText(Readable.from([bytes]), 'dists/x/main/binary-amd64/Packages.xz');
    const all = async (s: Readable) => {
      const chunks: Buffer[] = [];
      for await (const c of s) chunks.push(c as Buffer);
      return Buffer.concat(chunks).toString();
    };
    const many = a.repeat(100_000);
    const first = open(xz(many));
    const waiting = open(xz(b));
    const it = first[Symbol.asyncIterator]();
    const head = await it.next();
    await new Promise((r) => setTimeout(r, 50));
    // Destroyed before its turn: the package's own lock was released by this, under the first.
    waiting.destroy();
    await new Promise((r) => setTimeout(r, 50));
    let text = (head.value as Buffer).toString();
    for (let r = await it.next(); !r.done; r = await it.next()) text += (r.value as Buffer).toString();
    expect(text).toBe(many);
    expect(await all(open(xz(b)))).toBe(b);
    expect(await all(open(xz(a)))).toBe(a);
  });

});
