import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { auditTreeReport } from '../support/audit-repo.js';
import type { AuditReport } from '../../src/audit/audit.js';
import { runFerry } from '../support/cli.js';
import { writeTree } from '../support/fs-tree.js';
import { NESTED_SITE_TARGET } from '../support/offline-lock.js';

const MANIFEST = 'apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: site }\nimages: []\n';

/**
 * hostile59: `ferry audit` readers a site's files can shape. An include wildcard was a backtracking
 * RegExp (`*a*a…*b` beside a long name: no end); Grafana's settings and data sources became hosts and
 * URLs unchecked (`monitoring...evil..com`, a URL holding control bytes, credentials quoted in notes);
 * Grafana's bounds fell silently (the 10 001st data source of a list: nothing reported, --fail-on passed).
 */
describe('hostile59: audit include wildcards and Grafana settings', () => {
  it('an include of many * runs beside a long file name ends (the audit reports)', { timeout: 120_000 }, async () => {
    const files = {
      'nginx/nginx.conf': `http {\n  include conf.d/${'*a'.repeat(12)}*b;\n  server { location / { proxy_pass $up; } }\n}\n`,
      [`nginx/conf.d/${'a'.repeat(200)}`]: 'server { listen 80; }\n',
      [`nginx/conf.d/${'a'.repeat(12)}b`]: 'map $host $up { default http://joined.vendor.example; }\n',
    };
    const work = await mkdtemp(path.join(os.tmpdir(), 'ferry-h59-glob-'));
    try {
      await writeTree(path.join(work, 'site'), files);
      await writeFile(path.join(work, 'm.yaml'), MANIFEST);
      await writeFile(path.join(work, 't.yaml'), NESTED_SITE_TARGET);
      // Killed if it does not end (the old reader did not): the run then fails, not the suite.
      const r = await runFerry(['audit', 'site', '--manifest', 'm.yaml', '--target', 't.yaml', '--format', 'json'], { cwd: work, timeoutMs: 90_000 });
      expect(r.code, r.stderr.slice(-2000)).toBe(0);
      const report = JSON.parse(r.stdout) as AuditReport;
      expect(report.findings.map((f) => f.value)).toContain('http://joined.vendor.example');
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });

  it('a data source endpoint or universe that is no host is unknown, never a host; credentials are not quoted', async () => {
    const files = {
      'grafana/provisioning/datasources/ds.yaml': [
        'apiVersion: 1',
        'datasources:',
        '  - name: cw',
        '    type: cloudwatch',
        '    jsonData:',
        '      endpoint: "https://user:s3cret@monitoring.evil.example\\e[31m/x"',
        '  - name: gcm',
        '    type: stackdriver',
        '    jsonData:',
        '      universeDomain: "..evil..com"',
        '',
      ].join('\n'),
      'grafana/grafana.ini': '[grafana_com]\nurl = https://user:tok3n@grafana.corp.example\n[smtp]\nenabled = true\nhost = ...:25\n',
    };
    const { work, report } = await auditTreeReport('ferry-h59-grafana-', 'site', files, MANIFEST, NESTED_SITE_TARGET);
    try {
      const ds = 'site/grafana/provisioning/datasources/ds.yaml';
      const cw = report.findings.find((f) => f.file === ds && f.line === 4);
      expect(cw?.value, JSON.stringify(report.findings)).toBe('datasources[0].type');
      expect(cw?.note).toContain('is no URL a client could call');
      expect(report.findings.filter((f) => f.value.includes('evil..com'))).toEqual([]);
      expect(report.findings.find((f) => f.file === ds && f.line === 8)?.note).toContain('the universe "..evil..com"');
      const ini = report.findings.filter((f) => f.file === 'site/grafana/grafana.ini');
      expect(ini.filter((f) => JSON.stringify(f).includes('tok3n'))).toEqual([]);
      expect(ini.some((f) => f.note?.includes('[grafana_com] url = https://***:***@grafana.corp.example'))).toBe(true);
      expect(ini.filter((f) => f.value === '...')).toEqual([]);
      expect(ini.find((f) => f.line === 5)?.note).toContain('"...:25" is no host name');
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });

  it('a data source list past its bound is an unknown finding that fails --fail-on, not silence', async () => {
    const items = Array.from({ length: 10_000 }, (_, i) => `  - {name: p${i}, type: prometheus}`);
    items.push('  - {name: last, type: prometheus, url: "http://metrics.vendor.example:9090"}');
    const files = { 'grafana/provisioning/datasources/many.yaml': `apiVersion: 1\ndatasources:\n${items.join('\n')}\n` };
    const { work, report } = await auditTreeReport('ferry-h59-many-', 'site', files, MANIFEST, NESTED_SITE_TARGET);
    try {
      const cut = report.findings.find((f) => f.note?.includes('more than 10000 data sources in one list'));
      expect(cut, JSON.stringify(report.findings).slice(0, 2000)).toBeDefined();
      expect(cut!.line).toBe(10_003);
      expect(report.wouldFail.unmapped).toBe(true);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
});
