import { spawnSync } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildConnectionModel } from '../../src/audit/model.js';
import { buildRuleset } from '../../src/audit/firewall/ruleset.js';
import { emitFirewall } from '../../src/audit/firewall/emit.js';
import { validateManifest } from '../../src/kinds/schema.js';

/**
 * Round 40 of a new user's job: CCX's and SPIRE's documents written as manifests from the README
 * alone, then lock / bundle / import / serve / rewrite / audit / inventory / firewall.
 */
const head = { apiVersion: 'ferry/v1alpha1', kind: 'Manifest', metadata: { name: 'ccx' } };
const problems = (raw: unknown): string[] => {
  try {
    validateManifest(raw, 'ccx.yaml');
  } catch (e) {
    return (e as { details: string[] }).details;
  }
  return [];
};
const zones = [
  { name: 'control-plane', self: true },
  { name: 'internet', external: true, cidrs: ['0.0.0.0/0', '::/0'] },
];
const smtp = { name: 'smtp', component: 'ccx-notify', from: 'control-plane', to: 'internet', direction: 'outbound', protocol: 'SMTP', ports: [25, 587], purpose: 'Email notifications' };

describe('manifest problems say what is wrong where the user wrote it', () => {
  it('a required choice left out is "required field is missing (one of …)", not "Invalid option"', () => {
    // The document's SMTP row has no scope column; zod said `scope: Invalid option: expected one of
    // "external"|"cluster"|"localhost"` as if a wrong value had been written.
    const out = problems({ ...head, zones, connections: [smtp] });
    expect(out).toEqual(['connections[0].scope: required field is missing (one of "external", "cluster", "localhost")']);
    // A value that is written and wrong still says so.
    expect(problems({ ...head, zones, connections: [{ ...smtp, scope: 'internet' }] })).toEqual([
      'connections[0].scope: Invalid option: expected one of "external"|"cluster"|"localhost"',
    ]);
  });

  it('a field written inside an object it does not belong to names the object it belongs to', () => {
    const endpoint = { name: 'license-server', category: 'license', urls: ['https://severalnines.com/service/lic.php'], from: 'control-plane', purpose: 'Trial license' };
    // `checks` under `mitigation:` (a field of the endpoint, one level up).
    const up = problems({ ...head, zones, endpoints: [{ ...endpoint, mitigation: { type: 'preset', checks: [{ kind: 'values', key: 'cmon.license' }] } }] });
    expect(up).toEqual(['endpoints[0].mitigation: unknown field "checks" (a field of endpoints[0], not of mitigation: check its indentation)']);
    // `encrypted` beside a connection instead of under its `security:` object: no "entries" (it is no list).
    const down = problems({ ...head, zones, connections: [{ ...smtp, scope: 'external', encrypted: true }] });
    expect(down).toEqual(['connections[0]: unknown field "encrypted" (a field of connections[0].security: write it under security:)']);
    // A field of a list's entries keeps its wording (`platforms` is a top-level field too now: a default).
    expect(problems({ ...head, extras: false, images: [{ ref: 'alpine:3' }] })).toEqual([
      '(top level): unknown field "extras" (a field of images entries: check its indentation)',
    ]);
  });
});

describe('firewall comments claim only what the manifest declares', () => {
  const loaded = (raw: unknown) => ({ manifest: validateManifest(raw, 'inline'), file: 'inline.yaml', dir: '.', digest: 'sha256:x' });
  const endpoint = (name: string, extra: Record<string, unknown>) => ({ name, category: 'license', hosts: [`${name}.example.com`], from: 'control-plane', purpose: name, ...extra });
  const manifest = {
    ...head,
    zones: [...zones, { name: 'ops' }],
    connections: [{ ...smtp, name: 'ops-ssh', to: 'ops', direction: 'outbound', scope: 'external', protocol: 'SSH', ports: [22] }],
    endpoints: [
      endpoint('license', { mitigation: { type: 'preset', description: 'cmon.license set in Helm values' }, checks: [{ kind: 'values', key: 'cmon.license' }] }),
      endpoint('pagerduty', { mitigation: { type: 'disabled' } }),
      endpoint('registry', { category: 'registry', mitigation: { type: 'mirrored' } }),
    ],
  };

  it('a preset or disabled endpoint is "not needed if the declared mitigation holds", and says whether anything checks it', async () => {
    // Before: "not needed: preset (…)" while `ferry audit` found cmon.license empty (unmet).
    const { text } = emitFirewall(await buildRuleset(buildConnectionModel(loaded(manifest)), { now: () => new Date(0) }), 'nftables');
    expect(text).not.toMatch(/not needed: /);
    expect(text).toContain('# not allowed: license — not needed if the declared mitigation holds: preset (cmon.license set in Helm values); `ferry audit` checks it; --enable license to allow');
    expect(text).toContain('# not allowed: pagerduty — not needed if the declared mitigation holds: disabled; no check declared, so nothing verifies it; --enable pagerduty to allow');
    expect(text).toContain('# not allowed: registry — not needed if the declared mitigation holds: mirrored; `ferry audit` finds what still points at it; --enable registry to allow');
    // A zone without CIDRs: the placeholder reads as a sentence ("fill in CIDRs of zone ops, not given …").
    expect(text).toContain('# zone ops — PLACEHOLDER: fill in CIDRs of zone ops, not given in the manifest');
    const dir = await mkdtemp(path.join(os.tmpdir(), 'newuser40-'));
    await writeFile(path.join(dir, 'fw.nft'), text);
    const nft = spawnSync('nft', ['-c', '-f', path.join(dir, 'fw.nft')], { encoding: 'utf8' });
    expect(nft.stderr).toBe('');
    expect(nft.status).toBe(0);
  });
});

describe('an audit without --fail-on says what each bar would say', () => {
  it('failed: false is not a pass: the report carries wouldFail, and the Markdown and HTML say the exit code does not reflect the findings', async () => {
    const { auditCommand } = await import('../../src/commands/audit.js');
    const { renderAuditMarkdown } = await import('../../src/audit/render-audit.js');
    const dir = await mkdtemp(path.join(os.tmpdir(), 'newuser40-audit-'));
    await writeFile(
      path.join(dir, 'ccx.yaml'),
      [
        'apiVersion: ferry/v1alpha1',
        'kind: Manifest',
        'metadata: { name: ccx }',
        'zones: [{ name: control-plane, self: true }, { name: internet, external: true }]',
        'endpoints:',
        '  - { name: license-server, category: license, hosts: [severalnines.com], from: control-plane, purpose: trial license,',
        '      mitigation: { type: preset }, checks: [{ kind: values, key: cmon.license }] }',
      ].join('\n'),
    );
    await writeFile(path.join(dir, 'values.yaml'), 'cmon:\n  license: ""\n  licenseUrl: https://severalnines.com/service/lic.php\nnotify:\n  slack: https://hooks.slack.com/services/T0/B0/X\n');
    const run = (failOn?: 'unmapped' | 'unmitigated') => auditCommand([path.join(dir, 'values.yaml')], { manifest: path.join(dir, 'ccx.yaml'), failOn, cwd: dir, cacheDir: path.join(dir, 'cache') });
    const plain = await run();
    expect(plain.failed).toBe(false);
    expect(plain.wouldFail).toEqual({ unmapped: true, unmitigated: true });
    expect(renderAuditMarkdown(plain)).toContain(
      'Result: no --fail-on given: the exit code does not reflect the findings. --fail-on unmapped fails (1 undeclared); --fail-on unmitigated fails (1 undeclared, 1 declared-unmitigated, 1 unmet mitigation).',
    );
    const strict = await run('unmitigated');
    expect(strict.failed).toBe(true);
    expect(renderAuditMarkdown(strict)).toContain('Result: --fail-on unmitigated given: FAILED. --fail-on unmapped fails (1 undeclared);');
    // The report page says it too.
    const { buildReport } = await import('../../src/commands/report.js');
    const { renderReportHtml } = await import('../../src/audit/render-html.js');
    const html = renderReportHtml(await buildReport(path.join(dir, 'ccx.yaml'), { audit: [path.join(dir, 'values.yaml')], cwd: dir, cacheDir: path.join(dir, 'cache') }));
    expect(html).toContain('no --fail-on given: the exit code does not reflect the findings. --fail-on unmapped fails (1 undeclared)');
  });
});
