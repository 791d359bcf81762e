import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { MAX_BYTES, referencesIn, scanFileText, scanPaths, tomlStrings, type FileType, type Reference, type Setting } from '../../src/audit/scan.js';
import { trimTrailing } from '../../src/ui/escape.js';
import { csvField } from '../../src/audit/inventory.js';
import { renderAuditMarkdown } from '../../src/audit/render-audit.js';
import { auditReferences } from '../../src/audit/audit.js';

/** One file's text scanned under the watchdog. */
function scanGuarded(file: string, type: FileType, text: string): { refs: Reference[]; settings: Setting[] } {
  const refs: Reference[] = [];
  const settings: Setting[] = [];
  guarded(() => scanFileText(file, type, text, refs, settings));
  return { refs, settings };
}

const tmp = () => mkdtemp(path.join(os.tmpdir(), 'ferry-h5-scan-'));

/** Run `f` under vm's watchdog: a pattern that backtracks is interrupted and fails the test instead of stalling the suite. */
function guarded<T>(f: () => T): T {
  return vm.runInNewContext('f()', { f }, { timeout: 20_000 }) as T;
}

describe('the scan walk on a crafted tree', () => {
  it('a YAML or JSON file denser than ferry parses is listed as not scanned (it would take gigabytes), the others are scanned', async () => {
    const dir = await tmp();
    await writeFile(path.join(dir, 'dense.json'), '[' + '1,'.repeat(1_100_000) + '1]\n');
    await writeFile(path.join(dir, 'values.yaml'), 'url: https://ok.example.com/\n');
    const before = process.memoryUsage().rss;
    const r = await scanPaths([dir]);
    expect(process.memoryUsage().rss - before).toBeLessThan(300 << 20);
    expect(r.skipped).toEqual([expect.objectContaining({ file: expect.stringMatching(/dense\.json$/), unscanned: true, reason: expect.stringMatching(/more than 1,000,000 YAML tokens/) })]);
    expect(r.references.map((x) => x.value)).toContain('https://ok.example.com/');
  });

  it('a FIFO in the tree is reported, never opened (opening it would wait for a writer forever)', async () => {
    const dir = await tmp();
    await writeFile(path.join(dir, 'values.yaml'), 'url: https://ok.example.com/\n');
    execFileSync('mkfifo', [path.join(dir, 'pipe.yaml')]);
    const r = await scanPaths([dir], dir);
    expect(r.files.map((f) => f.file)).toEqual(['values.yaml']);
    expect(r.skipped).toEqual([{ file: 'pipe.yaml', reason: 'a FIFO, not read', unscanned: false }]);
  });

  it('a link to a FIFO named on the command line is refused without waiting', async () => {
    const dir = await tmp();
    execFileSync('mkfifo', [path.join(dir, 'pipe')]);
    await symlink(path.join(dir, 'pipe'), path.join(dir, 'x.yaml'));
    const r = await scanPaths(['x.yaml'], dir);
    expect(r.files).toEqual([]);
    expect(r.skipped.map((s) => s.reason)).toEqual(['a FIFO, not read']);
  });

  it('directory links that loop are not followed (two links to "." used to walk 2^n paths)', async () => {
    const dir = await tmp();
    await writeFile(path.join(dir, 'a.env'), 'URL=https://x.example.com\n');
    await symlink('.', path.join(dir, 'loop1'));
    await symlink('.', path.join(dir, 'loop2'));
    await symlink('nowhere', path.join(dir, 'dangling.yaml'));
    await symlink('self.yaml', path.join(dir, 'self.yaml'));
    const r = await scanPaths([dir], dir);
    expect(r.files.map((f) => f.file)).toEqual(['a.env']);
    expect(r.skipped.map((s) => [s.file, s.unscanned])).toEqual([
      ['dangling.yaml', false],
      ['self.yaml', false],
    ]);
  });

  it('a link out of the scanned paths is not followed, and is reported as unaudited; a link inside is its target', async () => {
    const dir = await tmp();
    const outside = await tmp();
    await writeFile(path.join(outside, 'secret.env'), 'TOKEN=hunter2 https://secret.example.com\n');
    await mkdir(path.join(dir, 'deploy'));
    await writeFile(path.join(dir, 'deploy', 'values.yaml'), 'x: https://in.example.com\n');
    await symlink(path.join(outside, 'secret.env'), path.join(dir, 'deploy', 'leak.env'));
    await symlink('values.yaml', path.join(dir, 'deploy', 'same.yaml'));
    const r = await scanPaths(['deploy'], dir);
    expect(r.files.map((f) => f.file)).toEqual(['deploy/values.yaml']);
    expect(r.settings.some((s) => s.value.includes('hunter2'))).toBe(false);
    expect(r.skipped).toHaveLength(1);
    expect(r.skipped[0]).toMatchObject({ file: 'deploy/leak.env', unscanned: true });
    expect(r.skipped[0].reason).toContain('out of the scanned paths');
    // Named on the command line, it is followed: the user asked for it.
    const named = await scanPaths(['deploy/leak.env'], dir);
    expect(named.files.map((f) => f.file)).toEqual(['deploy/leak.env']);
  });

  it('a file over the bound is reported (not silently dropped) and fails --fail-on; a binary file is reported as not scanned', async () => {
    const dir = await tmp();
    await writeFile(path.join(dir, 'big.yaml'), `url: https://hidden.example.com\n${'#'.repeat(MAX_BYTES)}\n`);
    await writeFile(path.join(dir, 'blob.bin'), Buffer.from([1, 0, 2]));
    const scan = await scanPaths([dir], dir);
    expect(scan.files).toEqual([]);
    expect(scan.skipped.map((s) => [s.file, s.unscanned])).toEqual([
      ['big.yaml', true],
      ['blob.bin', false],
    ]);
    expect(scan.skipped[0].reason).toMatch(/larger than the 5 MiB a scanned file may have/);
    const model = { name: 'm', zones: [], connections: [], endpoints: [], mirrored: [], entries: {}, artifacts: { images: [], charts: [], files: [], apt: [] } };
    const report = auditReferences(model, undefined, scan, { manifestFile: 'm.yaml', failOn: 'unmapped', kinds: [] });
    expect(report.summary.unscannedFiles).toBe(1);
    expect(report.failed).toBe(true);
    expect(renderAuditMarkdown(report)).toContain('| big.yaml |');
  });

  it('a tree of more paths than a scan reads stops at the bound, names where, and fails --fail-on (names are not all held)', async () => {
    const dir = await tmp();
    for (const sub of ['a', 'b', 'c']) {
      await mkdir(path.join(dir, sub));
      for (let i = 0; i < 5; i++) await writeFile(path.join(dir, sub, `f${i}.yaml`), `url: https://${sub}${i}.example.com/\n`);
    }
    // 1 root + 3 directories + 15 files = 19 paths; a bound of 12 reads a/ and stops in b/ (a
    // directory read only in part is not scanned: which part would depend on the disk's order).
    const scan = await scanPaths([dir], dir, { maxPaths: 12 });
    expect(scan.files.map((f) => f.file)).toEqual(['a/f0.yaml', 'a/f1.yaml', 'a/f2.yaml', 'a/f3.yaml', 'a/f4.yaml']);
    expect(scan.skipped).toEqual([{ file: 'b', reason: 'not all of it scanned: a scan reads at most 12 paths (audit fewer files at once)', unscanned: true }]);
    const model = { name: 'm', zones: [], connections: [], endpoints: [], mirrored: [], entries: {}, artifacts: { images: [], charts: [], files: [], apt: [] } };
    const report = auditReferences(model, undefined, scan, { manifestFile: 'm.yaml', failOn: 'unmapped', kinds: [] });
    expect(report.failed).toBe(true);
    // Under the bound nothing is left out.
    const all = await scanPaths([dir], dir, { maxPaths: 19 });
    expect(all.files).toHaveLength(15);
    expect(all.skipped).toEqual([]);
  });

  it('a file that says it is empty but streams is read only up to the bound (/proc)', async () => {
    // /proc/self/maps reports size 0; it is read to its end, never trusted by its size.
    const r = await scanPaths(['/proc/self/maps'], '/');
    expect(r.files).toHaveLength(1);
    expect(r.files[0].text?.length).toBeGreaterThan(0);
  });
});

describe('patterns in the scan run in linear time on crafted lines', () => {
  it('a TOML header of spaces without its bracket (the lazy header pattern was cubic: 4 000 spaces took ~16 s)', async () => {
    const r = scanGuarded('a.toml', 'toml', `[${' '.repeat(200_000)}\nimage = "r.example.com/a/b:1"\n[[ servers ]]\nurl = "https://s.example.com"\n`);
    expect(r.refs.map((x) => x.value)).toEqual(['r.example.com/a/b:1', 'https://s.example.com']);
    expect(r.settings.map((x) => x.key)).toEqual(['image', 'servers.url']);
  });

  it('a dotted TOML key without "=" and an unterminated string of escaped quotes (both quadratic)', async () => {
    const r = scanGuarded('b.toml', 'toml', `${'a.'.repeat(200_000)}!\nx = "${'\\"'.repeat(200_000)}\n[t]\nurl = "https://u.example.com"\n"a".b = 'c'\n`);
    expect(r.settings.find((s) => s.key === 't.url')?.value).toBe('https://u.example.com');
    expect(r.settings.find((s) => s.key === 't.a.b')?.value).toBe('c');
    expect(guarded(() => tomlStrings(`"${'\\"'.repeat(200_000)}`))).toEqual([]);
    expect(tomlStrings(`["a", 'b', "c\\"d"]`)).toEqual(['a', 'b', 'c\\"d']);
  });

  it('a value with a long run of blanks before its end (the comment strip `\\s+#.*$` was quadratic)', async () => {
    const r = scanGuarded('.env', 'env', `A=x${' '.repeat(300_000)}y\nB=https://b.example.com   # comment\n`);
    expect(r.settings.find((s) => s.key === 'B')?.value).toBe('https://b.example.com');
  });

  it('a URL ending in a long run of dots (the trailing-punctuation strip was quadratic)', () => {
    const refs = guarded(() => referencesIn(`https://x.example.com/${'.'.repeat(300_000)}`, false));
    expect(refs[0]).toEqual({ kind: 'url', value: 'https://x.example.com/' });
    expect(trimTrailing('a.,;:', '.,;:')).toBe('a');
  });

  it('host, image and IP patterns stay linear on crafted tokens', () => {
    const crafted = ['a.'.repeat(150_000), 'a.io/' + 'a/'.repeat(150_000) + ':', 'a.io/a' + ':a'.repeat(150_000), '1.'.repeat(150_000), 'a.a/a,'.repeat(50_000)];
    for (const s of crafted) for (const ctx of [false, true, 'container'] as const) guarded(() => referencesIn(s, ctx));
  });
});

describe('what reaches a CSV from scanned files', () => {
  it('a cell a spreadsheet would run as a formula is written as text', () => {
    expect(csvField("=cmd|' /C calc'!A0")).toBe("'=cmd|' /C calc'!A0");
    expect(csvField('+1')).toBe("'+1");
    expect(csvField('@SUM(A1)')).toBe("'@SUM(A1)");
    expect(csvField('-2+3')).toBe("'-2+3");
    expect(csvField('=HYPERLINK("http://x","y")')).toBe(`"'=HYPERLINK(""http://x"",""y"")"`);
    expect(csvField('docker.io/a:1')).toBe('docker.io/a:1');
  });
});

describe('what reaches the HTML report and the terminal from scanned files', () => {
  it('markup and control characters in values, keys and file names are text in the report, never elements', async () => {
    const { renderReportHtml } = await import('../../src/audit/render-html.js');
    const { buildInventory } = await import('../../src/audit/inventory.js');
    const { buildConnectionModel } = await import('../../src/audit/model.js');
    const { validateManifest } = await import('../../src/kinds/schema.js');
    const dir = await tmp();
    const evil = '<img src=x onerror=alert(1)>';
    await writeFile(path.join(dir, `${evil}\u001b]0;pwned\u0007.yaml`), `"</style><script>alert(2)</script>": "https://x.example.com/<svg/onload=alert(3)>"\nimage: "r.example.com/a/b:1\u001b[2J"\n`);
    execFileSync('mkfifo', [path.join(dir, '<u>pipe')]);
    const scan = await scanPaths([dir], dir);
    const loaded = { manifest: validateManifest({ apiVersion: 'ferry/v1alpha1', kind: 'Manifest', metadata: { name: 'w' } }, 'inline'), file: 'w.yaml', dir: '.', digest: 'sha256:x' };
    const model = buildConnectionModel(loaded);
    const audit = auditReferences(model, undefined, scan, { manifestFile: 'w.yaml', kinds: [] });
    expect(audit.findings.length).toBeGreaterThan(0);
    const html = renderReportHtml({ generator: 'ferry test', manifestFile: 'w.yaml', inventory: buildInventory(model), audit, auditPaths: [dir], warnings: [] });
    expect(html).not.toMatch(/<img|<script|<svg|<u>|\u001b|\u0007/);
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(html).toContain('&lt;u&gt;pipe');
    const md = renderAuditMarkdown(audit);
    const { escapeControls } = await import('../../src/ui/escape.js');
    expect(escapeControls(md)).not.toMatch(/[\u0000-\u0008\u000b-\u001f]/);
  });
});
