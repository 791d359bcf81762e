import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../support/cli.js';

/**
 * A bank's platform team (new-user round 60): cert-manager and ingress-nginx from HTTP chart
 * repositories, Bitnami PostgreSQL from an OCI registry, digest- and tag-pinned images, an Ubuntu
 * cloud image with its signed SHA256SUMS and the PGDG APT repository, into a loopback registry and
 * directory targets, then rewrite, audit, firewall and sbom (the manifest is
 * test/fixtures/newuser60/bank-platform.yaml).
 *
 * What tripped: the ACME endpoint is declared `disabled`, and its check was written as "the ACME
 * URL must not appear in the deployed configuration", `{ kind: text, pattern: acme-v02…, present:
 * false }`. A text check never read `present` (nor `equals`/`notEquals`/`key`): the schema took
 * it, and `audit` reported the mitigation "unmet: not found in the scanned files" — the opposite of
 * what was asked, found by nothing but reading the verdict closely. A field a check's kind does not
 * read is now refused when the manifest is loaded, naming it and what to write instead.
 */
let work: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-newuser60-'));
  await mkdir(path.join(work, 'deploy'), { recursive: true });
  // What the site deploys: the cert-manager values with no ACME issuer and the issuer switch off.
  await writeFile(path.join(work, 'deploy', 'cert-manager-values.yaml'), ['crds:', '  enabled: true', 'acmeIssuer:', '  enabled: false', ''].join('\n'));
});
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

function manifest(check: string): string {
  return [
    'apiVersion: ferry/v1alpha1',
    'kind: Manifest',
    'metadata: { name: bank-platform }',
    'zones:',
    '  - { name: cluster, title: Platform cluster, cidrs: [10.40.0.0/16], self: true }',
    '  - { name: internet, title: Internet, external: true }',
    'endpoints:',
    '  - name: letsencrypt-acme',
    "    title: Let's Encrypt ACME directory",
    '    category: identity',
    '    urls: [https://acme-v02.api.letsencrypt.org/directory]',
    '    from: cluster',
    '    to: internet',
    '    purpose: cert-manager ACME issuance',
    '    requirement: conditional',
    '    condition: an ACME ClusterIssuer is created',
    '    mitigation: { type: disabled, description: only the internal CA ClusterIssuer is used }',
    '    checks:',
    `      - ${check}`,
    '',
  ].join('\n');
}

async function audit(name: string, check: string) {
  const file = path.join(work, `${name}.yaml`);
  await writeFile(file, manifest(check));
  return runFerry(['audit', 'deploy', '--manifest', file, '--fail-on', 'unmitigated', '--format', 'json'], { cwd: work });
}

describe('an endpoint check reads only the fields of its kind', () => {
  it('a text check with present: false is refused at load, naming the field and what to write instead', async () => {
    const r = await audit('text-absent', '{ kind: text, pattern: "acme-v02.api.letsencrypt.org", present: false }');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('endpoints[0].checks[0].present: a text check does not read present');
    expect(r.stderr).toContain('there is no "must not appear" form');
    expect(r.stderr).toContain('present: false');
    // Nothing was audited, so no verdict was printed.
    expect(r.stdout).toBe('');
  });

  it('a values check with pattern (read only by text checks) is refused, naming it', async () => {
    const r = await audit('values-pattern', '{ kind: values, key: acmeIssuer.enabled, pattern: "false" }');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('endpoints[0].checks[0].pattern: a values check does not read pattern (only a text check does)');
  });

  it('the check written as the message says is read, and the mitigation is met from the deployed values', async () => {
    const r = await audit('values-equals', '{ kind: values, key: acmeIssuer.enabled, equals: false }');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { checks: Array<{ endpoint: string; status: string; evidence: string }>; mitigations: Array<{ endpoint: string; status: string }> };
    const check = out.checks.find((c) => c.endpoint === 'letsencrypt-acme');
    expect(check?.status).toBe('met');
    expect(check?.evidence).toBe('deploy/cert-manager-values.yaml:4 acmeIssuer.enabled=false');
  });
});
