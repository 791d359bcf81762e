import { Writable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createProgress, frameLines, type PhaseState } from '../../../src/ui/progress.js';

/** A stream that records what was written; `isTTY` and `columns` as a terminal would have them. */
class FakeStream extends Writable {
  chunks: string[] = [];
  isTTY: boolean;
  columns = 100;
  constructor(tty: boolean) {
    super();
    this.isTTY = tty;
  }
  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: () => void) {
    this.chunks.push(String(chunk));
    cb();
  }
  override write(chunk: unknown): boolean {
    this.chunks.push(String(chunk));
    return true;
  }
  get text() {
    return this.chunks.join('');
  }
}

/** Replays a TTY byte stream onto a screen of lines: \r, \n, CSI n A (up) and CSI J (clear below). */
function screen(text: string): string[] {
  const lines: string[] = [''];
  let row = 0;
  let col = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\x1b') {
      const m = /^\x1b\[(\d*)([AJK])/.exec(text.slice(i));
      if (!m) throw new Error(`unexpected escape at ${i}: ${JSON.stringify(text.slice(i, i + 8))}`);
      if (m[2] === 'A') row = Math.max(0, row - Number(m[1] || 1));
      if (m[2] === 'J') {
        lines[row] = lines[row].slice(0, col);
        lines.length = row + 1;
      }
      i += m[0].length - 1;
    } else if (c === '\r') col = 0;
    else if (c === '\n') {
      row++;
      col = 0;
      if (lines.length <= row) lines.push('');
    } else {
      const l = lines[row];
      lines[row] = l.slice(0, col) + c + l.slice(col + 1);
      col++;
    }
  }
  return lines;
}

describe('progress without a terminal', () => {
  afterEach(() => vi.restoreAllMocks());

  it('prints a line per item for the first twenty, then summaries, then a final count', () => {
    const lines: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    const p = createProgress({ tty: false });
    for (let i = 0; i < 500; i++) {
      const t = p.start(`pkg-${i}.deb`, 1000);
      t.advance(1000);
      t.finish('fetched');
    }
    p.done();
    expect(lines.filter((l) => l.endsWith(': fetched\n'))).toHaveLength(20);
    expect(lines.length).toBeLessThan(30);
    expect(lines.at(-1)).toBe('500/500 done, 500.0 KB\n');
  });

  it('names every failure, even past the first twenty lines (a CI log must say which artifact failed)', () => {
    const stream = new FakeStream(false);
    const p = createProgress({ stream, tty: false });
    const phase = p.phase('lock', { items: 60 });
    for (let i = 0; i < 60; i++) {
      const t = phase.item(`registry.example/app-${i}:1.0`);
      if (i === 45) t.fail('manifest unknown');
      else t.finish('sha256:' + String(i).padStart(64, '0'));
    }
    phase.end();
    p.done();
    expect(stream.text).toContain('registry.example/app-45:1.0: failed: manifest unknown\n');
    expect(stream.text).not.toContain('app-30:1.0');
    expect(stream.text.trimEnd().split('\n').at(-1)).toBe('lock: 60/60 done (1 failed)');
  });

  it('counts against totals known up front: never more done than the total, in items or bytes', () => {
    const out = new FakeStream(false);
    let t = 0;
    const p = createProgress({ stream: out, now: () => (t += 11_000) });
    const phase = p.phase('fetch', { items: 25, bytes: 25 * 1000 });
    for (let i = 0; i < 25; i++) {
      const task = p.start(`registry.example/app-${i}:1.0`, 1000);
      // A blob larger than declared (unknown sizes happen), shared layers reported by nobody.
      task.advance(i % 5 === 0 ? 1500 : i % 3 === 0 ? 0 : 1000);
      task.finish('fetched');
    }
    phase.end();
    const summaries = out.chunks.filter((l) => l.startsWith('… '));
    expect(summaries.length).toBeGreaterThan(0);
    for (const s of summaries) {
      const m = /… fetch: (\d+)\/(\d+) done, ([\d.]+) (\w+) of ([\d.]+) (\w+)/.exec(s);
      expect(m, s).not.toBeNull();
      expect(Number(m![1])).toBeLessThanOrEqual(Number(m![2]));
      expect(Number(m![2])).toBe(25);
      const bytes = (v: string, u: string) => Number(v) * { B: 1, KB: 1e3, MB: 1e6 }[u as 'B']!;
      expect(bytes(m![3], m![4])).toBeLessThanOrEqual(bytes(m![5], m![6]));
    }
    // The last line: every item, and the bytes total grown by what ran over (5 × 500 B).
    expect(out.chunks.at(-1)).toBe('fetch: 25/25 done, 27.5 KB\n');
  });

  it('grows the item count explicitly instead of running past it', () => {
    const out = new FakeStream(false);
    const p = createProgress({ stream: out, now: () => 0 });
    const phase = p.phase('resolve', { items: 2 });
    p.start('a', 0).finish('resolved');
    p.start('b', 0).finish('resolved');
    phase.grow(1);
    p.start('c', 0).finish('resolved');
    // Undeclared extra work still never shows more done than total.
    p.start('d', 0).finish('resolved');
    p.done();
    expect(out.text).toBe('a: resolved\nb: resolved\nc: resolved\nd: resolved\n');
  });

  it('escapes control characters in names and messages from outside', () => {
    const out = new FakeStream(false);
    const p = createProgress({ stream: out });
    p.start('evil\x1b[2J:1.0', 0).fail('registry said \x07\nboo');
    p.log('retrying \x1b]0;title\x07');
    p.done();
    expect(out.text).not.toMatch(/[\x00-\x09\x0b-\x1f]/);
    expect(out.text).toContain('evil\\x1b[2J:1.0: failed: registry said \\x07\\nboo\n');
  });

  it('--quiet prints nothing, --json no progress (log lines only)', () => {
    const quiet = new FakeStream(false);
    const q = createProgress({ stream: quiet, quiet: true });
    q.phase('fetch', { items: 1 }).item('a', 1).finish('fetched');
    q.log('note');
    q.done();
    expect(quiet.text).toBe('');
    const json = new FakeStream(true);
    const j = createProgress({ stream: json, json: true, tty: true });
    j.phase('fetch', { items: 1 });
    j.start('a', 10).advance(10);
    j.log('warning: x');
    j.done();
    expect(json.text).toBe('warning: x\n');
  });
});

describe('progress on a terminal', () => {
  it('draws one bar per active artifact with bytes, rate and ETA, and a total line, in place', () => {
    const out = new FakeStream(true);
    let t = 1_000_000;
    const p = createProgress({ stream: out, tty: true, now: () => t });
    p.phase('fetch', { items: 3, bytes: 3_000_000 });
    const alpine = p.start('docker.io/library/alpine:3.20', 1_000_000);
    const nginx = p.start('docker.io/library/nginx:1.27', 2_000_000);
    t += 2000;
    alpine.advance(500_000);
    t += 200;
    nginx.advance(400_000);
    let view = screen(out.text);
    expect(view).toHaveLength(3);
    expect(view[0]).toMatch(/^ {2}docker\.io\/library\/alpine:3\.20 +\[#{5}\.{5}\] 500\.0 KB\/1\.0 MB {2}227\.3 KB\/s {2}ETA 2s$/);
    expect(view[1]).toMatch(/docker\.io\/library\/nginx:1\.27 .*400\.0 KB\/2\.0 MB .*KB\/s {2}ETA \d+s/);
    expect(view[2]).toMatch(/^fetch: 0\/3 done {2}\[#{3}\.{7}\] 900\.0 KB\/3\.0 MB {2}409\.1 KB\/s {2}ETA 5s$/);

    // A log line goes above the bars; a finished artifact leaves the bars.
    t += 200;
    p.log('retrying docker.io/library/nginx:1.27 layer');
    alpine.advance(500_000);
    alpine.finish('fetched');
    t += 200;
    nginx.advance(1);
    view = screen(out.text);
    expect(view[0]).toBe('retrying docker.io/library/nginx:1.27 layer');
    expect(view.slice(1).join('\n')).not.toContain('alpine');
    expect(view.at(-1)).toMatch(/^fetch: 1\/3 done .* 1\.4 MB\/3\.0 MB/);

    // Done: the bars go, one summary line stays.
    nginx.finish();
    p.start('chart podinfo 6.5.0', 0).finish();
    t += 200;
    p.done();
    view = screen(out.text);
    expect(view.filter(Boolean)).toEqual(['retrying docker.io/library/nginx:1.27 layer', 'fetch: 3/3 done, 3.0 MB in 3s']);
    for (const c of out.chunks) expect(c).not.toMatch(/sha256|\x1b\[0A/);
  });

  it('an artifact of unknown size shows its bytes without a bar that would claim to be full', () => {
    const out = new FakeStream(true);
    let t = 0;
    const p = createProgress({ stream: out, tty: true, now: () => t });
    p.phase('pack', { items: 1 });
    const task = p.start('app.ferry.tar', 0);
    t += 1000;
    task.advance(5_000_000);
    const view = screen(out.text);
    expect(view).toEqual(['  app.ferry.tar  5.0 MB  5.0 MB/s', 'pack: 0/1 done  5.0 MB  5.0 MB/s']);
    task.finish('packed');
    p.done();
    expect(screen(out.text).filter(Boolean)).toEqual(['pack: 1/1 done, 5.0 MB in 1s']);
  });

  it('a phase ended twice (or ended by the next one) says so once; late work is not drawn', () => {
    const out = new FakeStream(true);
    const p = createProgress({ stream: out, tty: true, now: () => 0 });
    const resolve = p.phase('resolve', { items: 1 });
    p.start('a', 0).finish();
    p.phase('fetch', { items: 0 });
    resolve.end();
    resolve.grow(5);
    resolve.item('late', 10).advance(10);
    p.done();
    expect(screen(out.text).filter(Boolean)).toEqual(['resolve: 1/1 done in 0s', 'fetch: 0/0 done in 0s']);
  });

  it('shows at most eight bars and says how many more are running; lines fit the width', () => {
    const p: PhaseState = {
      name: 'fetch',
      items: 12,
      itemsDone: 0,
      failed: 0,
      bytes: 0,
      bytesDone: 0,
      bytesCached: 0,
      startedAt: 0,
      declared: true,
      bytesSized: false,
      active: Array.from({ length: 11 }, (_, i) => ({ name: `registry.example.com/a/very/long/repository/path/number-${i}:1.0`, total: 0, done: 0, cached: 0, status: 'resolving', startedAt: 0, sized: false })),
    };
    const lines = frameLines(p, 1000, 60);
    expect(lines).toHaveLength(9);
    expect(lines.at(-1)).toContain('(+3 more)');
    for (const l of lines) expect(l.length).toBeLessThan(60);
    expect(lines[0]).toMatch(/^ {2}…[^ ]*-0:1\.0 {2}resolving$/);
  });
});
