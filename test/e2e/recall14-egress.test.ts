import { describe, expect, it } from 'vitest';
import { auditedRepo } from '../support/audit-repo.js';
import { NESTED_SITE_TARGET } from '../support/offline-lock.js';

const MANIFEST = 'apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: site }\nimages: []\n';

/**
 * The Deployment external-dns 1.21.1 (shared corpus, charts/external-dns) renders with its
 * default values (`--provider=aws`) or `provider.name: webhook`, as `helm template` prints it.
 */
const externalDns = (provider: string) =>
  [
    '# Source: external-dns/templates/deployment.yaml', // 1
    'apiVersion: apps/v1',
    'kind: Deployment',
    'metadata:',
    '  name: release-name-external-dns', // 5
    'spec:',
    '  template:',
    '    spec:',
    '      serviceAccountName: release-name-external-dns',
    '      containers:', // 10
    '        - name: external-dns',
    '          image: registry.k8s.io/external-dns/external-dns:v0.21.0',
    '          args:',
    '            - --log-level=info',
    '            - --source=service', // 15
    '            - --registry=txt',
    `            - --provider=${provider}`, // 17
    '',
  ].join('\n');

const FILES: Record<string, string> = {
  'dns/external-dns.yaml': externalDns('aws'),
  'dns/external-dns-webhook.yaml': externalDns('webhook'),
  // cert-manager.io/docs/configuration/acme/dns01/route53 and …/cloudflare
  'certs/issuer.yaml': [
    'apiVersion: cert-manager.io/v1', // 1
    'kind: ClusterIssuer',
    'metadata:',
    '  name: letsencrypt-prod',
    'spec:', // 5
    '  acme:',
    '    server: https://acme-v02.api.letsencrypt.org/directory',
    '    privateKeySecretRef:',
    '      name: letsencrypt-prod',
    '    solvers:', // 10
    '    - dns01:',
    '        route53:',
    '          region: us-east-1',
    '    - dns01:',
    '        cloudflare:', // 15
    '          apiTokenSecretRef: { name: cloudflare-api-token-secret, key: api-token }',
    '    - dns01:',
    '        webhook:',
    '          groupName: acme.vendor.example',
    '          solverName: vendor', // 20
    '',
  ].join('\n'),
  // prometheus.io/docs/alerting/latest/configuration
  'monitoring/alertmanager.yml': [
    'global:', // 1
    "  slack_api_url: 'https://hooks.slack.com/services/T000/B000/XXXX'",
    'route:',
    '  receiver: team',
    'receivers:', // 5
    '  - name: team',
    '    pagerduty_configs:',
    '      - routing_key: abc',
    '    opsgenie_configs:',
    '      - api_key: xyz', // 10
    '        api_url: https://opsgenie.relay.site.example/',
    '',
  ].join('\n'),
  'monitoring/grafana.yaml': [
    'apiVersion: apps/v1', // 1
    'kind: Deployment',
    'metadata: { name: grafana }',
    'spec:',
    '  template:', // 5
    '    spec:',
    '      containers:',
    '      - name: grafana',
    '        image: grafana/grafana:11.1.0',
    '        env:', // 10
    '        - name: GF_INSTALL_PLUGINS',
    '          value: grafana-clock-panel,https://plugins.vendor.example/custom.zip;custom-panel',
    '        - name: GF_ANALYTICS_CHECK_FOR_UPDATES',
    '          value: "false"',
    '',
  ].join('\n'),
  // grafana.com/docs/loki/latest/configure (common.storage.s3, storage_config.gcs)
  'logs/loki.yaml': [
    'common:', // 1
    '  storage:',
    '    s3:',
    '      s3: s3://eu-west-1/loki-chunks',
    'storage_config:', // 5
    '  gcs:',
    '    bucket_name: loki-gcs',
    '',
  ].join('\n'),
  // velero.io/docs (BackupStorageLocation, velero-plugin-for-aws)
  'backup/bsl.yaml': [
    'apiVersion: velero.io/v1', // 1
    'kind: BackupStorageLocation',
    'metadata: { name: default, namespace: velero }',
    'spec:',
    '  provider: aws', // 5
    '  objectStorage: { bucket: velero-backups }',
    '  config:',
    '    region: us-west-2',
    '',
  ].join('\n'),
  'nodes/chrony.conf': 'pool 2.debian.pool.ntp.org iburst\nserver 10.0.0.1 iburst\n',
  'cluster/services.yaml': [
    'apiVersion: v1', // 1
    'kind: Service',
    'metadata: { name: vault }',
    'spec:',
    '  type: ExternalName', // 5
    '  externalName: vault.secrets.internal',
    '',
  ].join('\n'),
  'cluster/webhook.yaml': [
    'apiVersion: admissionregistration.k8s.io/v1', // 1
    'kind: ValidatingWebhookConfiguration',
    'metadata:',
    '  name: policy.vendor.io',
    'webhooks:', // 5
    '- name: validate.policy.vendor.io',
    '  clientConfig:',
    '    url: "https://policy-saas.vendor.io:8443/validate"',
    '',
  ].join('\n'),
  // cert-manager 1.21.1's rendered approver ClusterRole, ingress-nginx 4.15.1's controller args (shared corpus)
  'cluster/names.yaml': [
    'apiVersion: rbac.authorization.k8s.io/v1', // 1
    'kind: ClusterRole',
    'metadata: { name: release-name-cert-manager-controller-approve }',
    'rules:',
    '  - apiGroups: ["cert-manager.io"]', // 5
    '    resources: ["signers"]',
    '    verbs: ["approve"]',
    '    resourceNames:',
    '    - "issuers.cert-manager.io/*"',
    '---', // 10
    'apiVersion: apps/v1',
    'kind: Deployment',
    'metadata: { name: release-name-ingress-nginx-controller }',
    'spec:',
    '  template:', // 15
    '    spec:',
    '      containers:',
    '        - name: controller',
    '          args:',
    '            - --controller-class=k8s.io/ingress-nginx', // 20
    '',
  ].join('\n'),
};

describe('recall14: non-image egress a deployment implies', () => {
  const repo = auditedRepo('ferry-recall14-', FILES, MANIFEST, NESTED_SITE_TARGET);

  it("external-dns's --provider maps to its documented API host; a provider the table lacks is an unknown destination", () => {
    const aws = repo.one('repo/dns/external-dns.yaml', 17);
    expect(aws).toMatchObject({ kind: 'url', value: 'https://route53.amazonaws.com', host: 'route53.amazonaws.com', class: 'undeclared' });
    expect(aws.note).toContain('external-dns --provider=aws calls the AWS Route 53 API (docs.aws.amazon.com/general/latest/gr/r53.html');
    const webhook = repo.one('repo/dns/external-dns-webhook.yaml', 17);
    expect(webhook).toMatchObject({ value: '--provider=webhook', host: 'unknown', class: 'undeclared' });
    expect(webhook.note).toContain("not in ferry's table of provider hosts");
  });

  it('cert-manager: the ACME server and each DNS01 solver API; a webhook solver is unknown', () => {
    expect(repo.one('repo/certs/issuer.yaml', 7).host).toBe('acme-v02.api.letsencrypt.org');
    const r53 = repo.one('repo/certs/issuer.yaml', 12);
    expect(r53).toMatchObject({ value: 'https://route53.amazonaws.com', keyPath: 'spec.acme.solvers[0].dns01.route53' });
    expect(r53.note).toContain("authoritative nameservers over DNS (port 53)");
    expect(repo.one('repo/certs/issuer.yaml', 15)).toMatchObject({ value: 'https://api.cloudflare.com', host: 'api.cloudflare.com' });
    expect(repo.one('repo/certs/issuer.yaml', 18)).toMatchObject({ value: 'dns01.webhook', host: 'unknown' });
  });

  it("Alertmanager: a receiver without its URL sends to the product's default; one with its own URL does not", () => {
    expect(repo.one('repo/monitoring/alertmanager.yml', 2).host).toBe('hooks.slack.com');
    const pd = repo.one('repo/monitoring/alertmanager.yml', 8);
    expect(pd).toMatchObject({ value: 'https://events.pagerduty.com/v2/enqueue', keyPath: 'receivers[0].pagerduty_configs[0]' });
    expect(pd.note).toContain("Alertmanager's default");
    expect(repo.findings.filter((f) => f.host === 'api.opsgenie.com')).toEqual([]);
    expect(repo.one('repo/monitoring/alertmanager.yml', 11).host).toBe('opsgenie.relay.site.example');
  });

  it("Grafana: reporting left at its default is stats.grafana.org, said unknown/default; an update check turned off is none; plugins by id come from grafana.com", () => {
    const stats = repo.at('repo/monitoring/grafana.yaml', 9).find((f) => f.host === 'stats.grafana.org')!;
    expect(stats).toMatchObject({ value: 'https://stats.grafana.org', host: 'stats.grafana.org' });
    expect(stats.note).toContain('unknown/default: GF_ANALYTICS_REPORTING_ENABLED is not set');
    expect(repo.at('repo/monitoring/grafana.yaml', 14)).toEqual([]);
    const plugins = repo.at('repo/monitoring/grafana.yaml', 12);
    expect(plugins.map((f) => f.host).sort()).toEqual(['grafana.com', 'plugins.vendor.example']);
    expect(plugins.find((f) => f.host === 'grafana.com')!.note).toContain('installs grafana-clock-panel from the grafana.com plugin catalog');
  });

  it('object stores named by region or bucket: Loki s3://<region>/, a gcs bucket, a Velero location without s3Url', () => {
    expect(repo.one('repo/logs/loki.yaml', 4)).toMatchObject({ value: 'https://s3.eu-west-1.amazonaws.com', keyPath: 'common.storage.s3.s3' });
    expect(repo.one('repo/logs/loki.yaml', 6)).toMatchObject({ value: 'https://storage.googleapis.com', keyPath: 'storage_config.gcs' });
    const bsl = repo.one('repo/backup/bsl.yaml', 8);
    expect(bsl).toMatchObject({ value: 'https://s3.us-west-2.amazonaws.com', host: 's3.us-west-2.amazonaws.com' });
    expect(bsl.note).toContain('with no s3Url');
  });

  it('NTP servers and ExternalName Services say what they are; any externalName is a host', () => {
    expect(repo.one('repo/nodes/chrony.conf', 1).note).toContain('NTP server (pool in repo/nodes/chrony.conf): time is asked of it over UDP port 123');
    expect(repo.one('repo/nodes/chrony.conf', 2)).toMatchObject({ host: '10.0.0.1' });
    const svc = repo.one('repo/cluster/services.yaml', 6);
    expect(svc).toMatchObject({ kind: 'host', value: 'vault.secrets.internal', class: 'undeclared' });
    expect(svc.note).toContain('ExternalName Service vault');
  });

  it("an object's name, an RBAC rule's resourceNames and a --controller-class are no destinations; a webhook's clientConfig.url is", () => {
    expect(repo.at('repo/cluster/webhook.yaml', 4)).toEqual([]);
    expect(repo.one('repo/cluster/webhook.yaml', 8).host).toBe('policy-saas.vendor.io');
    expect(repo.at('repo/cluster/names.yaml', 9)).toEqual([]);
    expect(repo.at('repo/cluster/names.yaml', 20)).toEqual([]);
  });
});
