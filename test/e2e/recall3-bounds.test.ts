import { describe, expect, it } from 'vitest';
import { auditedRepo } from '../support/audit-repo.js';
import { NESTED_SITE_TARGET } from '../support/offline-lock.js';

/**
 * Filling in variables (recall3) is bounded on a crafted tree: a string with more variables than a
 * real one holds is left as written (unknown), and past 32 MiB of filled-in text in one scan the
 * rest stay as written, each saying so. Before, a Flux string of 40 variables set 16 ways each
 * was filled in (16 × 40 × 40 map copies a line), and nothing bounded the text built.
 */
const VARS = Array.from({ length: 40 }, (_, i) => `V${i}`);
const LONG_PATH = 'p'.repeat(3800);
const N = 5000;

const FILES: Record<string, string> = {
  'clusters/prod/apps.yaml': [
    'apiVersion: kustomize.toolkit.fluxcd.io/v1',
    'kind: Kustomization',
    'metadata: {name: apps, namespace: flux-system}',
    'spec:',
    '  path: ./apps',
    '  sourceRef: {kind: GitRepository, name: flux-system}',
    '  postBuild:',
    '    substitute:',
    ...VARS.map((v) => `      ${v}: ${v.toLowerCase()}`),
    '',
  ].join('\n'),
  'apps/cm.yaml': [
    'apiVersion: v1', // 1
    'kind: ConfigMap',
    'metadata: {name: many}',
    'data:',
    `  url: https://${VARS.map((v) => `\${${v}}`).join('')}.vendor.io/x`, // 5
    '  few: https://${V1}.vendor.io/y',
    '',
  ].join('\n'),
  'stack/.env': `BIG=api.vendor.io/${LONG_PATH}\n`,
  'stack/compose.yaml': ['services:', '  app:', '    image: nginx:1.27', '    environment:', ...Array.from({ length: N }, (_, i) => `      - U${i}=https://\${BIG}`), ''].join('\n'),
};

const MANIFEST = 'apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: site }\nimages: []\n';
const repo = auditedRepo('ferry-recall3-bounds-', FILES, MANIFEST, NESTED_SITE_TARGET);

describe('recall3 bounds: filling in variables on a crafted tree', () => {
  it('a string of more variables than a real one holds stays as written, host unknown; a few are filled in', { timeout: 300_000 }, () => {
    const many = repo.one('repo/apps/cm.yaml', 5);
    expect(many.host).toBe('unknown');
    expect(many.value).toContain('${V0}');
    expect(repo.one('repo/apps/cm.yaml', 6)).toEqual(expect.objectContaining({ value: 'https://v1.vendor.io/y', host: 'v1.vendor.io' }));
  });

  it('past 32 MiB of filled-in text the rest of the strings stay as written, saying why', { timeout: 300_000 }, () => {
    const first = repo.one('repo/stack/compose.yaml', 5);
    expect(first.host).toBe('api.vendor.io');
    const last = repo.at('repo/stack/compose.yaml', 4 + N);
    expect(last.length).toBeGreaterThan(0);
    expect(last[0].host).toBe('unknown');
    expect(last[0].provenance).toMatch(/not filled in: the scan filled in 32 MiB/);
  });
});
