import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, runCommand, runFerry } from '../support/cli.js';
import { startStaticServer, type StaticServer } from '../support/static-http.js';

/**
 * `ferry report` renders one self-contained HTML page; Debian's chromium (headless) loads it
 * as a person's browser would: the DOM it builds has every section and the zone diagram, a
 * screenshot is written under test-results/, and nothing from a hostile manifest becomes markup.
 */
const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
const RESULTS = path.join(ROOT, 'test-results');
const SEEDS = ['ccx', 'spinifex', 'spire', 'metal-stack', 'safespring'];

let work: string;
let server: StaticServer;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-report-e2e-'));
  await mkdir(RESULTS, { recursive: true });
  await mkdir(path.join(work, 'srv'), { recursive: true });
  await writeFile(path.join(work, 'srv', 'tool.bin'), 'a carried tool\n');
  server = await startStaticServer(path.join(work, 'srv'));
});

afterAll(async () => {
  await server?.close();
  if (work && !process.env.FERRY_TEST_KEEP) await rm(work, { recursive: true, force: true });
});

/** Headless chromium with no network services of its own; returns what it printed. */
async function chromium(args: string[]): Promise<string> {
  if (!CHROMIUM) throw new Error('chromium is not installed: run `bash scripts/install-test-deps.sh` (apt-get install chromium)');
  const profile = await mkdtemp(path.join(work, 'chromium-'));
  const r = await runCommand(
    CHROMIUM,
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-dev-shm-usage',
      `--user-data-dir=${profile}`,
      ...args,
    ],
    { cwd: work, timeoutMs: 120_000 },
  );
  if (r.code !== 0) throw new Error(`chromium ${args.join(' ')} exited ${r.code}:\n${r.stderr.slice(-2000)}`);
  return r.stdout;
}

/** Markup only: the tags (escaped text has no `<`) and the contents of <style> elements. */
function markup(html: string): { tags: string[]; styles: string[] } {
  return { tags: html.match(/<[a-z][^>]*>/gi) ?? [], styles: [...html.matchAll(/<style[^>]*>([\s\S]*?)<\/style>/gi)].map((m) => m[1]) };
}

/** Anything the page would load: src/href/action/… naming a scheme or //, and url(…)/@import in styles. */
function externalLoads(html: string): string[] {
  const { tags, styles } = markup(html);
  const found: string[] = [];
  for (const t of tags) for (const m of t.matchAll(/\s(?:src|href|xlink:href|action|srcset|poster|data|style)\s*=\s*["']?\s*([^"'\s>]*)/gi)) if (/^(?:[a-z][a-z0-9+.-]*:|\/\/)|url\(/i.test(m[1]) && !m[1].startsWith('#')) found.push(m[1]);
  for (const css of styles) for (const m of css.matchAll(/url\(|@import/gi)) found.push(m[0]);
  return found;
}

const HOSTILE = [
  'apiVersion: ferry/v1alpha1',
  'kind: Manifest',
  'metadata: { name: hostile, description: "<script>alert(1)</script> \\u001b[31mred" }',
  'files:',
  '  - name: tool',
  '    url: <srv>/tool.bin',
  `    sha256: ${createHash('sha256').update('a carried tool\n').digest('hex')}`,
  'zones:',
  '  - { name: app, title: "App <img src=http://evil.example/x.png onerror=alert(2)>", cidrs: [10.0.0.0/24], self: true }',
  '  - { name: db, title: "Data\\" onmouseover=\\"alert(3)", cidrs: [10.0.1.0/24] }',
  '  - { name: internet, title: Internet, external: true }',
  'connections:',
  '  - { name: app-db, from: app, to: db, direction: internal, scope: cluster, protocol: "<b>SQL</b>", ports: [5432], purpose: "queries <a href=\'https://evil.example/\'>click</a>" }',
  'endpoints:',
  '  - name: vendor-telemetry',
  '    title: "Telemetry <style>body{background:url(https://evil.example/bg.png)}</style>"',
  '    category: telemetry',
  '    urls: [https://telemetry.evil.example/collect]',
  '    from: app',
  '    purpose: usage statistics',
  '    requirement: conditional',
  '    condition: telemetry.enabled',
  '    mitigation: { type: disabled, description: telemetry.enabled is false }',
  '    checks: [{ kind: values, key: telemetry.enabled, equals: false }]',
  '',
];

describe('ferry report: one self-contained page, rendered by a real browser', () => {
  it('renders manifest, bundle and audit into a page chromium shows with the diagram; nothing hostile becomes markup; nothing is loaded', async () => {
    const dir = path.join(work, 'hostile');
    await mkdir(path.join(dir, 'deploy'), { recursive: true });
    await writeFile(path.join(dir, 'manifest.yaml'), HOSTILE.join('\n').replace('<srv>', server.url));
    await writeFile(path.join(dir, 'deploy', 'values.yaml'), 'telemetry:\n  enabled: true\n  url: https://telemetry.evil.example/collect\nother: https://undeclared.example.org/api\n');
    const env = { FERRY_CACHE_DIR: path.join(dir, 'cache') };
    const created = await runFerry(['bundle', 'create', 'manifest.yaml', '-o', 'hostile.ferry.tar', '-q'], { cwd: dir, env });
    expect(created.code, created.stderr).toBe(0);

    const r = await runFerry(['report', 'manifest.yaml', '--bundle', 'hostile.ferry.tar', '--audit', 'deploy', '-o', 'report.html'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^wrote report\.html \(\d+ KiB\): 3 zones, 2 flows, 1 external endpoint, audit: \d+ references?, 1 undeclared, bundle: 1 artifact$/m);
    const html = await readFile(path.join(dir, 'report.html'), 'utf8');
    expect(externalLoads(html)).toEqual([]);
    const { tags } = markup(html);
    // The page's own elements only: its nav links are in-page fragments.
    expect(tags.filter((t) => /^<(script|img|link|iframe|object|embed|base|form)\b/i.test(t) || (/^<a\b/i.test(t) && !/^<a href="#[a-z]+">$/.test(t)))).toEqual([]);
    expect(tags.filter((t) => /\son[a-z]+\s*=/i.test(t))).toEqual([]);
    expect(html).not.toContain('\u001b');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain('App &lt;img src=http://evil.example/x.png onerror=alert(2)&gt;');

    const dom = await chromium(['--dump-dom', `file://${path.join(dir, 'report.html')}`]);
    for (const id of ['diagram', 'checklist', 'audit', 'bundle', 'inventory', 'endpoints', 'open', 'cmmc']) expect(dom).toContain(`<section id="${id}"`);
    const svg = /<svg class="zones"[^>]*>[\s\S]*?<\/svg>/.exec(dom)?.[0] ?? '';
    expect(svg.match(/<rect /g)?.length).toBe(3); // app as the source; db and Internet as destinations
    expect(svg.match(/<path /g)?.length).toBe(2); // app → db, app → Internet
    // The browser built no element from the manifest's text: no script, img, anchor or style beyond the page's own.
    expect(dom).not.toMatch(/<script|<img|<iframe|<link/i);
    expect(dom.match(/<a\s[^>]*>/g)?.every((t) => /^<a href="#[a-z]+">$/.test(t))).toBe(true);
    expect(dom.match(/<style/g)?.length).toBe(1);
    expect(dom).toContain('&lt;b&gt;SQL&lt;/b&gt;');
    // Audit findings with file:line; the checklist split in two; the bundle's file.
    expect(dom).toContain('deploy/values.yaml:4');
    expect(dom).toMatch(/undeclared\.example\.org/);
    expect(dom).toContain('Required for all deployments');
    expect(dom).toContain('Required only if the feature is enabled');
    expect(dom).toContain(`${server.url}/tool.bin`);

    const shot = path.join(RESULTS, 'report-hostile.png');
    await rm(shot, { force: true });
    await chromium([`--screenshot=${shot}`, '--window-size=1280,2000', `file://${path.join(dir, 'report.html')}`]);
    expect((await stat(shot)).size).toBeGreaterThan(20_000);
  });

  it('renders the five seed manifests; metal-stack (80+ flows) as a screenshot', async () => {
    for (const seed of SEEDS) {
      const out = path.join(work, `${seed}.html`);
      const r = await runFerry(['report', `manifests/${seed}.yaml`, '-o', out]);
      expect(r.code, `${seed}: ${r.stderr}`).toBe(0);
      const html = await readFile(out, 'utf8');
      expect(externalLoads(html), seed).toEqual([]);
      expect(html, seed).toContain('<svg class="zones"');
    }
    const metal = await readFile(path.join(work, 'metal-stack.html'), 'utf8');
    // Every flow is in the tables; the diagram aggregates them into one edge per zone pair.
    const inv = JSON.parse((await runFerry(['inventory', 'manifests/metal-stack.yaml', '--json'])).stdout) as { matrix: Array<{ from: string; to: string }> };
    expect(inv.matrix.length).toBeGreaterThan(80);
    const pairs = new Set(inv.matrix.map((m) => `${m.from}→${m.to}`)).size;
    expect(metal.match(/<g class="flow[^"]*">/g)?.length).toBe(pairs);

    const shot = path.join(RESULTS, 'report-metal-stack.png');
    await rm(shot, { force: true });
    await chromium([`--screenshot=${shot}`, '--window-size=1280,2000', `file://${path.join(work, 'metal-stack.html')}`]);
    expect((await stat(shot)).size).toBeGreaterThan(50_000);
    const dom = await chromium(['--dump-dom', `file://${path.join(work, 'metal-stack.html')}`]);
    expect(dom).toContain('Metal Control Plane');
    expect(dom).toMatch(/<svg class="zones"/);
  });
});
