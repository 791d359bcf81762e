import { rm } from 'node:fs/promises';
import { afterAll, describe, expect, it } from 'vitest';
import type { AuditReport } from '../../src/audit/audit.js';
import { auditTreeReport } from '../support/audit-repo.js';
import { NESTED_SITE_TARGET } from '../support/offline-lock.js';

/**
 * Hostile pass 48 on the audit's newest readers (web servers, handed images, implied egress, GitLab
 * runner config, sourced shell files): crafted files that crashed the audit, ran it out of heap, or
 * made it quadratic (minutes to hours on a few MB). Each test completes on the new code; on the old
 * one it crashed, ran out of heap, or did not finish within the test's time.
 */
const MANIFEST = 'apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata:\n  name: m\nimages: []\n';
const works: string[] = [];
afterAll(async () => {
  for (const w of works) await rm(w, { recursive: true, force: true });
});

/** The audit of `files` under `dir`, with an empty manifest and a site target; exit 0 expected. */
async function auditTree(dir: string, files: Record<string, string>, env?: NodeJS.ProcessEnv): Promise<AuditReport> {
  const { work, report } = await auditTreeReport('ferry-h48-audit-', dir, files, MANIFEST, NESTED_SITE_TARGET, env);
  works.push(work);
  return report;
}

const HEAP_512 = { NODE_OPTIONS: '--max-old-space-size=512' };

describe('web server configurations', () => {
  it('an Apache Define filled into a 4.5 MB line grows it by at most 64 KiB, said so (the audit died on "Invalid string length")', async () => {
    const value = `https://api.vendor.example/${'p'.repeat(900)}`;
    const report = await auditTree('httpd', {
      'httpd.conf': `Define A ${value}\nRedirect / \${A}\nServerAlias ${'${A} '.repeat(900_000)}\n`,
    });
    const at = (line: number) => report.findings.filter((f) => f.file === 'httpd/httpd.conf' && f.line === line);
    // A line within the bound is filled in as before.
    expect(at(2).map((f) => f.value)).toEqual([value]);
    const big = at(3);
    expect(big.map((f) => f.value)).toEqual([value]);
    expect(`${big[0].provenance ?? ''} ${big[0].note ?? ''}`).toMatch(/would grow by more than 65536 characters .*left as written, not followed/);
  }, 60_000);

  it('nginx set values are followed for at most 4096 destinations in a file; the rest said unknown with the bound, within 512 MB of heap', async () => {
    const sets = Array.from({ length: 256 }, (_, i) => `set $backend https://h${i}.vendor.example;\n`).join('');
    const long = `proxy_pass $backend/${'x'.repeat(3000)};\n`;
    const report = await auditTree('nginx', { 'nginx.conf': `${sets}${long}${'proxy_pass $backend;\n'.repeat(3000)}` }, HEAP_512);
    const at = (line: number) => report.findings.filter((f) => f.file === 'nginx/nginx.conf' && f.line === line);
    const text = (f: { provenance?: string; note?: string }) => `${f.provenance ?? ''} ${f.note ?? ''}`;
    // A path after the variable longer than 2048 characters: not followed, said so.
    expect(at(257).map((f) => f.value)).toEqual(['$backend']);
    expect(text(at(257)[0])).toMatch(/what follows \$backend is longer than 2048 characters/);
    // The first 16 proxy_pass lines take the 4096 destinations, each finding naming its own value.
    const first = at(258);
    expect(first.map((f) => f.host).sort()).toEqual(Array.from({ length: 256 }, (_, i) => `h${i}.vendor.example`).sort());
    const h7 = first.find((f) => f.host === 'h7.vendor.example')!;
    expect(text(h7)).toMatch(/\$backend is https:\/\/h7\.vendor\.example \(set at line 8\), one of 256 values/);
    expect(text(h7)).not.toMatch(/h8\.vendor/);
    expect(at(273)).toHaveLength(256);
    const past = at(274);
    expect(past.map((f) => [f.value, f.host])).toEqual([['$backend', 'unknown']]);
    expect(text(past[0])).toMatch(/more than 4096 destinations were followed from set values in this file/);
  }, 60_000);
});

describe('quadratic readers', () => {
  it('a config.toml of 300 000 blank lines before [[runners]] (its test crossed line breaks)', async () => {
    // The blank run ends in a key: from each of its lines the old test crossed the rest of it and failed.
    const report = await auditTree('runner', { 'config.toml': `${' \n'.repeat(300_000)}concurrent = 4\n[[runners]]\n  executor = "docker"\n  [runners.docker]\n    image = "quay.io/ci/build:1.2"\n` });
    expect(report.findings.filter((f) => f.kind === 'image').map((f) => [f.value, f.line, f.keyPath])).toEqual([['quay.io/ci/build:1.2', 300_005, 'runners.docker.image']]);
  }, 60_000);

  it('a ConfigMap of 80 000 flat <p>.repository keys', async () => {
    const keys = Array.from({ length: 80_000 }, (_, i) => `  c${i}.repository: quay.io/vendor/c${i}\n`).join('');
    const report = await auditTree('flat', { 'cm.yaml': `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  c.repository: quay.io/vendor/c\n  c.tag: "1.0"\n${keys}` });
    const images = report.findings.filter((f) => f.kind === 'image');
    expect(images).toHaveLength(80_001);
    expect(images.find((f) => f.keyPath === 'data.c.repository')).toMatchObject({ value: 'quay.io/vendor/c:1.0', line: 6 });
    expect(images.find((f) => f.keyPath === 'data.c79999.repository')).toMatchObject({ value: 'quay.io/vendor/c79999', line: 8 + 79_999 });
  }, 60_000);

  it('an Alertmanager config of 60 000 receivers and a ClusterIssuer of 60 000 solvers: each finding at its own line', async () => {
    const am = `route: {}\n${Array.from({ length: 60_000 }, (_, i) => `k${i}: 1\n`).join('')}receivers:\n${Array.from({ length: 60_000 }, (_, i) => `- name: r${i}\n  pagerduty_configs: [{}]\n`).join('')}`;
    const issuer = `apiVersion: cert-manager.io/v1\nkind: ClusterIssuer\nmetadata:\n  name: x\nspec:\n  acme:\n    solvers:\n    - dns01:\n${Array.from({ length: 60_000 }, (_, i) => `        s${i}: {}\n`).join('')}`;
    const report = await auditTree('egress', { 'alertmanager.yaml': am, 'issuer.yaml': issuer });
    const pd = report.findings.filter((f) => f.file === 'egress/alertmanager.yaml' && f.value === 'https://events.pagerduty.com/v2/enqueue');
    expect(pd).toHaveLength(60_000);
    expect(pd.find((f) => f.keyPath === 'receivers[59999].pagerduty_configs[0]')?.line).toBe(60_004 + 2 * 59_999);
    const solvers = report.findings.filter((f) => f.file === 'egress/issuer.yaml' && f.host === 'unknown');
    expect(solvers).toHaveLength(60_000);
    expect(solvers.find((f) => f.keyPath === 'spec.acme.solvers[0].dns01.s59999')?.line).toBe(9 + 59_999);
  }, 60_000);

  it('a YAML file of 150 000 documents (each tested the whole file for the words implied egress reads)', async () => {
    const report = await auditTree('docs', { 'many.yaml': `${'---\na: 1\n'.repeat(150_000)}---\nstorage_config:\n  gcs:\n    bucket_name: logs\n` });
    expect(report.findings.map((f) => [f.value, f.line, f.keyPath])).toEqual([['https://storage.googleapis.com', 300_003, 'storage_config.gcs']]);
  }, 60_000);

  it('an image list under a 1 MB key (its name was found by a pattern retried from every character of the key path)', async () => {
    const report = await auditTree('key', { 'values.json': JSON.stringify({ ['k'.repeat(1_000_000)]: { RELATED_IMAGES: 'a=quay.io/vendor/a:1,b=quay.io/vendor/b:2' } }) });
    expect(report.findings.filter((f) => f.kind === 'image').map((f) => f.value).sort()).toEqual(['quay.io/vendor/a:1', 'quay.io/vendor/b:2']);
  }, 60_000);
});

describe('sourced shell files', () => {
  it('files sourcing files 600 times each are read for at most 100 000 lines; the variables they may set are unknown, said so', async () => {
    const report = await auditTree('src', {
      'run.sh': '. ./a.sh\ndocker compose up -d\n',
      'a.sh': `export REG=reg.vendor.example\n${'. ./b.sh\n'.repeat(600)}`,
      'b.sh': '. ./c.sh\n'.repeat(600),
      'c.sh': 'X=1\n'.repeat(600),
      'compose.yaml': 'services:\n  app:\n    image: ${REG:-docker.io}/app:1\n',
    });
    const image = report.findings.filter((f) => f.file === 'src/compose.yaml' && f.kind === 'image');
    expect(image.map((f) => f.value)).toEqual(['${REG:-docker.io}/app:1']);
    expect(`${image[0].note} ${image[0].provenance ?? ''}`).toMatch(/past the 100000 lines of sourced files read for one file/);
  }, 60_000);

  it('a file sourced a few times is still read (the bound is not reached)', async () => {
    const report = await auditTree('src2', {
      'run.sh': '. ./a.sh\n. ./a.sh\ndocker compose up -d\n',
      'a.sh': 'export REG=reg.vendor.example\n',
      'compose.yaml': 'services:\n  app:\n    image: ${REG:-docker.io}/app:1\n',
    });
    expect(report.findings.filter((f) => f.file === 'src2/compose.yaml' && f.kind === 'image').map((f) => f.value)).toEqual(['reg.vendor.example/app:1']);
  }, 60_000);
});
