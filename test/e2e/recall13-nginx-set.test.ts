import { rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditReport } from '../../src/audit/audit.js';
import { runFerry } from '../support/cli.js';
import { writeTree } from '../support/fs-tree.js';
import { offlineWork } from '../support/offline-lock.js';

/**
 * recall13: nginx `proxy_pass $backend;` with `set $backend https://…;` in its server block (or its
 * location) proxies to that destination, known from the file; a variable a `map` defines, or one
 * only a sibling location sets, stays unknown.
 */
const SITE = [
  'map $http_x_tenant $tenant_backend {', // 1
  '    default tenant.example;',
  '}',
  'server {',
  '    listen 443 ssl;', // 5
  '    set $backend https://api.vendor.example;',
  '    location /api/ {',
  '        proxy_pass $backend;',
  '    }',
  '    location /t/ {', // 10
  '        proxy_pass $tenant_backend;',
  '    }',
  '    location /v2/ {',
  '        set $v2 "https://v2.vendor.example:8443";',
  '        proxy_pass $v2/base;', // 15
  '    }',
  '    location /other/ {',
  '        proxy_pass $v2;',
  '    }',
  '}', // 20
  '',
].join('\n');

let work = '';
beforeAll(async () => {
  work = await offlineWork('ferry-recall13-nginx-', ['docker.io/library/nginx:1.27']);
});
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('recall13: nginx set variables followed to proxy_pass', () => {
  it('audit: proxy_pass $var is the URL a set around it gives; a map or a sibling location stays unknown', async () => {
    await writeTree(path.join(work, 'conf'), { 'site.conf': SITE });
    const r = await runFerry(['audit', 'conf', '--manifest', 'm.yaml', '--target', 't.yaml', '--format', 'json'], { cwd: work });
    expect(r.code, r.stderr).toBe(0);
    const f = (JSON.parse(r.stdout) as AuditReport).findings.filter((x) => x.file === 'conf/site.conf');
    const line = (n: number) => f.filter((x) => x.line === n).map((x) => x.value);
    expect(line(8)).toEqual(['https://api.vendor.example']);
    expect(f.find((x) => x.line === 8)?.note).toContain('$backend is https://api.vendor.example (set at line 6)');
    expect(line(15)).toEqual(['https://v2.vendor.example:8443/base']);
    // Unknown, as written: a map's value is chosen per request; /other/ has no set of $v2 around it.
    expect(line(11)).toEqual(['$tenant_backend']);
    expect(line(18)).toEqual(['$v2']);
    expect(f.find((x) => x.line === 18)?.note).toContain('which destination it names is unknown here');
  }, 60_000);
});
