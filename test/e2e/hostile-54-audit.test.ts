import { rm } from 'node:fs/promises';
import { afterAll, describe, expect, it } from 'vitest';
import type { AuditReport, Finding } from '../../src/audit/audit.js';
import { auditTreeReport } from '../support/audit-repo.js';
import { NESTED_SITE_TARGET } from '../support/offline-lock.js';

/**
 * Hostile pass 54 on the audit's readers of this round (web server includes, Caddy imports,
 * ConfigMap web configurations): crafted trees that made the audit quadratic in the files an
 * include joins, or read nonsense from a snippet importing itself. Each test checks what the new
 * code says it skipped, which the old code did silently (or not at all).
 */
const MANIFEST = 'apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata:\n  name: m\nimages: []\n';
const works: string[] = [];
afterAll(async () => {
  for (const w of works) await rm(w, { recursive: true, force: true });
});

async function auditTree(dir: string, files: Record<string, string>, env?: NodeJS.ProcessEnv): Promise<AuditReport> {
  const { work, report } = await auditTreeReport('ferry-h54-audit-', dir, files, MANIFEST, NESTED_SITE_TARGET, env);
  works.push(work);
  return report;
}

const HEAP_512 = { NODE_OPTIONS: '--max-old-space-size=512' };
const text = (f: Finding) => `${f.provenance ?? ''} ${f.note ?? ''}`;
const pad = (i: number) => String(i).padStart(4, '0');

describe('nginx include fan-out', () => {
  it('3 000 files each including the glob that matches them all: each include follows 256 files, the scan 500 000 pairs, the maps shared bounded; all said', async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 3000; i++) files[`conf.d/f${pad(i)}.conf`] = `include conf.d/*.conf;\nmap $host $b${pad(i)} { default https://h${pad(i)}.vendor.example; }\n`;
    // The main file sorts after conf.d/: the maps of the first files are shared with it.
    files['nginx.conf'] = 'include conf.d/*.conf;\nserver {\n  location / {\n    proxy_pass $b0001;\n  }\n}\n';
    const report = await auditTree('nginx', files, HEAP_512);
    const reasons = report.skipped.map((s) => s.reason);
    // One include names 3 001 files: the first 256 followed, said (the old code cut it silently).
    expect(reasons).toContain('nginx/conf.d/f0000.conf:1: include conf.d/*.conf: names more than 256 files, only the first 256 followed (what the others define is unknown here)');
    // Past 200 000 (include, file) pairs in the scan an include is not followed, said.
    expect(reasons.filter((r) => r.includes('not followed, the includes of this scan already join more than 500000 (include, file) pairs')).length).toBeGreaterThan(1000);
    // The group's maps past 256 are not shared, said once for the group.
    expect(reasons.filter((r) => r.includes('are not shared with the others'))).toHaveLength(1);
    // The main file still reads a map another file defines.
    const pass = report.findings.filter((f) => f.file === 'nginx/nginx.conf' && f.line === 4);
    expect(pass.map((f) => f.host)).toEqual(['h0001.vendor.example']);
    expect(text(pass[0])).toMatch(/map \$b0001 at nginx\/conf\.d\/f0001\.conf:2/);
    // Every file's own map is still read as its own.
    expect(report.findings.filter((f) => f.file.startsWith('nginx/conf.d/') && f.kind === 'url')).toHaveLength(3000);
  }, 120_000);

  it('a handful of files joined by one include: nothing said, the maps and upstream groups shared as before', async () => {
    const report = await auditTree('small', {
      'nginx.conf': 'include conf.d/*.conf;\nserver {\n  location / {\n    proxy_pass $api;\n  }\n  location /b {\n    proxy_pass http://backend;\n  }\n}\n',
      'conf.d/maps.conf': 'map $host $api { default https://api.vendor.example; }\n',
      'conf.d/up.conf': 'upstream backend { server 10.0.0.1:8080; }\n',
    });
    expect(report.skipped).toEqual([]);
    const at = (line: number) => report.findings.filter((f) => f.file === 'small/nginx.conf' && f.line === line);
    expect(at(4).map((f) => f.value)).toEqual(['https://api.vendor.example']);
    expect(text(at(4)[0])).toMatch(/map \$api at small\/conf\.d\/maps\.conf:1/);
    expect(at(7).map((f) => [f.value, f.class])).toEqual([['http://backend', 'internal']]);
  }, 60_000);
});

describe('Caddy snippets importing snippets', () => {
  it('a snippet importing itself is a cycle: nothing read from the import line it pastes (the old code read "https://a.vendor.examplehttps://a.vendor.example")', async () => {
    const report = await auditTree('caddy', {
      Caddyfile: ['(loop) {', '  import loop {args[0]}{args[0]}', '  reverse_proxy {args[0]}', '}', 'example.com {', '  import loop https://a.vendor.example', '}', ''].join('\n'),
    });
    const at = report.findings.filter((f) => f.file === 'caddy/Caddyfile' && f.line === 6);
    expect(at.map((f) => f.value)).toEqual(['https://a.vendor.example']);
    expect(text(at[0])).toMatch(/pastes the snippet \(loop\) at caddy\/Caddyfile:1, line caddy\/Caddyfile:3 reverse_proxy \{args\[0\]\}/);
  }, 60_000);

  it('a snippet pasting another with its arguments: the inner snippet filled in, as Caddy expands it', async () => {
    const report = await auditTree('nested', {
      Caddyfile: ['(inner) {', '  reverse_proxy {args[0]}', '}', '(outer) {', '  import inner {args[0]}/api', '}', 'example.com {', '  import outer https://b.vendor.example', '}', ''].join('\n'),
    });
    const at = report.findings.filter((f) => f.file === 'nested/Caddyfile' && f.line === 8 && f.kind === 'url');
    expect(at.map((f) => f.value).sort()).toEqual(['https://b.vendor.example', 'https://b.vendor.example/api']);
    const api = at.find((f) => f.value.endsWith('/api'))!;
    expect(text(api)).toMatch(/pastes the snippet \(inner\) at nested\/Caddyfile:1, line nested\/Caddyfile:2 reverse_proxy \{args\[0\]\}, pasted by snippet \(outer\) at nested\/Caddyfile:4/);
  }, 60_000);

  it('snippets doubling at each of 40 levels stay bounded: the nesting past 8 is not followed', async () => {
    const lines: string[] = [];
    for (let i = 0; i < 40; i++) lines.push(`(s${i}) {`, `  import s${i + 1} {args[0]}`, `  import s${i + 1} {args[0]}`, `  reverse_proxy {args[0]}/s${i}`, '}');
    lines.push('(s40) {', '  reverse_proxy {args[0]}/s40', '}', 'example.com {', '  import s0 https://c.vendor.example', '}', '');
    const report = await auditTree('deep', { Caddyfile: lines.join('\n') }, HEAP_512);
    const line = lines.indexOf('  import s0 https://c.vendor.example') + 1;
    const values = new Set(report.findings.filter((f) => f.file === 'deep/Caddyfile' && f.line === line && f.kind === 'url').map((f) => f.value));
    // s0 … s7 pasted (8 levels), s8 on not followed.
    for (let i = 0; i < 8; i++) expect(values.has(`https://c.vendor.example/s${i}`)).toBe(true);
    expect(values.has('https://c.vendor.example/s8')).toBe(false);
  }, 60_000);
});

describe('ConfigMap web configurations', () => {
  it('a ConfigMap of 10 000 nginx keys: each read as its own file at its own line (the blank lines put in front of each were read one by one: 8 M of them)', async () => {
    const keys = Array.from({ length: 10_000 }, (_, i) => `  k${i}.conf: |\n    server { location / { proxy_pass https://h${i}.vendor.example; } }\n`).join('');
    const report = await auditTree('cm', { 'cm.yaml': `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\ndata:\n${keys}` });
    const urls = report.findings.filter((f) => f.kind === 'url');
    expect(urls).toHaveLength(10_000);
    // A key's value at its own lines while MAX_WEB_PAD lasts (k999's value is line 2004), then at its key's line.
    expect(urls.find((f) => f.host === 'h999.vendor.example')).toMatchObject({ line: 2004, keyPath: 'data.k999.conf' });
    expect(urls.find((f) => f.host === 'h9999.vendor.example')).toMatchObject({ line: 20_003, keyPath: 'data.k9999.conf' });
  }, 30_000);
});
