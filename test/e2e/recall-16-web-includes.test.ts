import { rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditReport } from '../../src/audit/audit.js';
import { runFerry } from '../support/cli.js';
import { writeTree } from '../support/fs-tree.js';
import { offlineWork } from '../support/offline-lock.js';

/**
 * recall16: a web server configuration split over files, as the upstream docs write it. nginx
 * (ngx_http_map_module, ngx_core_module `include`): a `map` in nginx.conf's http block feeds
 * `proxy_pass http://$target` in a conf.d file it includes; every value is a possible destination.
 * Apache (core `Include`, `IncludeOptional`, `Define`): Defines in an included file fill `${VAR}`
 * below the Include and in a file included after them. Caddy (Caddyfile concepts, environment
 * variables): `{$VAR:default}` is the default when the environment does not set it.
 */
const TREE = {
  'nginx/nginx.conf': [
    'user nginx;', // 1
    'events { worker_connections 1024; }',
    'http {',
    '    map $http_x_region $target {',
    '        default          upstream.example.com;', // 5
    '        ~^eu-            eu.upstream.example.com;',
    '        "us-west"        $http_x_override;',
    '    }',
    '    upstream backend {',
    '        server app.backend.example.com:8080;', // 10
    '    }',
    '    include conf.d/*.conf;',
    '}',
    '',
  ].join('\n'),
  'nginx/conf.d/site.conf': [
    'server {', // 1
    '    listen 80;',
    '    location / {',
    '        proxy_pass http://$target;',
    '    }', // 5
    '    location /app/ {',
    '        proxy_pass http://backend;',
    '    }',
    '    location /loop/ {',
    '        include loop.conf;', // 10
    '    }',
    '}',
    '',
  ].join('\n'),
  'nginx/conf.d/loop.conf': 'include conf.d/site.conf;\n',
  'httpd/conf/httpd.conf': [
    'ServerRoot "/usr/local/apache2"', // 1
    'Include conf/extra/vars.conf',
    '<VirtualHost *:80>',
    '    ProxyPass "/api/" "${API_BACKEND}/"',
    '    RewriteRule "^/old/(.*)$" "https://${LEGACY_HOST}/$1" [P]', // 5
    '</VirtualHost>',
    'IncludeOptional conf.d/*.conf',
    '',
  ].join('\n'),
  'httpd/conf/extra/vars.conf': 'Define API_BACKEND https://api.vendor.example\nDefine LEGACY_HOST legacy.vendor.example\n',
  'httpd/conf/conf.d/vhost.conf': ['<VirtualHost *:8080>', '    ProxyPass "/v2/" "${API_BACKEND}/v2/"', '    ProxyPass "/x/" "${NOT_DEFINED}/"', '</VirtualHost>', ''].join('\n'),
  'caddy/Caddyfile': [
    '{$SITE_ADDRESS::80} {', // 1
    '    reverse_proxy /api/* {$API_UPSTREAM:api.vendor.example:443}',
    '    reverse_proxy /b/* {$B_UPSTREAM}',
    '    reverse_proxy /c/* {env.C_UPSTREAM}',
    '    redir https://{$DOCS_HOST:docs.vendor.example}{uri}', // 5
    '}',
    '',
  ].join('\n'),
};

let work = '';
let report: AuditReport;
beforeAll(async () => {
  work = await offlineWork('ferry-recall16-web-', ['docker.io/library/nginx:1.27']);
  await writeTree(path.join(work, 'site'), TREE);
  const r = await runFerry(['audit', 'site', '--manifest', 'm.yaml', '--target', 't.yaml', '--format', 'json'], { cwd: work });
  expect(r.code, r.stderr).toBe(0);
  report = JSON.parse(r.stdout) as AuditReport;
}, 60_000);
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

const at = (file: string, line: number) =>
  report.findings
    .filter((x) => x.file === `site/${file}` && x.line === line)
    .map((x) => x.value)
    .sort();
const noteAt = (file: string, line: number, value: string) => report.findings.find((x) => x.file === `site/${file}` && x.line === line && x.value === value)?.note ?? '';

describe('recall16: web server configurations over included files', () => {
  it('nginx: each value of a map in the including file is a destination of proxy_pass http://$target; a value holding a variable stays unknown', () => {
    expect(at('nginx/conf.d/site.conf', 4)).toEqual(['http://$target', 'http://eu.upstream.example.com', 'http://upstream.example.com']);
    expect(noteAt('nginx/conf.d/site.conf', 4, 'http://upstream.example.com')).toContain('map $target at site/nginx/nginx.conf:4, its default');
    expect(noteAt('nginx/conf.d/site.conf', 4, 'http://$target')).toContain('$http_x_override');
  });

  it('nginx: an upstream group of the including file is no host; an include cycle is listed', () => {
    const f = report.findings.find((x) => x.file === 'site/nginx/conf.d/site.conf' && x.line === 7);
    expect(f?.value).toBe('http://backend');
    expect(f?.note).toContain('upstream group backend (site/nginx/nginx.conf:9)');
    expect(report.skipped.some((s) => s.reason.includes('include cycle'))).toBe(true);
  });

  it('Apache: Defines of an Included file fill ${VAR} below the Include and in files included after them; one defined nowhere stays unknown', () => {
    expect(at('httpd/conf/httpd.conf', 4)).toEqual(['https://api.vendor.example/']);
    expect(noteAt('httpd/conf/httpd.conf', 4, 'https://api.vendor.example/')).toContain('Define at site/httpd/conf/extra/vars.conf:1');
    expect(at('httpd/conf/httpd.conf', 5)).toEqual(['https://legacy.vendor.example/$1']);
    expect(at('httpd/conf/conf.d/vhost.conf', 2)).toEqual(['https://api.vendor.example/v2/']);
    expect(at('httpd/conf/conf.d/vhost.conf', 3)).toEqual(['${NOT_DEFINED}']);
  });

  it('Caddy: {$VAR:default} is the default (said so); {$VAR} and {env.VAR} without one stay unknown', () => {
    expect(at('caddy/Caddyfile', 2)).toEqual(['api.vendor.example:443']);
    expect(noteAt('caddy/Caddyfile', 2, 'api.vendor.example:443')).toContain('its default) when the environment does not set API_UPSTREAM');
    expect(at('caddy/Caddyfile', 3)).toEqual(['{$B_UPSTREAM}']);
    expect(at('caddy/Caddyfile', 4)).toEqual(['{env.C_UPSTREAM}']);
    expect(at('caddy/Caddyfile', 5)).toEqual(['https://docs.vendor.example{uri}']);
  });
});
