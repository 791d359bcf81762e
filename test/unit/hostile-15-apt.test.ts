import { Readable } from 'node:stream';
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { computeClosure, CLOSURE_WORK_LIMIT, type AptPackage, type SourceInfo } from '../../src/kinds/apt/deps.js';
import { indexText } from '../../src/kinds/apt/repo.js';
import { aptPackageMoves } from '../../src/commands/lock-diff.js';

// Hostile pass 15: what the last hour's APT merges read from a crafted repository.

let n = 0;
const pkg = (name: string, version: string, f: { depends?: string; breaks?: string } = {}): AptPackage => ({
  source: 0,
  name,
  version,
  architecture: 'amd64',
  provides: [],
  dependsText: f.depends ?? '',
  ...(f.breaks ? { breaksText: f.breaks } : {}),
  filename: `pool/${name}_${++n}.deb`,
  sha256: n.toString(16).padStart(64, '0'),
  size: n,
});
const sources: SourceInfo[] = [{ whole: false, family: 'x', label: 'evil x' }];
const closure = (pkgs: AptPackage[], max?: number) => computeClosure(pkgs, sources, [{ source: 0, names: ['app'], architectures: ['amd64'] }], max);
const names = (s: Set<AptPackage> | undefined) => [...(s ?? [])].map((p) => `${p.name}=${p.version}`).sort();

describe('hostile 15: the APT closure is bounded in work', () => {
  const versions = (count: number) => Array.from({ length: count }, (_, i) => pkg('libx', `1.${i}`));
  const relation = (count: number, sep: string) => Array.from({ length: count }, (_, i) => `libx (<< 0.${i})`).join(sep);

  it('a Breaks naming a name with thousands of versions thousands of times is refused, named, not run for minutes', () => {
    const pkgs = [...versions(1500), pkg('app', '1', { breaks: relation(1500, ', ') })];
    expect(() => closure(pkgs, 1_000_000)).toThrow(/APT dependency closure: evil x: app 1 needs more than 1000000 steps/);
  });

  it('so is a Depends group of thousands of unsatisfiable alternatives over thousands of versions', () => {
    const pkgs = [...versions(1500), pkg('app', '1', { depends: relation(1500, ' | ') })];
    expect(() => closure(pkgs, 1_000_000)).toThrow(/needs more than 1000000 steps of version comparison/);
  });

  it('and versions kilobytes long count by their length', () => {
    const long = (i: number) => `1.${'0.'.repeat(50_000)}${i}`;
    const pkgs = [...Array.from({ length: 30 }, (_, i) => pkg('libx', long(i))), pkg('app', '1', { depends: `libx (>= ${long(0)})` })];
    expect(() => closure(pkgs, 1_000_000)).toThrow(/needs more than 1000000 steps/);
  });

  it('a Breaks cycle terminates, each side upgraded once; a real-sized closure is far inside the default bound', () => {
    const pkgs = [pkg('app', '1', { depends: 'liba' }), pkg('liba', '1'), pkg('liba', '2', { breaks: 'libb (<< 2)' }), pkg('libb', '1'), pkg('libb', '2', { breaks: 'liba (<< 3)' }), pkg('liba', '3', { depends: 'libb' })];
    const r = closure(pkgs);
    expect(names(r.selected.get(0))).toEqual(['app=1', 'liba=3', 'libb=2']);
    // 200 packages each depending on the next, with a few versions each: nowhere near the bound.
    const chain = [pkg('app', '1', { depends: 'p0' }), ...Array.from({ length: 200 }, (_, i) => [1, 2, 3].map((v) => pkg(`p${i}`, `${v}.0`, { depends: `p${i + 1} (>= 1), libc6 (>= 2.36)`, breaks: `p${i + 1} (<< 1)` }))).flat(), pkg('libc6', '2.36-9')];
    expect(closure(chain, CLOSURE_WORK_LIMIT / 1000).selected.get(0)?.size).toBe(202);
  });
});

describe('hostile 15: Packages.xz from a crafted repository', () => {
  const xz = (input: string | Buffer, args: string[] = []) => execFileSync('xz', ['-c', ...args], { input, maxBuffer: 1 << 28 });
  const read = async (bytes: Buffer, max?: number) => {
    const chunks: Buffer[] = [];
    for await (const c of indexText(Readable.from([bytes]), 'dists/x/main/binary-amd64/Packages.xz', max)) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString();
  };
  const a = 'Package: a\nVersion: 1\n\n';
  const b = 'Package: b\nVersion: 2\n\n';

  it('says why an xz stream cannot be read, in words, not the decoder error number', async () => {
    await expect(read(xz(a, ['--lzma2=dict=256MiB']))).rejects.toThrow(/Packages\.xz: not valid xz \(a dictionary larger than the 64 MiB the decoder allows\)/);
    await expect(read(xz(a, ['--check=sha256']))).rejects.toThrow(/not valid xz \(an integrity check or filter the decoder does not support/);
    await expect(read(Buffer.concat([xz(a), Buffer.from('garbage!')]))).rejects.toThrow(/not valid xz \(cut short, or followed by bytes that are not xz\)/);
    const long = xz(a.repeat(5000));
    await expect(read(long.subarray(0, long.length - 30))).rejects.toThrow(/not valid xz \(cut short/);
    // The decoder is one per process: after every refusal the next index still decodes.
    expect(await read(xz(b))).toBe(b);
  });

  it('reads concatenated streams and stream padding whole (as apt does), and a 64 MiB dictionary', async () => {
    expect(await read(Buffer.concat([xz(a), xz(b)]))).toBe(a + b);
    expect(await read(Buffer.concat([xz(a), Buffer.alloc(8), xz(b)]))).toBe(a + b);
    expect(await read(xz(a, ['--lzma2=dict=64MiB']))).toBe(a);
  });

  it('a reader that stops early leaves the decoder free for the next index', async () => {
    const big = xz(Buffer.alloc(8 << 20, 0x41));
    const it = indexText(Readable.from([big]), 'dists/x/main/binary-amd64/Packages.xz')[Symbol.asyncIterator]();
    await it.next();
    await it.return?.();
    expect(await read(xz(b))).toBe(b);
  });
});

describe('hostile 15: the lock change list of APT package moves', () => {
  it('100 000 moves are listed as 20 and a count', () => {
    const was = Array.from({ length: 100_000 }, (_, i) => ({ name: `p${i}`, version: '1' }));
    const is = Array.from({ length: 100_000 }, (_, i) => ({ name: `p${i}`, version: '2' }));
    const s = aptPackageMoves(was, is);
    expect(s.split(', ')).toHaveLength(20);
    expect(s).toMatch(/ and 99980 more$/);
  });
});
