import { describe, expect, it } from 'vitest';
import { auditedRepo } from '../support/audit-repo.js';
import { NESTED_SITE_TARGET } from '../support/offline-lock.js';

const MANIFEST = 'apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: site }\nimages: []\n';

/**
 * Grafana's outside connections recall17 left unread: data source provisioning (a provisioning file,
 * a sidecar ConfigMap key, the grafana chart's `datasources: {datasources.yaml: …}` values), the
 * renderer / tracing / Live HA / news / Okta / Azure AD settings of grafana.ini, and a Compose
 * service's Grafana with its `environment:` and the grafana.ini it bind-mounts.
 */
const FILES: Record<string, string> = {
  'provisioning/datasources/datasources.yaml': [
    'apiVersion: 1', // 1
    'datasources:',
    '  - name: Prometheus',
    '    type: prometheus',
    '    url: http://prometheus-server.monitoring.svc:9090', // 5
    '  - name: Tempo',
    '    type: tempo',
    '    url: https://tempo.corp.example',
    '    jsonData:',
    '      httpHeaderName1: X-Scope-OrgID', // 10
    '      tracesToLogsV2:',
    '        datasourceUid: loki',
    '  - name: Postgres',
    '    type: grafana-postgresql-datasource',
    '    url: pg-grafana.corp:5432', // 15
    '  - name: Loki',
    '    type: loki',
    '    access: direct',
    '    url: $LOKI_URL',
    '',
  ].join('\n'),
  'monitoring/grafana-datasources-cm.yaml': [
    'apiVersion: v1', // 1
    'kind: ConfigMap',
    'metadata:',
    '  name: grafana-datasources',
    '  labels: { grafana_datasource: "1" }', // 5
    'data:',
    '  loki.yaml: |',
    '    apiVersion: 1',
    '    datasources:',
    '      - name: Loki', // 10
    '        type: loki',
    '        url: mysql-grafana.logs:3100',
    '',
  ].join('\n'),
  'values/grafana.yaml': [
    'datasources:', // 1
    '  datasources.yaml:',
    '    apiVersion: 1',
    '    datasources:',
    '      - name: Mimir', // 5
    '        type: prometheus',
    '        url: https://mimir.corp.example/prometheus',
    '',
  ].join('\n'),
  'compose/docker-compose.yml': [
    'services:', // 1
    '  grafana:',
    '    image: grafana/grafana:11.3.0',
    '    environment:',
    '      GF_ANALYTICS_REPORTING_ENABLED: "false"', // 5
    '      GF_RENDERING_SERVER_URL: http://renderer:8081/render',
    '    volumes:',
    '      - ./grafana.ini:/etc/grafana/grafana.ini:ro',
    '',
  ].join('\n'),
  'compose/grafana.ini': [
    '[analytics]', // 1
    'check_for_updates = false',
    'check_for_plugin_updates = false',
    '[plugins]',
    'public_key_retrieval_disabled = true', // 5
    '[snapshots]',
    'external_enabled = false',
    '[news]',
    'news_feed_enabled = true',
    '[tracing.opentelemetry.otlp]', // 10
    'address = otel-collector.corp:4317',
    '[live]',
    'ha_engine = redis',
    'ha_engine_address = live-redis.corp:6379',
    '[auth.azuread]', // 15
    'enabled = true',
    '[auth.okta]',
    'enabled = true',
    '',
  ].join('\n'),
};

describe('recall20: Grafana data sources, renderer/tracing/Live/news/OAuth settings and a Compose service', () => {
  const repo = auditedRepo('ferry-recall20-grafana-', FILES, MANIFEST, NESTED_SITE_TARGET);
  const ds = 'repo/provisioning/datasources/datasources.yaml';
  const compose = 'repo/compose/docker-compose.yml';
  const ini = 'repo/compose/grafana.ini';

  it('a provisioning file: each url is a data source Grafana connects to; a .svc one internal; a host:port without scheme a host; $VAR unknown, named; jsonData headers and links are no finding', () => {
    expect(repo.one(ds, 5)).toMatchObject({ host: 'prometheus-server.monitoring.svc', class: 'internal' });
    expect(repo.one(ds, 5).note).toContain('Grafana data source "Prometheus"');
    expect(repo.one(ds, 8).note).toContain('Grafana data source "Tempo" (type tempo');
    expect(repo.one(ds, 8).note).toContain('the Grafana server connects to it');
    expect(repo.findings.filter((f) => f.file === ds && f.line >= 9 && f.line <= 12)).toEqual([]);
    expect(repo.one(ds, 15)).toMatchObject({ host: 'pg-grafana.corp', class: 'undeclared' });
    expect(repo.one(ds, 15).note).toContain('Grafana data source "Postgres"');
    const loki = repo.one(ds, 19);
    expect(loki.host).toBe('unknown');
    expect(loki.note).toContain("the users' browsers connect to it directly");
    expect(loki.note).toContain('$LOKI_URL');
  });

  it("a ConfigMap key and the grafana chart's datasources values are provisioning files too", () => {
    const cm = repo.one('repo/monitoring/grafana-datasources-cm.yaml', 12);
    expect(cm).toMatchObject({ host: 'mysql-grafana.logs' });
    expect(cm.note).toContain('Grafana data source "Loki" (type loki, ConfigMap grafana-datasources key loki.yaml)');
    expect(repo.one('repo/values/grafana.yaml', 7).note).toContain('Grafana data source "Mimir"');
  });

  it("a Compose service's Grafana reads its environment and the grafana.ini it mounts: turned-off checks are no finding, the renderer, OTLP collector, Live redis, news feed and Azure AD login are", () => {
    expect(repo.findings.filter((f) => ['stats.grafana.org', 'snapshots.raintank.io'].includes(f.host))).toEqual([]);
    expect(repo.one(compose, 6).note).toContain('Grafana (Compose service grafana): the remote image renderer');
    expect(repo.one(ini, 11)).toMatchObject({ host: 'otel-collector.corp' });
    expect(repo.one(ini, 11).note).toContain('Compose service grafana');
    expect(repo.one(ini, 14).note).toContain("the redis server of Grafana Live's HA engine");
    expect(repo.one(ini, 9)).toMatchObject({ value: 'https://grafana.com/blog/news.xml', host: 'grafana.com' });
    expect(repo.one(ini, 9).note).toContain("fetched by the users' browsers");
    expect(repo.at(ini, 16).map((f) => f.host)).toEqual(['login.microsoftonline.com', 'login.microsoftonline.com']);
    const okta = repo.at(ini, 18);
    expect(okta.map((f) => f.host)).toEqual(['unknown', 'unknown', 'unknown']);
    expect(okta[0].note).toContain('https://<tenant-id>.okta.com/oauth2/v1/');
  });
});
