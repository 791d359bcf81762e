import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../support/cli.js';
import { loadValidators, validateFirewall } from '../support/firewall-validate.js';

/**
 * A compliance reviewer (round 42) checks each claim of `inventory` and `audit` against what the
 * manifest and the tree actually say:
 *
 * - a connection with no `status` was counted "confirmed" (AC.L2-3.1.3 [d], CA-9 a) though nobody
 *   wrote so; the firewall still allows it (a listed flow), and the evidence now says "no status recorded";
 * - AC.L1 [a] (flows with `scope: external`) and SC-7 b (inbound from a zone marked `external`)
 *   counted two different things under one word; each now names its rule, and a flow where they
 *   disagree is named;
 * - "Mirrored upstreams" listed docker.io's API, auth and CDN hosts as upstreams of their own;
 * - `audit` took `${HOST}`, `$(SVC)`, `$VAR` in a URL's host as a host named `${host}`;
 * - a values image map with `tag: ""` read as untagged (latest), and `{repository: x}` with no tag
 *   key under an image key was no finding at all;
 * - a check written `{name, value}` was refused with no hint of `key` / `equals`.
 */
let work: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-newuser42-'));
  await loadValidators();
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const row = (md: string, prefix: string) => md.split('\n').find((l) => l.startsWith(prefix)) ?? '';

const boundary = (status: string) => `apiVersion: ferry/v1alpha1
kind: Manifest
metadata: { name: boundary }
zones:
  - { name: enclave, cidrs: [10.20.0.0/24], self: true }
  - { name: db, cidrs: [10.30.0.0/24] }
  - { name: operators, cidrs: [192.0.2.0/24], external: true }
  - { name: internet, external: true }
images:
  - ref: docker.io/library/nginx:1.27.3
connections:
  - name: app-db
    component: app
    from: enclave
    to: db
    direction: internal
    scope: cluster
    protocol: PostgreSQL
    ports: [5432]
    purpose: orders${status}
  - name: app-cache
    component: app
    from: enclave
    to: db
    direction: internal
    scope: cluster
    protocol: Redis
    ports: [6379]
    purpose: cache
    status: confirmed
  - name: ops-ssh
    component: sshd
    from: operators
    to: enclave
    direction: inbound
    scope: cluster
    protocol: SSH
    ports: [22]
    purpose: operator access
  - name: public-https
    component: ingress
    from: internet
    to: enclave
    direction: inbound
    scope: external
    protocol: HTTPS
    ports: [443]
    purpose: the shop
    status: confirmed
`;

describe('newuser42: a compliance reviewer checks what the evidence claims', () => {
  it('a flow with no status is not counted as recorded confirmed; the firewall allows it as one that says confirmed', async () => {
    const unwritten = path.join(work, 'unwritten.yaml');
    const written = path.join(work, 'written.yaml');
    await writeFile(unwritten, boundary(''));
    await writeFile(written, boundary('\n    status: confirmed'));
    const inv = await runFerry(['inventory', unwritten, '--format', 'md']);
    expect(inv.code, inv.stderr).toBe(0);
    const d = row(inv.stdout, '| AC.L2-3.1.3 | [d] |');
    // Two of four flows say `status: confirmed`; two say nothing.
    expect(d).toContain('Of 4 flow(s): 2 recorded as confirmed, 2 with no status recorded (taken as confirmed), 0 TBD or blocked');
    expect(row(inv.stdout, '| CA-9 | a |')).toContain('Of 3 internal connection(s) (scope not external): 1 recorded as confirmed, 2 with no status recorded (taken as confirmed), 0 TBD or blocked');
    const json = await runFerry(['inventory', unwritten, '--format', 'json']);
    const rows = (JSON.parse(json.stdout) as { matrix: Array<{ name: string; status: string; statusRecorded: boolean }> }).matrix;
    expect(rows.map((r) => [r.name, r.status, r.statusRecorded])).toEqual([
      ['app-db', 'confirmed', false],
      ['app-cache', 'confirmed', true],
      ['ops-ssh', 'confirmed', false],
      ['public-https', 'confirmed', true],
    ]);
    const csv = await runFerry(['inventory', unwritten, '--format', 'csv']);
    const lines = csv.stdout.trim().split('\n');
    expect(lines[0].split(',').at(-1)).toBe('status_recorded');
    expect(lines[1].split(',').at(-1)).toBe('no (taken as confirmed)');
    // Decided: a listed flow with no status is allowed, as before (the rules are the same as with
    // `status: confirmed` written), and nft reads the file.
    const a = await runFerry(['firewall', unwritten, '--format', 'nftables']);
    const b = await runFerry(['firewall', written, '--format', 'nftables']);
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout).toBe(b.stdout);
    expect(a.stdout).toMatch(/# app-db, app-cache: .*\n +ip daddr @zone_db tcp dport \{ 5432, 6379 \} accept/);
    expect(a.stdout).toMatch(/# ops-ssh: .*\n +ip saddr @zone_operators tcp dport 22 accept/);
    await validateFirewall(work, 'nftables', a.stdout, 'newuser42 unwritten status');
  });

  it('AC.L1 [a] and SC-7 b each say which "external" they count, and name the flow where scope and zone disagree', async () => {
    const m = path.join(work, 'scopes.yaml');
    await writeFile(m, boundary(''));
    const inv = await runFerry(['inventory', m, '--format', 'md']);
    expect(inv.code, inv.stderr).toBe(0);
    expect(row(inv.stdout, '| AC.L1-b.1.iii (AC.L1-3.1.20) | [a] |')).toContain('1 flow(s) with scope: external (each flow\'s own field, not its zones\' external flag)');
    const b = row(inv.stdout, '| SC-7 | b |');
    // ops-ssh comes from the operators zone (external: true) but is written scope: cluster.
    expect(b).toContain('Inbound listeners from a zone marked external: true: 2 (ops-ssh, public-https)');
    expect(b).toContain('1 inbound flow(s) have scope: external (as AC.L1 [a] counts)');
    expect(b).toContain('scope and source zone disagree: 1 (ops-ssh)');
  });

  it('Mirrored upstreams: one docker.io image is one upstream, its API, auth and CDN hosts named with it', async () => {
    const m = path.join(work, 'hub.yaml');
    await writeFile(m, boundary(''));
    const inv = await runFerry(['inventory', m, '--format', 'md']);
    expect(inv.code, inv.stderr).toBe(0);
    const section = inv.stdout.split('## Mirrored upstreams')[1].split('\n## ')[0];
    const tableRows = section.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| Host'));
    expect(tableRows).toEqual(['| docker.io (also auth.docker.io, production.cloudflare.docker.com, registry-1.docker.io) | image | 1 |']);
    expect(row(inv.stdout, '| AC.L1-b.1.iii (AC.L1-3.1.20) | [b] |')).toContain('1 upstream source(s) (4 host(s) with their API, auth and download hosts)');
    const json = JSON.parse((await runFerry(['inventory', m, '--format', 'json'])).stdout) as { mirrored: Array<{ host: string; serviceHosts: string[] }> };
    expect(json.mirrored.map((x) => [x.host, x.serviceHosts])).toEqual([['docker.io', ['auth.docker.io', 'production.cloudflare.docker.com', 'registry-1.docker.io']]]);
  });

  it('audit: a URL whose host is a variable is host unknown, with a note, like a template action', async () => {
    const tree = path.join(work, 'vars');
    await mkdir(tree, { recursive: true });
    await writeFile(
      path.join(tree, 'deploy.yaml'),
      'apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: x }\nspec:\n  template:\n    spec:\n      containers:\n        - name: a\n          image: nginx:1.27.3\n          env:\n            - { name: A, value: "https://${HOST}/x" }\n            - { name: B, value: "http://$(SVC):80" }\n            - { name: C, value: "https://$VAR/path" }\n            - { name: D, value: "https://api.${DOMAIN}/v1" }\n',
    );
    const m = path.join(work, 'hub.yaml');
    await writeFile(m, boundary(''));
    const r = await runFerry(['audit', tree, '--manifest', m, '--format', 'json']);
    const findings = (JSON.parse(r.stdout) as { findings: Array<{ value: string; host: string; class: string; note?: string }> }).findings;
    const of = (v: string) => findings.find((f) => f.value === v);
    for (const [value, variable] of [
      ['https://${HOST}/x', '${HOST}'],
      ['http://$(SVC):80', '$(SVC)'],
      ['https://$VAR/path', '$VAR'],
      ['https://api.${DOMAIN}/v1', '${DOMAIN}'],
    ]) {
      const f = of(value);
      expect([f?.host, f?.class], value).toEqual(['unknown', 'undeclared']);
      expect(f?.note).toContain(`its host is a variable, ${variable},`);
      expect(f?.note).toContain('which destination it names is unknown here');
    }
  });

  it('audit: a values image with tag "" or no tag key is found at its line, its tag unknown (the chart decides), never latest', async () => {
    const tree = path.join(work, 'otel');
    await mkdir(tree, { recursive: true });
    // As the OpenTelemetry demo chart's values write them.
    await writeFile(
      path.join(tree, 'values.yaml'),
      [
        'default:',
        '  image:',
        '    repository: ghcr.io/open-telemetry/demo',
        '    tag: ""',
        '    pullPolicy: IfNotPresent',
        'opentelemetry-collector:',
        '  collectorImage:',
        '    repository: otel/opentelemetry-collector-k8s',
        'other:',
        '  image:',
        '    repository: otel/opentelemetry-collector-k8s',
        '    tag: 0.120.0',
        '',
      ].join('\n'),
    );
    const m = path.join(work, 'hub.yaml');
    const r = await runFerry(['audit', tree, '--manifest', m, '--format', 'json']);
    const findings = (JSON.parse(r.stdout) as { findings: Array<{ line: number; keyPath: string; value: string; note?: string }> }).findings.filter((f) => f.keyPath.endsWith('mage'));
    expect(findings.map((f) => [f.line, f.keyPath, f.value])).toEqual([
      [3, 'default.image', 'ghcr.io/open-telemetry/demo'],
      [8, 'opentelemetry-collector.collectorImage', 'otel/opentelemetry-collector-k8s'],
      [11, 'other.image', 'otel/opentelemetry-collector-k8s:0.120.0'],
    ]);
    expect(findings[0].note).toContain('the tag is not written here (tag: ""): the chart or operator reading this map decides it');
    expect(findings[0].note).toContain('unknown here, not latest');
    expect(findings[1].note).toContain('the tag is not written here (no tag key)');
    expect(findings[2].note ?? '').not.toContain('tag is not written');
  });

  it('a check written {name, value} is refused naming the schema fields it meant: key, equals', async () => {
    const m = path.join(work, 'bad-check.yaml');
    await writeFile(m, `apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: bad }\nzones: [{ name: app, self: true }]\nendpoints:\n  - name: t\n    category: telemetry\n    urls: [https://t.example.com]\n    from: app\n    purpose: p\n    mitigation: { type: disabled }\n    checks: [{ kind: env, name: T, value: "false", colour: red }]\n`);
    const r = await runFerry(['inventory', m]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('endpoints[0].checks[0]: unknown fields "name" (did you mean "key"?), "value" (did you mean "equals" or "notEquals"?), "colour"; endpoints[0].checks[0] takes kind, key, pattern, equals, notEquals, present, whenMissing, files, description');
  });

  it('a target written registry: {host: …} is pointed at the required url it lacks, not at every field whose description says "host"', async () => {
    const t = path.join(work, 'host-target.yaml');
    await writeFile(t, 'apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: t }\nregistry: { host: mirror.example:5000 }\n');
    const v = path.join(work, 'values.yaml');
    await writeFile(v, 'image: docker.io/library/nginx:1.27\n');
    const r = await runFerry(['rewrite', 'values', v, '--target', t]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('registry: unknown field "host" (did you mean "url"?)');
  });
});
