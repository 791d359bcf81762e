import { rm } from 'node:fs/promises';
import { afterAll, describe, expect, it } from 'vitest';
import type { AuditReport } from '../../src/audit/audit.js';
import { auditTreeReport } from '../support/audit-repo.js';
import { NESTED_SITE_TARGET } from '../support/offline-lock.js';

/**
 * recall19: what the audit's readers stop on inside a file they read — a Caddy snippet importing
 * itself, the pasted-lines budget running out, a values tree nested past the joined-images walk —
 * is a note naming the file and line, counted as unaudited (it fails --fail-on), as the
 * include readers' bounds are. The old code dropped each of them silently.
 */
const MANIFEST = 'apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata:\n  name: m\nimages: []\n';
const works: string[] = [];
afterAll(async () => {
  for (const w of works) await rm(w, { recursive: true, force: true });
});

async function auditTree(dir: string, files: Record<string, string>): Promise<AuditReport> {
  const { work, report } = await auditTreeReport('ferry-r19-stops-', dir, files, MANIFEST, NESTED_SITE_TARGET);
  works.push(work);
  return report;
}

describe('Caddy imports: what the reader stops on is said', () => {
  it('a snippet importing itself: a note at the import line naming the cycle, unaudited, failing --fail-on', async () => {
    const report = await auditTree('caddy', {
      Caddyfile: ['(loop) {', '  import loop {args[0]}{args[0]}', '  reverse_proxy {args[0]}', '}', 'example.com {', '  import loop https://a.vendor.example', '}', ''].join('\n'),
    });
    const notes = report.skipped.filter((s) => s.file === 'caddy/Caddyfile');
    expect(notes).toHaveLength(1);
    expect(notes[0].unscanned).toBe(true);
    expect(notes[0].reason).toMatch(/^caddy\/Caddyfile:6: import loop: the snippet \(loop\) at caddy\/Caddyfile:1 line caddy\/Caddyfile:2 imports snippet \(loop\) again while it is being pasted \(loop → loop\): an import cycle Caddy refuses, not followed$/);
    expect(report.summary.unscannedFiles).toBe(1);
    expect(report.wouldFail.unmapped).toBe(true);
    // What it does read is still read.
    expect(report.findings.filter((f) => f.file === 'caddy/Caddyfile' && f.line === 6).map((f) => f.value)).toEqual(['https://a.vendor.example']);
  }, 60_000);

  it('the pasted-lines budget running out: said once, at the import line where it fell', async () => {
    const snippet = ['(many) {', ...Array.from({ length: 400 }, (_, i) => `  reverse_proxy /p${i} {args[0]}`), '}'];
    const host = `https://${'a'.repeat(990)}.vendor.example`;
    const sites = Array.from({ length: 4 }, (_, i) => [`s${i}.example.com {`, `  import many ${host}`, '}']).flat();
    const report = await auditTree('budget', { Caddyfile: [...snippet, ...sites, ''].join('\n') });
    const notes = report.skipped.filter((s) => s.file === 'budget/Caddyfile');
    expect(notes).toHaveLength(1);
    // 400 lines of ~1 010 characters an import: the third import (line 402 + 8) is where 1 MiB ends.
    expect(notes[0].reason).toMatch(/^budget\/Caddyfile:410: import many: more than 1048576 characters of pasted lines read for this file: the snippet \(many\) at budget\/Caddyfile:1 line budget\/Caddyfile:\d+ and the lines after it are not read/);
    expect(notes[0].unscanned).toBe(true);
    expect(report.wouldFail.unmapped).toBe(true);
  }, 60_000);

  it('a Caddyfile whose imports all resolve: no note', async () => {
    const report = await auditTree('fine', {
      Caddyfile: ['(inner) {', '  reverse_proxy {args[0]}', '}', '(outer) {', '  import inner {args[0]}/api', '}', 'example.com {', '  import outer https://b.vendor.example', '}', ''].join('\n'),
    });
    expect(report.skipped).toEqual([]);
  }, 60_000);
});

describe('joined values: a tree nested past the walk is said', () => {
  it('a values file nested 70 maps deep under a hub: a note at the map where the walk stopped, unaudited', async () => {
    const depth = 70;
    const lines = ['global:', '  hub: docker.io/istio', '  tag: 1.27.1'];
    for (let i = 0; i < depth; i++) lines.push(`${'  '.repeat(i)}l${i}:`);
    lines.push(`${'  '.repeat(depth)}image: pilot`, '');
    const report = await auditTree('values', { 'values.yaml': lines.join('\n') });
    const notes = report.skipped.filter((s) => s.file === 'values/values.yaml');
    expect(notes).toHaveLength(1);
    expect(notes[0].unscanned).toBe(true);
    // The walk stops at the 65th map below the top, l64's, whose first key l65 is at line 69.
    expect(notes[0].reason).toMatch(/^values\/values\.yaml:69: …[a-z0-9.]*\.l63\.l64 is nested more than 64 maps deep: the names below it are not joined to a hub/);
    expect(report.wouldFail.unmapped).toBe(true);
  }, 60_000);

  it('the same name 3 maps deep: joined, no note', async () => {
    const report = await auditTree('shallow', { 'values.yaml': 'global:\n  hub: docker.io/istio\n  tag: 1.27.1\npilot:\n  x:\n    image: pilot\n' });
    expect(report.skipped).toEqual([]);
    expect(report.findings.map((f) => f.value)).toContain('docker.io/istio/pilot:1.27.1');
  }, 60_000);
});

describe('nginx and Apache includes: what the reader stops on fails --fail-on as a Caddy stop does', () => {
  it('an nginx include cycle: a note at the include line, unaudited, failing --fail-on; what the files say is still read', async () => {
    const report = await auditTree('ngx', {
      'nginx.conf': ['http {', '  include conf.d/*.conf;', '}', ''].join('\n'),
      'conf.d/a.conf': ['include conf.d/b.conf;', 'server { location / { proxy_pass https://a.vendor.example; } }', ''].join('\n'),
      'conf.d/b.conf': ['include conf.d/a.conf;', ''].join('\n'),
    });
    const notes = report.skipped.filter((s) => s.reason.includes('include cycle'));
    expect(notes.length).toBeGreaterThan(0);
    expect(notes.every((n) => n.unscanned)).toBe(true);
    expect(notes[0].reason).toMatch(/^ngx\/conf\.d\/[ab]\.conf:1: include conf\.d\/[ab]\.conf reaches ngx\/conf\.d\/[ab]\.conf, which includes this file again: an include cycle/);
    expect(report.summary.unscannedFiles).toBeGreaterThan(0);
    expect(report.wouldFail.unmapped).toBe(true);
    expect(report.wouldFail.unmitigated).toBe(true);
    expect(report.findings.some((f) => f.file === 'ngx/conf.d/a.conf' && f.value === 'https://a.vendor.example')).toBe(true);
  }, 60_000);

  it('Apache Includes nested past the depth bound: a note, unaudited, failing --fail-on', async () => {
    const files: Record<string, string> = { 'conf/httpd.conf': 'Include conf/n0.conf\n' };
    for (let i = 0; i < 20; i++) files[`conf/n${i}.conf`] = `Include conf/n${i + 1}.conf\n`;
    files['conf/n20.conf'] = 'Define HOST api.vendor.example\n';
    const report = await auditTree('httpd', files);
    const notes = report.skipped.filter((s) => s.reason.includes('nested more than'));
    expect(notes).toHaveLength(1);
    expect(notes[0].unscanned).toBe(true);
    expect(report.wouldFail.unmapped).toBe(true);
  }, 60_000);

  it('nginx includes that all resolve: no note, nothing unaudited', async () => {
    const report = await auditTree('ngx-fine', {
      'nginx.conf': ['http {', '  include conf.d/*.conf;', '}', ''].join('\n'),
      'conf.d/a.conf': ['server { location / { proxy_pass https://a.vendor.example; } }', ''].join('\n'),
    });
    expect(report.skipped).toEqual([]);
    expect(report.summary.unscannedFiles).toBe(0);
  }, 60_000);
});
