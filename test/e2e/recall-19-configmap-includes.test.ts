import { describe, expect, it } from 'vitest';
import { auditedRepo } from '../support/audit-repo.js';
import { NESTED_SITE_TARGET } from '../support/offline-lock.js';

const MANIFEST = 'apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: site }\nimages: []\n';

/**
 * recall19: an nginx configuration split over ConfigMap keys a container mounts together, as the
 * nginx image is configured on Kubernetes: `nginx.conf` (its `http` block holding a `map` and an
 * `upstream`) including `/etc/nginx/conf.d/*.conf`, and the server in another key mounted there —
 * of the same ConfigMap (`items` under /etc/nginx), or of a second ConfigMap mounted whole as
 * /etc/nginx/conf.d. The include is resolved against the keys mounted at its path.
 */
const NGINX_CONF = [
  '  nginx.conf: |',
  '    events {}',
  '    http {',
  '      map $http_x_region $target {',
  '        default api.vendor.example;',
  '      }',
  '      upstream backend {',
  '        server 10.0.0.7:8080;',
  '      }',
  '      include /etc/nginx/conf.d/*.conf;',
  '    }',
];
const SERVER = ['    server {', '      location /r/ {', '        proxy_pass https://$target;', '      }', '      location /b/ {', '        proxy_pass http://backend;', '      }', '    }'];

/** A Deployment's nginx container, up to its volume mounts. */
const DEPLOYMENT = ['apiVersion: apps/v1', 'kind: Deployment', 'metadata: { name: web }', 'spec:', '  template:', '    spec:', '      containers:', '        - name: nginx', '          image: nginx:1.27'];

const FILES: Record<string, string> = {
  // One ConfigMap, two keys mounted with items under /etc/nginx.
  'one/web.yaml': [
    'apiVersion: v1', // 1
    'kind: ConfigMap',
    'metadata:',
    '  name: web',
    'data:', // 5
    ...NGINX_CONF, // 6-16
    '  app.conf: |', // 17
    ...SERVER, // 18-25: proxy_pass $target at 20, backend at 23
    '---',
    ...DEPLOYMENT, // 27-35
    '          volumeMounts:',
    '            - { name: conf, mountPath: /etc/nginx }',
    '      volumes:',
    '        - name: conf',
    '          configMap:', // 40
    '            name: web',
    '            items:',
    '              - { key: nginx.conf, path: nginx.conf }',
    '              - { key: app.conf, path: conf.d/app.conf }',
    '',
  ].join('\n'),
  // Two ConfigMaps: nginx.conf by subPath, a conf.d ConfigMap (a key whose name says nothing) mounted whole.
  'two/web.yaml': [
    'apiVersion: v1', // 1
    'kind: ConfigMap',
    'metadata: { name: main }',
    'data:',
    ...NGINX_CONF, // 5-15
    '---', // 16
    'apiVersion: v1',
    'kind: ConfigMap',
    'metadata: { name: sites }',
    'data:', // 20
    '  site.conf: |', // 21
    ...SERVER, // 22-29: $target at 24, backend at 27
    '---',
    ...DEPLOYMENT,
    '          volumeMounts:',
    '            - { name: main, mountPath: /etc/nginx/nginx.conf, subPath: nginx.conf }',
    '            - { name: sites, mountPath: /etc/nginx/conf.d }',
    '      volumes:',
    '        - { name: main, configMap: { name: main } }',
    '        - { name: sites, configMap: { name: sites } }',
    '',
  ].join('\n'),
};

const text = (f: { provenance?: string; note?: string }) => `${f.provenance ?? ''} ${f.note ?? ''}`;

describe('recall19: nginx include of the ConfigMap keys mounted beside nginx.conf', () => {
  const repo = auditedRepo('ferry-recall19-cm-', FILES, MANIFEST, NESTED_SITE_TARGET);

  for (const [dir, passLine, backendLine] of [['one', 20, 23], ['two', 24, 27]] as const) {
    it(`${dir}: proxy_pass $target in the included key is the value the main key's map gives`, () => {
      const x = repo.one(`repo/${dir}/web.yaml`, passLine);
      expect(x.value).toBe('https://api.vendor.example');
      expect(text(x)).toContain('map $target');
      expect(text(x)).toContain('with the ConfigMap keys mounted beside it');
    });

    it(`${dir}: proxy_pass http://backend is the main key's upstream group, no host`, () => {
      const x = repo.one(`repo/${dir}/web.yaml`, backendLine);
      expect(x.class).toBe('internal');
    });
  }
});
