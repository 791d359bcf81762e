import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../support/cli.js';
import { startStaticServer, type StaticServer } from '../support/static-http.js';

/**
 * A platform engineer who used skopeo, Helm, Hauler and Zarf does three jobs with ferry from the
 * README alone (the Safespring, Spinifex and metal-stack seeds). What tripped them, each checked
 * here against the real CLI:
 *
 * - `audit`: the site's own proxy, the very host a `proxied` endpoint's mitigation names (and
 *   whose setting is what makes that mitigation met), was reported as an undeclared external
 *   reference, so `--fail-on unmitigated` failed on a fully mitigated site.
 * - `inventory`: a connection narrowed to `hosts: [1.1.1.1]` (Safespring's frame 7) was shown with
 *   the whole destination zone ("internet") in every table, so the reviewed inventory read as an
 *   allow-anything egress while the firewall opens 1.1.1.1 only.
 * - `sbom`: a file pinned by SHA-512 alone (Debian's cloud images publish SHA512SUMS only) got a
 *   purl with no checksum qualifier at all, while a SHA-256-pinned file carries one.
 */
const require = createRequire(import.meta.url);
let work: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-newuser4-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('audit: the proxy a proxied endpoint goes through', () => {
  it('is the site’s own (internal), not an undeclared external reference, and a mitigated site passes --fail-on unmitigated', async () => {
    const dir = path.join(work, 'audit');
    await mkdir(path.join(dir, 'deploy'), { recursive: true });
    const manifest = path.join(dir, 'app.yaml');
    await writeFile(
      manifest,
      [
        'apiVersion: ferry/v1alpha1',
        'kind: Manifest',
        'metadata: { name: app }',
        'zones:',
        '  - { name: cluster, cidrs: [10.0.1.0/24], self: true }',
        '  - { name: internet, external: true }',
        'endpoints:',
        '  - name: ops-webhook',
        '    category: notification',
        '    hosts: [hooks.slack.com]',
        '    from: cluster',
        '    purpose: operator alert webhook',
        '    mitigation: { type: proxied, proxy: "Proxy.Site.Internal:3128" }',
        '    checks:',
        '      - { kind: config, key: alerting.proxy, equals: "http://proxy.site.internal:3128" }',
        '',
      ].join('\n'),
    );
    await writeFile(path.join(dir, 'deploy', 'alerting.yaml'), ['alerting:', '  webhook: https://hooks.slack.com/services/T000/B000/XXXX', '  proxy: http://proxy.site.internal:3128', ''].join('\n'));
    const r = await runFerry(['audit', 'deploy', '--manifest', manifest, '--json', '--fail-on', 'unmitigated'], { cwd: dir });
    expect(r.stderr).not.toContain('undeclared');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as { findings: Array<{ value: string; class: string; note?: string; declaredBy?: string }> };
    const proxy = report.findings.find((f) => f.value === 'http://proxy.site.internal:3128');
    expect(proxy).toMatchObject({ class: 'internal' });
    expect(proxy!.note).toContain('ops-webhook');
    expect(report.findings.find((f) => f.value.startsWith('https://hooks.slack.com/'))).toMatchObject({ class: 'declared-mitigated', declaredBy: 'ops-webhook' });

    // Only the proxy's own host is internal: another host still goes out, undeclared.
    await writeFile(path.join(dir, 'deploy', 'other.yaml'), 'upstream: https://proxy.elsewhere.example/x\n');
    const r2 = await runFerry(['audit', 'deploy', '--manifest', manifest, '--json', '--fail-on', 'unmitigated'], { cwd: dir });
    expect(r2.code).toBe(5);
    expect(JSON.parse(r2.stdout).findings.find((f: { value: string }) => f.value === 'https://proxy.elsewhere.example/x')).toMatchObject({ class: 'undeclared' });
  });
});

describe('inventory: a connection narrowed to hosts', () => {
  it('shows those hosts as its destination (md, json), not the whole destination zone', async () => {
    const dir = path.join(work, 'inventory');
    await mkdir(dir, { recursive: true });
    const manifest = path.join(dir, 'net.yaml');
    await writeFile(
      manifest,
      [
        'apiVersion: ferry/v1alpha1',
        'kind: Manifest',
        'metadata: { name: net }',
        'zones:',
        '  - { name: internet, title: Internet, external: true, cidrs: [0.0.0.0/0] }',
        '  - { name: nat, title: default-v4-nat network, cidrs: [10.9.0.0/16] }',
        'connections:',
        '  - { name: to-one-one, ref: "7", from: nat, to: internet, hosts: [1.1.1.1], direction: outbound, scope: external, protocol: TCP, ports: [443], purpose: egress through NAT }',
        '  - { name: to-zone, ref: "8", from: nat, to: internet, destination: NTP pool, hosts: [192.0.2.1], direction: outbound, scope: external, protocol: NTP, transport: udp, ports: [123], purpose: time }',
        '',
      ].join('\n'),
    );
    const md = await runFerry(['inventory', manifest]);
    expect(md.code, md.stderr).toBe(0);
    const outbound = md.stdout.split('\n').filter((l) => l.startsWith('| 7 |'));
    expect(outbound.length).toBeGreaterThan(0);
    for (const row of outbound) expect(row).toContain('| 1.1.1.1 |');
    // A destination written in the manifest still wins.
    expect(md.stdout.split('\n').find((l) => l.startsWith('| 8 |'))).toContain('| NTP pool |');
    const json = JSON.parse((await runFerry(['inventory', manifest, '--format', 'json'])).stdout);
    const rows = JSON.stringify(json);
    expect(rows).toContain('"destination":"1.1.1.1"');
  });
});

describe('sbom: a file pinned by SHA-512 only', () => {
  let server: StaticServer;
  beforeAll(async () => {
    const root = path.join(work, 'www');
    await mkdir(path.join(root, 'cloud/bookworm'), { recursive: true });
    const body = Buffer.from('debian cloud image bytes\n'.repeat(1000));
    await writeFile(path.join(root, 'cloud/bookworm/debian-12-generic-amd64.qcow2'), body);
    const sha512 = createHash('sha512').update(body).digest('hex');
    await writeFile(path.join(root, 'cloud/bookworm/SHA512SUMS'), `${sha512}  debian-12-generic-amd64.qcow2\n`);
    server = await startStaticServer(root);
  });
  afterAll(async () => server?.close());

  it('names its SHA-512 in the purl checksum qualifier, and the document still validates against CycloneDX 1.6', async () => {
    const dir = path.join(work, 'sbom');
    await mkdir(dir, { recursive: true });
    const manifest = path.join(dir, 'files.yaml');
    await writeFile(
      manifest,
      [
        'apiVersion: ferry/v1alpha1',
        'kind: Manifest',
        'metadata: { name: files }',
        'files:',
        '  - name: debian-12',
        `    url: ${server.url}/cloud/bookworm/debian-12-generic-amd64.qcow2`,
        `    checksums: { url: ${server.url}/cloud/bookworm/SHA512SUMS, algorithm: sha512 }`,
        '',
      ].join('\n'),
    );
    const bundle = path.join(dir, 'files.ferry.tar');
    const c = await runFerry(['bundle', 'create', manifest, '-o', bundle], { env: { FERRY_CACHE_DIR: path.join(work, 'cache') } });
    expect(c.code, c.stderr).toBe(0);
    const r = await runFerry(['sbom', bundle]);
    expect(r.code, r.stderr).toBe(0);
    const bom = JSON.parse(r.stdout) as { components: Array<{ name: string; purl?: string; hashes?: Array<{ alg: string; content: string }> }> };
    const file = bom.components.find((x) => x.name === 'debian-12')!;
    const sha512 = file.hashes!.find((h) => h.alg === 'SHA-512')!.content;
    expect(file.purl).toContain(`checksum=sha512:${sha512}`);

    const CDX = path.join(path.dirname(require.resolve('@cyclonedx/cyclonedx-library/package.json')), 'res', 'schema');
    const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: true });
    addFormats.default(ajv);
    (require('ajv-formats-draft2019') as (a: Ajv) => Ajv)(ajv);
    for (const name of ['spdx.SNAPSHOT.schema.json', 'jsf-0.82.SNAPSHOT.schema.json', 'cryptography-defs.SNAPSHOT.schema.json']) {
      ajv.addSchema(JSON.parse(await readFile(path.join(CDX, name), 'utf8')), `http://cyclonedx.org/schema/${name}`);
    }
    const validate = ajv.compile(JSON.parse(await readFile(path.join(CDX, 'bom-1.6.SNAPSHOT.schema.json'), 'utf8')));
    expect(validate(bom), JSON.stringify(validate.errors)).toBe(true);
  });
});
