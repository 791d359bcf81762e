import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { auditReferences } from '../../../src/audit/audit.js';
import { buildConnectionModel } from '../../../src/audit/model.js';
import { scanPaths } from '../../../src/audit/scan.js';
import { validateManifest } from '../../../src/kinds/schema.js';

/**
 * A GitOps chart source already pointing at the site's chart repository (after `rewrite
 * manifests`) but pinned to a version the lock did not carry there — a repository bumped to
 * external-dns 1.22.0 when the last bundle brought 1.21.1 — was "internal, mirror target" and
 * nothing more, although the controller's fetch fails at the site (newuser23's leftover).
 */
const app = (version: string) => `apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: dns
spec:
  source:
    repoURL: https://charts.site.internal/charts
    chart: external-dns
    targetRevision: ${version}
`;

async function audit(version: string, files: Record<string, string> = { 'app.yaml': app(version) }) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-chart-source-version-'));
  try {
    for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text);
    const loaded = { manifest: validateManifest({ apiVersion: 'ferry/v1alpha1', kind: 'Manifest', metadata: { name: 'p' } }, 'inline'), file: 'm.yaml', dir: '.', digest: 'sha256:x' };
    const target = { target: { apiVersion: 'ferry/v1alpha1', kind: 'MirrorTarget', metadata: { name: 't' }, charts: { dir: './charts', baseUrl: 'https://charts.site.internal/charts' } }, file: 't.yaml', dir: '.' } as never;
    const lock = { charts: [{ repo: 'https://kubernetes-sigs.github.io/external-dns', name: 'external-dns', version: '1.21.1', digest: `sha256:${'a'.repeat(64)}`, images: [] }] } as never;
    return auditReferences(buildConnectionModel(loaded), target, await scanPaths([dir], dir), { manifestFile: 'm.yaml', lock, kinds: [] });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('a chart source on the mirror', () => {
  it('pinned to a version the lock carries there: internal, nothing more', async () => {
    const r = await audit('1.21.1');
    expect(r.findings.map((f) => [f.keyPath, f.class, f.note])).toEqual([['spec.source.repoURL', 'internal', 'mirror target']]);
  });

  it('pinned to a version the lock does not carry: still internal (no egress), and the note says the fetch fails at the site', async () => {
    const r = await audit('1.22.0');
    expect(r.findings).toHaveLength(1);
    expect(r.findings[0].class).toBe('internal');
    expect(r.findings[0].note).toContain('asks for chart external-dns 1.22.0, and the lock carries only 1.21.1 of it to this mirror location');
    // A range the carried version satisfies is fine.
    expect((await audit('1.21.x')).findings[0].note).toBe('mirror target');
  });
});

/**
 * The same for Flux (the note's leftover): a HelmRelease names its chart and version, and its
 * HelmRepository (in another file) the URL; the two were never tied, so a HelmRelease bumped past
 * the last bundle on a repository already pointing at the mirror said nothing at all.
 */
const repo = (url: string, ns = 'flux-system') => `apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata:
  name: site
  namespace: ${ns}
spec:
  url: ${url}
`;
const release = (version: string, ns = 'flux-system') => `apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: dns
  namespace: ${ns}
spec:
  chart:
    spec:
      chart: external-dns
      version: "${version}"
      sourceRef:
        kind: HelmRepository
        name: site
`;

describe('a Flux HelmRelease on a HelmRepository that is the mirror', () => {
  const flux = (version: string, url = 'https://charts.site.internal/charts', releaseNs = 'flux-system') =>
    audit(version, { 'repo.yaml': repo(url), 'release.yaml': release(version, releaseNs) });

  it('a version the lock carries there: only the repository, internal', async () => {
    const r = await flux('1.21.1');
    expect(r.findings.map((f) => [f.file, f.keyPath, f.class, f.note])).toEqual([['repo.yaml', 'spec.url', 'internal', 'mirror target']]);
    expect((await flux('~1.21.0')).findings).toHaveLength(1);
  });

  it('a version the lock does not carry: the release is named, internal, and the fetch fails at the site', async () => {
    const r = await flux('1.22.0');
    const rel = r.findings.find((f) => f.file === 'release.yaml')!;
    expect(rel.class).toBe('internal');
    expect(rel.keyPath).toBe('spec.chart.spec.chart');
    expect(rel.note).toContain('HelmRelease/dns: chart external-dns 1.22.0 from HelmRepository/site (repo.yaml:');
    expect(rel.note).toContain('asks for chart external-dns 1.22.0, and the lock carries only 1.21.1 of it to this mirror location');
    expect(r.summary.internal).toBe(2);
  });

  it('a release in another namespace names another repository: not tied', async () => {
    expect((await flux('1.22.0', 'https://charts.site.internal/charts', 'apps')).findings.map((f) => f.file)).toEqual(['repo.yaml']);
  });

  it('a repository still upstream: its own finding says it, no second finding per release', async () => {
    const r = await flux('1.22.0', 'https://kubernetes-sigs.github.io/external-dns');
    expect(r.findings.map((f) => f.file)).toEqual(['repo.yaml']);
  });
});

