import { describe, expect, it } from 'vitest';
import { auditedRepo } from '../support/audit-repo.js';
import { NESTED_SITE_TARGET } from '../support/offline-lock.js';

/**
 * recall3: a destination written where the deploy tool takes a variable's value from another file
 * (Compose's `.env`, Flux's `postBuild` substitutions, Terraform's variables files) is audited as
 * the tool fills it in.
 */
const FILES: Record<string, string> = {
  // Compose: the project's .env, whose values may use the names set above them.
  'stack/.env': [
    'API_HOST=api.vendor.io', // 1
    'REGISTRY_HOST=registry.vendor.io',
    'REGISTRY=${REGISTRY_HOST}:5000',
    'LITERAL=\'${REGISTRY_HOST}\'',
    'FROM_SHELL=${DEPLOY_DOMAIN}/ingest', // 5
    'SITE_FILES=files.site.internal',
    '',
  ].join('\n'),
  'stack/compose.yaml': [
    'services:', // 1
    '  app:',
    '    image: ${REGISTRY}/app:1.0',
    '    environment:',
    '      - API_URL=https://${API_HOST}/v1', // 5
    '      - INGEST=https://${FROM_SHELL}',
    '      - DOWNLOADS=https://${SITE_FILES}/vendor',
    '    healthcheck:',
    '      test: ["CMD", "curl", "-f", "http://${API_HOST}:8080/health"]',
    '  sidecar:', // 10
    '    image: ${LITERAL}/side:2',
    '',
  ].join('\n'),
  // Flux: two clusters apply the same app with different values; a ConfigMap supplies one of them.
  'clusters/prod/apps.yaml': [
    'apiVersion: kustomize.toolkit.fluxcd.io/v1', // 1
    'kind: Kustomization',
    'metadata: {name: apps, namespace: flux-system}',
    'spec:',
    '  path: ./apps', // 5
    '  sourceRef: {kind: GitRepository, name: flux-system}',
    '  postBuild:',
    '    substitute:',
    '      CHART_HOST: charts.vendor.io',
    '    substituteFrom:', // 10
    '      - {kind: ConfigMap, name: cluster-vars}',
    '---',
    'apiVersion: v1',
    'kind: ConfigMap',
    'metadata: {name: cluster-vars, namespace: flux-system}', // 15
    'data:',
    '  TELEMETRY: telemetry.vendor.io',
    '',
  ].join('\n'),
  'clusters/staging/apps.yaml': [
    'apiVersion: kustomize.toolkit.fluxcd.io/v1',
    'kind: Kustomization',
    'metadata: {name: apps, namespace: flux-system}',
    'spec:',
    '  path: ./apps',
    '  sourceRef: {kind: GitRepository, name: flux-system}',
    '  postBuild:',
    '    substitute:',
    '      CHART_HOST: charts.staging.vendor.io',
    '      TELEMETRY: telemetry.staging.vendor.io',
    '',
  ].join('\n'),
  'apps/repo.yaml': [
    'apiVersion: source.toolkit.fluxcd.io/v1', // 1
    'kind: HelmRepository',
    'metadata: {name: vendor, namespace: apps}',
    'spec:',
    '  url: https://${CHART_HOST}/stable', // 5
    '---',
    'apiVersion: apps/v1',
    'kind: Deployment',
    'metadata: {name: web, namespace: apps}',
    'spec:', // 10
    '  template:',
    '    spec:',
    '      containers:',
    '        - name: web',
    '          image: nginx:1.25', // 15
    '          env:',
    '            - name: OTEL_EXPORTER_OTLP_ENDPOINT',
    '              value: https://${TELEMETRY}:4318',
    '            - name: UNSET',
    '              value: https://${NOT_SET_ANYWHERE}/x', // 20
    '---',
    'apiVersion: v1',
    'kind: ConfigMap',
    'metadata:',
    '  name: script', // 25
    '  annotations: {kustomize.toolkit.fluxcd.io/substitute: disabled}',
    'data:',
    '  run.sh: curl https://${TELEMETRY}/x',
    '---',
    'apiVersion: v1', // 30
    'kind: ConfigMap',
    'metadata:',
    '  name: script2',
    '  labels: {kustomize.toolkit.fluxcd.io/substitute: disabled}',
    'data:', // 35
    '  run.sh: curl https://${TELEMETRY}/y',
    '',
  ].join('\n'),
  // Terraform: terraform.tfvars overrides a default, the last *.auto.tfvars the rest; prod.tfvars
  // is read only when -var-file names it.
  'infra/main.tf': [
    'variable "api_host" {', // 1
    '  default = "api.default.vendor.io"',
    '}',
    'variable "mirror_host" {',
    '  default = "mirror.default.vendor.io"', // 5
    '}',
    'variable "repo_host" {',
    '  default = "repo.default.vendor.io"',
    '}',
    'data "http" "api" {', // 10
    '  url = "https://${var.api_host}/v1/status"',
    '}',
    'data "http" "mirror" {',
    '  url = "https://${var.mirror_host}/index"',
    '}', // 15
    'data "http" "repo" {',
    '  url = "https://${var.repo_host}/index"',
    '}',
    '',
  ].join('\n'),
  'infra/terraform.tfvars': 'api_host = "api.tfvars.vendor.io"\nmirror_host = "mirror.tfvars.vendor.io"\n',
  'infra/a.auto.tfvars': 'mirror_host = "mirror.a-auto.vendor.io"\n',
  'infra/b.auto.tfvars.json': '{"mirror_host": "mirror.b-auto.vendor.io"}\n',
  'infra/prod.tfvars': 'repo_host = "repo.prod.vendor.io"\n',
};

const MANIFEST = 'apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: site }\nimages: []\n';
const TARGET = `${NESTED_SITE_TARGET}files:\n  dir: /srv/mirror/files\n  baseUrl: https://files.site.internal\n`;

// One audit of the tree for every test below.
const repo = auditedRepo('ferry-recall3-', FILES, MANIFEST, TARGET);

describe('recall3: Compose interpolates every value of the Compose file from the project .env', () => {
  const line = (file: string, n: number) => repo.at(file, n).map((f) => `${f.kind} ${f.value} ${f.host}`);

  it('a .env value using a name set above it is that value filled in, never the text ${NAME}', () => {
    // Old code: "pulled as ${REGISTRY_HOST}:5000/app:1.0", host ${registry_host}:5000.
    const f = repo.one('repo/stack/compose.yaml', 3);
    expect(f).toEqual(expect.objectContaining({ kind: 'image', value: 'registry.vendor.io:5000/app:1.0', host: 'registry.vendor.io', class: 'undeclared' }));
    // A single-quoted .env value is taken as written (Compose does not interpolate it).
    expect(repo.one('repo/stack/compose.yaml', 11).value).toBe('${REGISTRY_HOST}/side:2');
  });

  it('a URL in an environment entry or a healthcheck is the host the .env gives it', () => {
    // Old code: https://${API_HOST}/v1, host unknown.
    expect(line('repo/stack/compose.yaml', 5)).toEqual(['url https://api.vendor.io/v1 api.vendor.io']);
    expect(line('repo/stack/compose.yaml', 9)).toEqual(['url http://api.vendor.io:8080/health api.vendor.io']);
    expect(repo.one('repo/stack/compose.yaml', 5).provenance).toContain('which Compose interpolates to API_URL=https://api.vendor.io/v1 (repo/stack/.env)');
    // On the site: internal, where the written form was an undeclared unknown host.
    expect(repo.one('repo/stack/compose.yaml', 7)).toEqual(expect.objectContaining({ value: 'https://files.site.internal/vendor', class: 'internal' }));
  });

  it('a .env value that uses a variable the shell must give stays unknown, naming where', () => {
    const f = repo.one('repo/stack/compose.yaml', 6);
    expect(f).toEqual(expect.objectContaining({ host: 'unknown', class: 'undeclared' }));
    expect(f.provenance).toContain('FROM_SHELL in repo/stack/.env:5 is ${DEPLOY_DOMAIN}/ingest');
    expect(f.provenance).toContain('${DEPLOY_DOMAIN} is set neither above it in repo/stack/.env nor by a default');
  });
});

describe('recall3: Flux substitutes every string of the objects a Kustomization applies', () => {
  const hosts = (file: string, n: number) => repo.at(file, n).map((f) => f.host).sort();

  it('a HelmRepository URL and an env value are one finding for each value the Kustomizations set', () => {
    // Old code: one finding each, host unknown.
    expect(hosts('repo/apps/repo.yaml', 5)).toEqual(['charts.staging.vendor.io', 'charts.vendor.io']);
    expect(hosts('repo/apps/repo.yaml', 18)).toEqual(['telemetry.staging.vendor.io', 'telemetry.vendor.io']);
    const prod = repo.at('repo/apps/repo.yaml', 18).find((f) => f.host === 'telemetry.vendor.io')!;
    expect(prod.provenance).toContain('${TELEMETRY}=telemetry.vendor.io (repo/clusters/prod/apps.yaml Kustomization/apps postBuild.substituteFrom ConfigMap/cluster-vars');
    expect(prod.class).toBe('undeclared');
  });

  it('a variable no Kustomization sets stays unknown; an object with substitution disabled is read as written', () => {
    expect(repo.one('repo/apps/repo.yaml', 20)).toEqual(expect.objectContaining({ host: 'unknown', class: 'undeclared' }));
    expect(repo.one('repo/apps/repo.yaml', 28).value).toBe('https://${TELEMETRY}/x');
    expect(repo.one('repo/apps/repo.yaml', 36).value).toBe('https://${TELEMETRY}/y');
  });
});

describe("recall3: Terraform's variable precedence", () => {

  it('terraform.tfvars overrides the default; the last *.auto.tfvars loaded overrides terraform.tfvars', () => {
    // Old code: "set 2 times … depends on how terraform is run": host unknown.
    expect(repo.one('repo/infra/main.tf', 11)).toEqual(expect.objectContaining({ value: 'https://api.tfvars.vendor.io/v1/status', host: 'api.tfvars.vendor.io' }));
    expect(repo.one('repo/infra/main.tf', 14)).toEqual(expect.objectContaining({ value: 'https://mirror.b-auto.vendor.io/index', host: 'mirror.b-auto.vendor.io' }));
  });

  it('a *.tfvars Terraform reads only with -var-file is one candidate among others: one finding per value, each named (recall5)', () => {
    const f = repo.at('repo/infra/main.tf', 17);
    expect(f.map((x) => x.host).sort()).toEqual(['repo.default.vendor.io', 'repo.prod.vendor.io']);
    expect(f.find((x) => x.host === 'repo.prod.vendor.io')!.note).toContain('${var.repo_host}=repo.prod.vendor.io (repo/infra/prod.tfvars:1, one of 2 values');
    expect(f.find((x) => x.host === 'repo.default.vendor.io')!.note).toContain('${var.repo_host}=repo.default.vendor.io (repo/infra/main.tf:8 default, one of 2 values');
  });
});
