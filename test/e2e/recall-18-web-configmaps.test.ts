import { describe, expect, it } from 'vitest';
import { auditedRepo } from '../support/audit-repo.js';
import { NESTED_SITE_TARGET } from '../support/offline-lock.js';

const MANIFEST = 'apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: site }\nimages: []\n';

/**
 * recall18: web server configurations shipped in ConfigMaps, as the nginx image's docs and
 * Kubernetes' "Configure a Pod to use a ConfigMap" write them: an `nginx.conf` key (ngx_http_upstream
 * `upstream`, ngx_http_map `map`, a `proxy_pass $var` nothing sets), a key named `site` a container
 * mounts with `subPath` at /etc/nginx/conf.d/default.conf, and a `Caddyfile` key.
 */
const FILES: Record<string, string> = {
  'k8s/proxy.yaml': [
    'apiVersion: v1', // 1
    'kind: ConfigMap',
    'metadata:',
    '  name: proxy-conf',
    'data:', // 5
    '  nginx.conf: |',
    '    events {}',
    '    http {',
    '      upstream backend {',
    '        server app.backend.example.com:8080;', // 10
    '      }',
    '      map $http_x_region $target {',
    '        default      api.vendor.example;',
    '        ~^eu-        eu.api.vendor.example;',
    '      }', // 15
    '      server {',
    '        location / {',
    '          proxy_pass http://backend;',
    '        }',
    '        location /r/ {', // 20
    '          proxy_pass https://$target;',
    '        }',
    '        location /x/ {',
    '          proxy_pass $dynamic_upstream;',
    '        }', // 25
    '      }',
    '    }',
    '---',
    'apiVersion: v1',
    'kind: ConfigMap', // 30
    'metadata:',
    '  name: site',
    'data:',
    '  site: |',
    '    server {', // 35
    '      listen 80;',
    '      location /api/ {',
    '        set $api_upstream https://upstream.vendor.example;',
    '        proxy_pass $api_upstream;',
    '      }', // 40
    '    }',
    '  notes: |',
    '    proxy_pass $not_a_config;',
    '---',
    'apiVersion: apps/v1', // 45
    'kind: Deployment',
    'metadata:',
    '  name: web',
    'spec:',
    '  template:', // 50
    '    spec:',
    '      containers:',
    '        - name: nginx',
    '          image: nginx:1.27',
    '          volumeMounts:', // 55
    '            - name: conf',
    '              mountPath: /etc/nginx/conf.d/default.conf',
    '              subPath: site',
    '      volumes:',
    '        - name: conf', // 60
    '          configMap:',
    '            name: site',
    '',
  ].join('\n'),
  'k8s/caddy.yaml': [
    'apiVersion: v1', // 1
    'kind: ConfigMap',
    'metadata:',
    '  name: caddy',
    'data:', // 5
    '  Caddyfile: |',
    '    app.example.com {',
    '      reverse_proxy {$BACKEND:backend.vendor.example:8443}',
    '      reverse_proxy /metrics {env.METRICS_UPSTREAM}',
    '    }', // 10
    '',
  ].join('\n'),
};

describe('recall18: web server configurations in ConfigMaps are read as the files their keys (or mounts) name', () => {
  const repo = auditedRepo('ferry-recall18-webcm-', FILES, MANIFEST, NESTED_SITE_TARGET);
  const f = 'repo/k8s/proxy.yaml';

  it("an nginx.conf key: the upstream group is no host, each map value a destination, a variable upstream unknown, at the ConfigMap's lines", () => {
    expect(repo.one(f, 18)).toMatchObject({ value: 'http://backend' });
    expect(repo.one(f, 18).note).toContain('nginx upstream group backend');
    const mapped = repo.at(f, 21).map((x) => x.value).sort();
    expect(mapped).toEqual(['https://api.vendor.example', 'https://eu.api.vendor.example']);
    expect(repo.at(f, 21)[0].note).toContain('map $target');
    const dynamic = repo.one(f, 24);
    expect(dynamic.value).toBe('$dynamic_upstream');
    expect(dynamic.note).toContain('proxies requests to the destination this variable holds');
  });

  it('a key named site, mounted with subPath at /etc/nginx/conf.d/default.conf, is read as that file; a key no one mounts is not', () => {
    const up = repo.one(f, 39);
    expect(up.value).toBe('https://upstream.vendor.example');
    expect(up.note).toContain('set at line 38');
    expect(up.note).toContain('read as /etc/nginx/conf.d/default.conf, where the container nginx of Deployment web mounts it');
    expect(repo.at(f, 43)).toEqual([]);
  });

  it("a Caddyfile key: {$VAR:default} is its default, {env.VAR} unknown", () => {
    const c = 'repo/k8s/caddy.yaml';
    expect(repo.one(c, 8).value).toBe('backend.vendor.example:8443');
    expect(repo.one(c, 8).note).toContain('its default');
    expect(repo.one(c, 9).value).toBe('{env.METRICS_UPSTREAM}');
  });
});
