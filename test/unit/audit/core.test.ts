import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { referencesIn, scanPaths } from '../../../src/audit/scan.js';
import { runCheck } from '../../../src/audit/audit.js';
import { buildConnectionModel } from '../../../src/audit/model.js';
import { probe, type ProbeDeps } from '../../../src/audit/probe.js';
import { validateManifest } from '../../../src/kinds/schema.js';
import { CheckSchema } from '../../../src/kinds/endpoint/spec.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-scan-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const loaded = (raw: unknown) => ({ manifest: validateManifest(raw, 'inline'), file: 'inline.yaml', dir: '.', digest: 'sha256:x' });

describe('referencesIn', () => {
  it('finds URLs, oci:// references, images with a registry and bare hostnames, once each', () => {
    expect(referencesIn('see https://a.example.com/x, oci://quay.io/jetstack/charts and smtp.corp.example.com:587', false)).toEqual([
      { kind: 'url', value: 'https://a.example.com/x' },
      { kind: 'oci', value: 'oci://quay.io/jetstack/charts' },
      { kind: 'host', value: 'smtp.corp.example.com:587' },
    ]);
    expect(referencesIn('ghcr.io/acme/app:1.2 and github.com/acme/app', false)).toEqual([
      { kind: 'image', value: 'ghcr.io/acme/app:1.2' },
      { kind: 'host', value: 'github.com' },
    ]);
    expect(referencesIn('bitnami/kubectl:latest', true)).toEqual([{ kind: 'image', value: 'bitnami/kubectl:latest' }]);
    expect(referencesIn('values.yaml and 1.2.3', false)).toEqual([]);
  });
});

describe('scanPaths', () => {
  it('gives line and key path in YAML (block scalars too), TOML tables and env files', async () => {
    await writeFile(path.join(dir, 'v.yaml'), 'a:\n  b:\n    - url: https://x.example.com\n  script: |\n    echo hi\n    curl https://y.example.org/z\n');
    await writeFile(path.join(dir, 'c.toml'), '[server]\nupstream = "https://t.example.net"\n[[mirrors]]\nurl = "https://m.example.io"\n');
    await writeFile(path.join(dir, '.env'), 'export SPX_NO_TELEMETRY=1\nAPI=https://e.example.com\n');
    await writeFile(path.join(dir, 'bin.dat'), Buffer.from([0, 1, 2, 104, 116]));
    const scan = await scanPaths([dir], dir);
    expect(scan.files.map((f) => [f.file, f.type])).toEqual([
      ['.env', 'env'],
      ['c.toml', 'toml'],
      ['v.yaml', 'yaml'],
    ]);
    expect(scan.references.map((r) => `${r.file}:${r.line} ${r.keyPath ?? ''} ${r.value}`)).toEqual([
      '.env:2 API https://e.example.com',
      'c.toml:2 server.upstream https://t.example.net',
      'c.toml:4 mirrors.url https://m.example.io',
      'v.yaml:3 a.b[0].url https://x.example.com',
      'v.yaml:6 a.script https://y.example.org/z',
    ]);
    expect(scan.settings).toContainEqual({ file: '.env', line: 1, key: 'SPX_NO_TELEMETRY', value: '1', source: 'env' });
  });
});

describe('mitigation checks', () => {
  it('present / equals / notEquals / whenMissing / text, never echoing a present value', async () => {
    await writeFile(path.join(dir, 'values.yaml'), 'cmon:\n  license: SECRET\nccx:\n  services:\n    billing:\n      stripe: true\n');
    await writeFile(path.join(dir, 'run.sh'), 'SPX_NO_TELEMETRY=1 spx admin init --no-telemetry\n');
    const scan = await scanPaths([path.join(dir, 'values.yaml'), path.join(dir, 'run.sh')], dir);
    const check = (c: unknown) => runCheck(CheckSchema.parse(c), scan);
    expect(check({ kind: 'values', key: 'cmon.license' })).toEqual({ status: 'met', evidence: 'values.yaml:2 cmon.license is set' });
    expect(check({ kind: 'values', key: 'ccx.services.billing.stripe', notEquals: true, whenMissing: 'met' })).toEqual({ status: 'unmet', evidence: 'values.yaml:6 ccx.services.billing.stripe=true' });
    expect(check({ kind: 'values', key: 'external-dns.enabled', notEquals: true, whenMissing: 'met' }).status).toBe('met');
    expect(check({ kind: 'env', key: 'SPX_NO_TELEMETRY', equals: 1 })).toEqual({ status: 'met', evidence: 'run.sh:1 SPX_NO_TELEMETRY=1' });
    expect(check({ kind: 'env', key: 'ENABLE_SLACK', notEquals: 'true' }).status).toBe('unmet');
    expect(check({ kind: 'text', pattern: '--no-telemetry' })).toEqual({ status: 'met', evidence: 'run.sh:1' });
    expect(() => CheckSchema.parse({ kind: 'env' })).toThrow(/needs key/);
  });
});

describe('connection model', () => {
  it('expands vars (nested, list vars splat in lists) and lists every broken reference with its path', () => {
    const model = buildConnectionModel(
      loaded({
        apiVersion: 'ferry/v1alpha1',
        kind: 'Manifest',
        metadata: { name: 'm' },
        vars: { region: 'eu-north-1', hosts: ['ec2.<region>.amazonaws.com', 's3.<region>.amazonaws.com'], cidr: '10.0.0.0/8' },
        zones: [{ name: 'a', cidrs: ['<cidr>'] }, { name: 'net', external: true }],
        endpoints: [{ name: 'api', category: 'cloud-api', hosts: ['<hosts>'], from: 'a', purpose: 'p', mitigation: { type: 'exception', reason: 'r', review: '2030-01-01' } }],
      }),
    );
    expect(model.zones[0].cidrs).toEqual(['10.0.0.0/8']);
    expect(model.endpoints[0].hosts).toEqual(['ec2.eu-north-1.amazonaws.com', 's3.eu-north-1.amazonaws.com']);
    expect(() =>
      buildConnectionModel(
        loaded({
          apiVersion: 'ferry/v1alpha1',
          kind: 'Manifest',
          metadata: { name: 'm' },
          zones: [{ name: 'a' }],
          connections: [
            { name: 'c1', from: 'a', to: 'nowhere', direction: 'outbound', scope: 'cluster', protocol: 'TCP', ports: ['9-3'], purpose: 'p' },
            { name: 'c1', from: 'b', to: 'a', endpoint: 'ghost', direction: 'inbound', scope: 'cluster', protocol: 'TCP', purpose: 'p' },
          ],
        }),
      ),
    ).toThrow(
      expect.objectContaining({
        code: 'VALIDATION',
        details: [
          'connections[0].to: no zone named nowhere',
          'connections[0].ports: range 9-3 is not low-high within 0-65535',
          'connections[1].name: duplicate connection c1',
          'connections[1].from: no zone named b',
          'connections[1].endpoint: no endpoint named ghost',
        ],
      }),
    );
  });

  it('schema problems in the manifest carry their path', () => {
    expect(() =>
      validateManifest(
        {
          apiVersion: 'ferry/v1alpha1',
          kind: 'Manifest',
          metadata: { name: 'm' },
          endpoints: [{ name: 'x', category: 'license', from: 'a', purpose: 'p', mitigation: { type: 'exception' } }],
        },
        'inline',
      ),
    ).toThrow(expect.objectContaining({ details: ['endpoints[0].mitigation: an exception needs a reason and a review date', 'endpoints[0]: an endpoint needs hosts or urls (use a <var> placeholder when the operator chooses)'] }));
  });
});

describe('probe', () => {
  /** A manifest of these endpoints, from zone n to the external zone out. */
  const probeModel = (endpoints: unknown[]) =>
    buildConnectionModel(loaded({ apiVersion: 'ferry/v1alpha1', kind: 'Manifest', metadata: { name: 'p' }, zones: [{ name: 'n' }, { name: 'out', external: true }], endpoints }));

  it('a manifest host that is not a name or an address (a line break in it) is not probed nor written into a CONNECT line', async () => {
    const model = probeModel([{ name: 'crafted', category: 'other', hosts: ['x.test:443 HTTP/1.1\r\nHost: y\r\n\r\nGET http://evil.test/'], from: 'n', purpose: 'p', mitigation: { type: 'disabled' } }]);
    const asked: string[] = [];
    const deps: ProbeDeps = {
      lookup: async (h) => (asked.push(`dns ${h}`), ['192.0.2.1']),
      connect: async (a) => (asked.push(`connect ${a}`), { result: 'timed-out' }),
      connectViaProxy: async (_p, h) => (asked.push(`proxy ${h}`), { result: 'reachable', statusCode: 200 }),
      now: () => new Date('2030-01-01T00:00:00Z'),
    };
    const report = await probe(model, { manifestFile: 'p.yaml', timeoutMs: 50, deps, proxies: [{ host: '127.0.0.1', port: 3128, tls: false, source: '--proxy' }] });
    expect(asked).toEqual([]);
    expect(report.records).toHaveLength(1);
    expect(report.records[0].status).toBe('skipped');
    expect(report.records[0].detail).toMatch(/is not a host name or address; not probed/);
  });

  it('records timed out, refused, DNS failure and reachable from what the network answers', async () => {
    const model = probeModel([
      { name: 'slow', category: 'other', hosts: ['slow.test'], from: 'n', purpose: 'p', mitigation: { type: 'disabled' } },
      { name: 'gone', category: 'other', hosts: ['gone.test'], from: 'n', purpose: 'p', mitigation: { type: 'disabled' } },
      { name: 'open', category: 'other', hosts: ['10.0.0.1'], ports: [8443], from: 'n', purpose: 'p', mitigation: { type: 'exception', reason: 'r', review: '2030-01-01' } },
      { name: 'shut', category: 'other', hosts: ['10.0.0.2'], ports: [25], from: 'n', purpose: 'p', mitigation: { type: 'preset' } },
      { name: 'flaky', category: 'other', hosts: ['flaky-dns.test'], from: 'n', purpose: 'p', mitigation: { type: 'disabled' } },
    ]);
    const deps: ProbeDeps = {
      lookup: async (h) => {
        if (h === 'gone.test') throw Object.assign(new Error('nx'), { code: 'ENOTFOUND' });
        // The resolver did not answer: no evidence either way.
        if (h === 'flaky-dns.test') throw Object.assign(new Error('again'), { code: 'EAI_AGAIN' });
        return ['192.0.2.10'];
      },
      connect: async (a, port, timeout) =>
        a === '192.0.2.10' ? { result: 'timed-out', detail: `no answer within ${timeout} ms` } : a === '10.0.0.1' ? { result: 'reachable' } : { result: 'refused', detail: `ECONNREFUSED ${port}` },
      now: () => new Date('2030-01-01T00:00:00Z'),
    };
    const report = await probe(model, { manifestFile: 'p.yaml', timeoutMs: 50, deps });
    expect(report.records.map((r) => [r.name, r.status, r.verdict])).toEqual([
      ['open', 'reachable', 'as-declared'],
      ['shut', 'refused', 'inconclusive'],
      ['flaky', 'error', 'inconclusive'],
      ['gone', 'dns-failed', 'as-declared'],
      ['slow', 'timed-out', 'as-declared'],
    ]);
    expect(report.records.find((r) => r.name === 'flaky')!.detail).toMatch(/EAI_AGAIN.*nothing was tried/);
    expect(report.records.find((r) => r.name === 'slow')!.detail).toBe('no answer within 50 ms');
  });
});

describe('audit classification with a lock', () => {
  it('a digest reference to a locked image is mirrored, mapped to the stored digest', async () => {
    const { auditReferences } = await import('../../../src/audit/audit.js');
    const model = buildConnectionModel(
      loaded({ apiVersion: 'ferry/v1alpha1', kind: 'Manifest', metadata: { name: 'l' }, images: [{ ref: 'quay.io/a/b:1.0' }] }),
    );
    const up = `sha256:${'1'.repeat(64)}`;
    const stored = `sha256:${'2'.repeat(64)}`;
    await writeFile(path.join(dir, 'pod.yaml'), `image: quay.io/a/b@${up}\nother: quay.io/a/b@sha256:${'3'.repeat(64)}\n`);
    const scan = await scanPaths([path.join(dir, 'pod.yaml')], dir);
    const lock = { images: [{ ref: 'quay.io/a/b:1.0', digest: up, storedDigest: stored }] } as never;
    const report = auditReferences(model, { target: { apiVersion: 'ferry/v1alpha1', kind: 'MirrorTarget', metadata: { name: 't' }, registry: { url: 'https://r.internal', layout: 'nested', insecure: false } }, file: 't.yaml', dir: '.' }, scan, { manifestFile: 'l.yaml', lock });
    expect(report.findings.map((f) => [f.line, f.class, f.mirror ?? ''])).toEqual([
      [1, 'mirrored', `r.internal/quay.io/a/b@${stored}`],
      [2, 'undeclared', ''],
    ]);
  });
});

describe('scan: false "met" and missed images (issue 12)', () => {
  it('keys of a Helm env map become env settings, at any depth', async () => {
    const d = await mkdtemp(path.join(os.tmpdir(), 'ferry-envmap-'));
    await writeFile(path.join(d, 'values.yaml'), 'ccx:\n  services:\n    notify_worker:\n      env:\n        ENABLE_SLACK: "true"\n        SLACK_URL: https://hooks.slack.com/x\n');
    const scan = await scanPaths([d], d);
    expect(scan.settings).toContainEqual({ file: 'values.yaml', line: 5, key: 'ENABLE_SLACK', value: 'true', source: 'env' });
    const check = CheckSchema.parse({ kind: 'env', key: 'ENABLE_SLACK', notEquals: 'true', whenMissing: 'met' });
    expect(runCheck(check, scan)).toEqual({ status: 'unmet', evidence: 'values.yaml:5 ENABLE_SLACK=true' });
    await rm(d, { recursive: true, force: true });
  });

  it('initImage, sidecarImage, init_image and extraImages are images (the shared rule)', async () => {
    const d = await mkdtemp(path.join(os.tmpdir(), 'ferry-imgkey-'));
    await writeFile(path.join(d, 'values.yaml'), 'initImage: busybox:1.36\nsidecarImage: redis:7\nworker:\n  init_image: alpine:3.20\nextraImages:\n  - nats:2.10\nimagePullPolicy: Always\n');
    const scan = await scanPaths([d], d);
    expect(scan.references.filter((r) => r.kind === 'image').map((r) => `${r.keyPath} ${r.value}`)).toEqual([
      'initImage busybox:1.36',
      'sidecarImage redis:7',
      'worker.init_image alpine:3.20',
      'extraImages[0] nats:2.10',
    ]);
    await rm(d, { recursive: true, force: true });
  });
});

describe('audit: images as the kubelet pulls them', () => {
  it("a container's bare image name is found, in a workload or a Compose file (it is docker.io/library/<name>:latest); a values key's bare word is not taken for one", async () => {
    const d = await mkdtemp(path.join(os.tmpdir(), 'ferry-bare-'));
    await writeFile(
      path.join(d, 'deploy.yaml'),
      'kind: Deployment\nspec:\n  template:\n    spec:\n      initContainers:\n        - { name: i, image: busybox }\n      containers:\n        - name: a\n          image: nginx\n---\nimage: enabled\n',
    );
    await writeFile(path.join(d, 'compose.yaml'), 'services:\n  web:\n    image: redis\n');
    const scan = await scanPaths([d], d);
    expect(scan.references.filter((r) => r.kind === 'image').map((r) => `${r.file} ${r.line} ${r.keyPath} ${r.value}`)).toEqual([
      'compose.yaml 3 services.web.image redis',
      'deploy.yaml 6 spec.template.spec.initContainers[0].image busybox',
      'deploy.yaml 9 spec.template.spec.containers[0].image nginx',
    ]);
    await rm(d, { recursive: true, force: true });
  });

  it('an untagged reference is :latest on both sides: carried when the other names latest, undeclared when nothing does', async () => {
    const { auditReferences } = await import('../../../src/audit/audit.js');
    const model = buildConnectionModel(
      loaded({ apiVersion: 'ferry/v1alpha1', kind: 'Manifest', metadata: { name: 'l' }, images: [{ ref: 'nginx' }, { ref: 'docker.io/library/busybox:latest' }] }),
    );
    const d = await mkdtemp(path.join(os.tmpdir(), 'ferry-latest-'));
    await writeFile(
      path.join(d, 'pod.yaml'),
      'spec:\n  containers:\n    - { name: a, image: "nginx:latest" }\n    - { name: b, image: busybox }\n    - { name: c, image: redis }\n    - { name: d, image: "busybox:1.36" }\n',
    );
    const scan = await scanPaths([d], d);
    const report = auditReferences(model, undefined, scan, { manifestFile: 'l.yaml' });
    expect(report.findings.map((f) => [f.value, f.class])).toEqual([
      ['nginx:latest', 'mirrored'],
      ['busybox', 'mirrored'],
      ['redis', 'undeclared'],
      ['busybox:1.36', 'undeclared'],
    ]);
    await rm(d, { recursive: true, force: true });
  });
  it('an APT source entry is carried only as far as the mirror has what it asks for (binary packages of the carried suites and components), and still goes out until rewritten', async () => {
    const { auditReferences } = await import('../../../src/audit/audit.js');
    const model = buildConnectionModel(
      loaded({
        apiVersion: 'ferry/v1alpha1',
        kind: 'Manifest',
        metadata: { name: 'a' },
        apt: [{ name: 'vendor', url: 'https://apt.vendor.example/debian', suites: ['bookworm'], components: ['main'], keys: ['k.asc'] }],
      }),
    );
    const d = await mkdtemp(path.join(os.tmpdir(), 'ferry-aptsrc-'));
    await writeFile(
      path.join(d, 'sources.list'),
      [
        'deb [signed-by=/k.gpg] https://apt.vendor.example/debian bookworm main',
        'deb-src https://apt.vendor.example/debian bookworm main',
        'deb https://apt.vendor.example/debian bookworm-backports main',
        'deb https://apt.vendor.example/debian bookworm main contrib',
        '',
      ].join('\n'),
    );
    await writeFile(
      path.join(d, 'vendor.sources'),
      [
        'Types: deb',
        'URIs: https://apt.vendor.example/debian',
        'Suites: bookworm',
        'Components: main',
        '',
        '# both types in one entry',
        'Types: deb deb-src',
        'URIs: https://apt.vendor.example/debian',
        'Suites: bookworm',
        'Components:',
        ' main',
        '',
      ].join('\n'),
    );
    const scan = await scanPaths([d], d);
    const report = auditReferences(model, undefined, scan, { manifestFile: 'a.yaml' });
    expect(report.findings.map((f) => [`${f.file}:${f.line}`, f.class, f.note ?? ''])).toEqual([
      // Carried, but apt fetches the entry as written: it still goes out until rewrite apt-sources points it at the mirror.
      ['sources.list:1', 'undeclared', 'carried, but apt fetches a source entry from the URL written: nothing redirects it to the mirror; point it at the mirror (`ferry rewrite apt-sources`)'],
      ['sources.list:2', 'undeclared', 'https://apt.vendor.example/debian is mirrored, but not source packages (deb-src: the mirror has no Sources indexes)'],
      ['sources.list:3', 'undeclared', 'https://apt.vendor.example/debian is mirrored, but not suite bookworm-backports (carried: bookworm)'],
      ['sources.list:4', 'undeclared', 'https://apt.vendor.example/debian is mirrored, but not component contrib (carried: main)'],
      ['vendor.sources:2', 'undeclared', 'carried, but apt fetches a source entry from the URL written: nothing redirects it to the mirror; point it at the mirror (`ferry rewrite apt-sources`)'],
      ['vendor.sources:8', 'undeclared', 'https://apt.vendor.example/debian is mirrored, but not source packages (deb-src: the mirror has no Sources indexes)'],
    ]);
    await rm(d, { recursive: true, force: true });
  });
});
