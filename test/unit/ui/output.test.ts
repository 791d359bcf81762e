import { afterEach, describe, expect, it } from 'vitest';
import { ellipsize, table } from '../../../src/ui/output.js';

const rows = [
  ['image', 'registry.k8s.io/ingress-nginx/controller:v1.11.2@sha256:d5f8217feeac4887cb1ed21f27c2674e58be06bd8f5184cacea2a69abaf78dce', 'mirror.site.example:5000/ferry/registry.k8s.io/ingress-nginx/controller:v1.11.2'],
  ['file', 'https://cloud-images.ubuntu.com/noble/current/noble-server-cloudimg-amd64.img', 'https://files.site.example/mirror/cloud-images.ubuntu.com/noble/current/noble-server-cloudimg-amd64.img'],
  ['apt', 'http://deb.debian.org/debian', 'https://apt.site.example/debian-mirror/deb.debian.org/debian'],
];
const headers = ['KIND', 'UPSTREAM', 'MIRROR'];
const stdout = process.stdout as NodeJS.WriteStream & { isTTY?: boolean; columns: number };
const saved = { isTTY: stdout.isTTY, columns: stdout.columns };

afterEach(() => {
  stdout.isTTY = saved.isTTY;
  stdout.columns = saved.columns;
});

describe('table', () => {
  it('fits an 80-column terminal: the widest columns give way, shortened with an ellipsis in the middle', () => {
    stdout.isTTY = true;
    stdout.columns = 80;
    const lines = table(headers, rows).split('\n');
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(80);
    // The narrow column is untouched; long references keep their start and their end.
    expect(lines[2].startsWith('image  ')).toBe(true);
    expect(lines[2]).toMatch(/^image  registry\.k8s\.io\S*…\S*abaf78dce  /);
    expect(lines.filter((l) => l.includes('…')).length).toBeGreaterThan(0);
    // Short cells stay whole.
    expect(lines[4]).toContain('http://deb.debian.org/debian');
  });

  it('off a TTY keeps every character (scripts and diffs see it all)', () => {
    stdout.isTTY = false;
    stdout.columns = 80;
    const text = table(headers, rows);
    expect(text).not.toContain('…');
    for (const r of rows) for (const c of r) expect(text).toContain(c);
    expect(Math.max(...text.split('\n').map((l) => l.length))).toBeGreaterThan(200);
  });

  it('an explicit width wins; a column never shrinks below its header or 10 characters', () => {
    const lines = table(headers, rows, { width: 20 }).split('\n');
    expect(lines[0]).toBe('KIND   UPSTREAM    MIRROR');
    expect(lines[2]).toMatch(/^image  \S{10}  \S{10}$/);
  });

  it('a table that fits is unchanged', () => {
    expect(table(['A', 'B'], [['x', 'y']], { width: 80 })).toBe('A  B\n-  -\nx  y');
  });
});

describe('ellipsize', () => {
  it('keeps both ends', () => {
    expect(ellipsize('abcdefghij', 5)).toBe('ab…ij');
    expect(ellipsize('abc', 5)).toBe('abc');
    expect(ellipsize('abcdef', 1)).toBe('…');
  });
});
