import { rm } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { auditTreeReport } from '../support/audit-repo.js';
import { NESTED_SITE_TARGET } from '../support/offline-lock.js';

const MANIFEST = 'apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: site }\nimages: []\n';

/**
 * hostile55: the includes between the ConfigMap keys a container mounts are resolved for each
 * container anew, so one ConfigMap of 1 024 nginx keys (each including the next) mounted by a few
 * Deployments at different paths cost each of them the whole join (~0.5 s and ~12 MB a container:
 * 20 Deployments, 150 KB of YAML, were 10 s and 350 MB). The scan joins at most 2 048 keys over all
 * its containers; a container past that has its keys read alone, and a note says so (unaudited).
 */
function repo(deployments: number, vary: boolean): Record<string, string> {
  const keys = 1024;
  let text = 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: web }\ndata:\n';
  for (let i = 0; i < keys; i++) {
    text += `  k${i}.conf: |\n    include /etc/nginx/*/k${(i + 1) % keys}.conf;\n    server { location / { proxy_pass http://h${i}.vendor.example; } }\n`;
  }
  for (let d = 0; d < deployments; d++) {
    text += [
      '---',
      'apiVersion: apps/v1',
      'kind: Deployment',
      `metadata: { name: w${d} }`,
      'spec:',
      '  template:',
      '    spec:',
      '      containers:',
      '        - name: nginx',
      '          image: nginx:1.27',
      `          volumeMounts: [{ name: c, mountPath: /etc/nginx/${vary ? `d${d}` : 'site'} }]`,
      '      volumes: [{ name: c, configMap: { name: web } }]',
      '',
    ].join('\n');
  }
  return { 'web.yaml': text };
}

describe('hostile55: ConfigMap keys joined by their includes, bounded over the scan', () => {
  it('three containers mounting 1 024 keys each at different paths: the third is past the 2 048 joined, named as unaudited', async () => {
    const { work, report } = await auditTreeReport('ferry-h55-cm-', 'repo', repo(3, true), MANIFEST, NESTED_SITE_TARGET);
    try {
      const past = report.skipped.filter((s) => s.reason.includes('past the 2048 one scan joins'));
      expect(past).toHaveLength(1);
      expect(past[0]).toMatchObject({ file: 'repo/web.yaml', unscanned: true });
      expect(past[0].reason).toContain('the container nginx of Deployment w2 mounts ConfigMap keys past the 2048');
      expect(report.summary.unscannedFiles).toBeGreaterThan(0);
      // Every key's upstream is still found (read alone where not joined).
      for (const i of [0, 511, 1023]) expect(report.findings.some((f) => f.host === `h${i}.vendor.example`)).toBe(true);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });

  it('twenty containers mounting the same keys at the same paths are joined once: no bound reached (a control: the same on the old code, only slower)', async () => {
    const { work, report } = await auditTreeReport('ferry-h55-cm-', 'repo', repo(20, false), MANIFEST, NESTED_SITE_TARGET);
    try {
      expect(report.skipped.filter((s) => s.reason.includes('one scan joins'))).toEqual([]);
      for (const i of [0, 511, 1023]) expect(report.findings.some((f) => f.host === `h${i}.vendor.example`)).toBe(true);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
});
