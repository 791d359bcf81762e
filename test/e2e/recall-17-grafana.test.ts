import { describe, expect, it } from 'vitest';
import { auditedRepo } from '../support/audit-repo.js';
import { NESTED_SITE_TARGET } from '../support/offline-lock.js';

const MANIFEST = 'apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: site }\nimages: []\n';

/**
 * Grafana configured as its docs describe (grafana.com/docs/grafana/latest/setup-grafana/
 * configure-grafana: grafana.ini over conf/defaults.ini, GF_<SECTION>_<KEY> over both, `$__file{}`
 * expansion), in the three shapes a site holds: the grafana chart's rendered ConfigMap + Deployment
 * (the ini mounted at /etc/grafana/grafana.ini with subPath), kube-prometheus-stack values
 * (`grafana.grafana.ini` map, `envFromSecret`, `env`), and a package install's /etc/grafana/grafana.ini.
 */
const FILES: Record<string, string> = {
  'monitoring/grafana-configmap.yaml': [
    'apiVersion: v1', // 1
    'kind: ConfigMap',
    'metadata:',
    '  name: grafana',
    '  namespace: monitoring', // 5
    'data:',
    '  grafana.ini: |',
    '    [analytics]',
    '    reporting_enabled = false',
    '    check_for_updates = true', // 10
    '    [auth.github]',
    '    enabled = true',
    '    client_id = 0123abcd',
    '    [snapshots]',
    '    external_enabled = false', // 15
    '    [smtp]',
    '    enabled = true',
    '    host = $__file{/etc/secrets/smtp/host}',
    '    [paths]',
    '    data = /var/lib/grafana/', // 20
    '',
  ].join('\n'),
  'monitoring/grafana-deployment.yaml': [
    'apiVersion: apps/v1', // 1
    'kind: Deployment',
    'metadata:',
    '  name: grafana',
    '  namespace: monitoring', // 5
    'spec:',
    '  template:',
    '    spec:',
    '      containers:',
    '        - name: grafana', // 10
    '          image: docker.io/grafana/grafana:11.3.0',
    '          env:',
    '            - name: GF_ANALYTICS_CHECK_FOR_PLUGIN_UPDATES',
    '              valueFrom:',
    '                secretKeyRef:', // 15
    '                  name: grafana-settings',
    '                  key: plugin-updates',
    '          volumeMounts:',
    '            - name: config',
    '              mountPath: "/etc/grafana/grafana.ini"', // 20
    '              subPath: grafana.ini',
    '      volumes:',
    '        - name: config',
    '          configMap:',
    '            name: grafana', // 25
    '',
  ].join('\n'),
  'values/kube-prometheus-stack.yaml': [
    'grafana:', // 1
    '  enabled: true',
    '  envFromSecret: grafana-env',
    '  env:',
    '    GF_ANALYTICS_CHECK_FOR_PLUGIN_UPDATES: "false"', // 5
    '  grafana.ini:',
    '    analytics:',
    '      check_for_updates: false',
    '      reporting_enabled: false',
    '    auth.generic_oauth:', // 10
    '      enabled: true',
    '      auth_url: https://sso.corp.example/authorize',
    '      token_url: https://sso.corp.example/token',
    '      api_url: https://sso.corp.example/userinfo',
    '    external_image_storage:', // 15
    '      provider: s3',
    '    external_image_storage.s3:',
    '      region: eu-central-1',
    '      bucket: grafana-images',
    '',
  ].join('\n'),
  'hosts/etc/grafana/grafana.ini': [
    '[analytics]', // 1
    'reporting_enabled = false',
    'check_for_updates = false',
    'check_for_plugin_updates = false',
    '[plugins]', // 5
    'public_key_retrieval_disabled = true',
    '[snapshots]',
    'external_enabled = false',
    '[database]',
    'type = mysql', // 10
    'host = mysql.db.corp.example:3306',
    '[remote_cache]',
    'type = redis',
    'connstr = addr=redis-grafana.cache.corp.example:6379,pool_size=100,db=0',
    '',
  ].join('\n'),
};

describe('recall17: Grafana settings from grafana.ini, its ConfigMap, Helm values and GF_ variables', () => {
  const repo = auditedRepo('ferry-recall17-grafana-', FILES, MANIFEST, NESTED_SITE_TARGET);
  const cm = 'repo/monitoring/grafana-configmap.yaml';
  const deploy = 'repo/monitoring/grafana-deployment.yaml';

  it('the ConfigMap a Grafana container mounts as its grafana.ini is read for that container: reporting turned off there is no finding, the update check left on is one, at its line', () => {
    expect(repo.findings.filter((f) => f.host === 'stats.grafana.org')).toEqual([]);
    const check = repo.one(cm, 10);
    expect(check).toMatchObject({ value: 'https://grafana.com', host: 'grafana.com', class: 'undeclared' });
    expect(check.note).toContain('Grafana container grafana of Deployment grafana: the Grafana version check');
    // External snapshots are off in the ini: snapshots.raintank.io is not reported for this container.
    expect(repo.findings.filter((f) => f.host === 'snapshots.raintank.io' && f.file !== 'repo/values/kube-prometheus-stack.yaml')).toEqual([]);
  });

  it('an OAuth provider enabled in grafana.ini without its URLs goes to its defaults; an SMTP host from $__file{} is unknown, named', () => {
    expect(repo.at(cm, 12).map((f) => f.value).sort()).toEqual(['https://api.github.com/user', 'https://github.com/login/oauth/access_token', 'https://github.com/login/oauth/authorize']);
    const smtp = repo.one(cm, 18);
    expect(smtp.host).toBe('unknown');
    expect(smtp.note).toContain('$__file{/etc/secrets/smtp/host}');
  });

  it("the container's env: a setting from a Secret is unknown and named; a default left on (plugin key retrieval) is reported at the image", () => {
    const plugins = repo.one(deploy, 13);
    expect(plugins).toMatchObject({ value: 'https://grafana.com/api', host: 'grafana.com' });
    expect(plugins.note).toContain('Secret grafana-settings key plugin-updates');
    const keys = repo.at(deploy, 11).filter((f) => f.kind === 'url');
    // The news feed's switch is unset and its default differs between releases: reported, said unknown (recall20).
    expect(keys.map((f) => f.value)).toEqual(['https://grafana.com/api', 'https://grafana.com/blog/news.xml']);
    expect(keys[1].note).toContain('whether it is on is unknown');
    expect(keys[0].note).toContain('[plugins] public_key_retrieval_disabled defaults to false');
  });

  it("kube-prometheus-stack values: grafana.ini's map and env turn checks off, envFromSecret is named, the S3 image store is its region's endpoint", () => {
    const vals = 'repo/values/kube-prometheus-stack.yaml';
    expect(repo.at(vals, 6).map((f) => f.value).sort()).toEqual(['https://grafana.com/api', 'https://grafana.com/blog/news.xml', 'https://snapshots.raintank.io']);
    for (const f of repo.at(vals, 6)) expect(f.note).toContain("the values' envFromSecret grafana-env may set it");
    expect(repo.one(vals, 18)).toMatchObject({ value: 'https://s3.eu-central-1.amazonaws.com', keyPath: 'grafana.grafana.ini.external_image_storage.s3.region' });
    expect(repo.one(vals, 13).host).toBe('sso.corp.example');
  });

  it('a grafana.ini file: everything turned off is no finding; its remote database and redis cache are found and said so', () => {
    const ini = 'repo/hosts/etc/grafana/grafana.ini';
    // Line 1: the news feed, whose switch this file leaves to a default that differs between releases (recall20).
    expect(repo.findings.filter((f) => f.file === ini).map((f) => `${f.line} ${f.host}`).sort()).toEqual(['1 grafana.com', '11 mysql.db.corp.example', '14 redis-grafana.cache.corp.example']);
    expect(repo.one(ini, 11).note).toContain('the mysql database Grafana connects to');
    expect(repo.one(ini, 14).note).toContain('the redis remote cache');
  });
});
