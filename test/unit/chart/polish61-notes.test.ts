import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { NEAR_NAMES_COMPARED, NearNames, sectionFromStream } from '../../../src/kinds/chart/repo-http.js';
import { possibleImagesWarning } from '../../../src/kinds/chart/resolve.js';
import { canonicalRegistryPath, chartOciReference } from '../../../src/mapping/index.js';
import { counted } from '../../../src/ui/count.js';

describe('the chart names of an index nearest to a missing one', () => {
  it('a Helm-style index offers the names within two edits, nearest first, at most three', async () => {
    const names = ['cert-manager', 'cert-manager-csi', 'cert-managers', 'Cert-Manager', 'certmanager', 'cert-manager-approver-policy', 'trust-manager', 'external-dns'];
    const text = ['apiVersion: v1', 'entries:', ...names.flatMap((n) => [`  ${n}:`, `  - name: ${n}`, '    version: 1.0.0', '    urls: [a.tgz]']), ''].join('\n');
    const got = await sectionFromStream(Readable.from([text]), 'cert-manger');
    expect(got.near).toEqual(['cert-manager', 'Cert-Manager', 'cert-managers']);
    // Found: nothing to offer.
    expect((await sectionFromStream(Readable.from([text]), 'cert-manager')).near).toBeUndefined();
  });

  it('an index in another shape (JSON) offers them too', async () => {
    const near = new NearNames('ingress-ngnix');
    for (const n of Object.keys({ 'ingress-nginx': 1, 'ingress': 1 })) near.offer(n);
    expect(near.names()).toEqual(['ingress-nginx']);
    const json = JSON.stringify({ apiVersion: 'v1', entries: { 'ingress-nginx': [{ name: 'ingress-nginx', version: '1.0.0', urls: ['a.tgz'] }] } });
    expect((await sectionFromStream(Readable.from([json]), 'ingress-ngnix')).full).toBeDefined();
  });

  it('a hostile index: names past the first NEAR_NAMES_COMPARED are not compared, and a long wanted name is not compared at all', () => {
    const near = new NearNames('chart-x');
    for (let i = 0; i < NEAR_NAMES_COMPARED; i++) near.offer(`unrelated-name-${i}`);
    near.offer('chart-y');
    expect(near.names()).toEqual([]);
    const long = new NearNames('a'.repeat(500));
    long.offer('a'.repeat(500));
    expect(long.names()).toEqual([]);
  });

  it('a chart-name line longer than a name is not offered', async () => {
    const text = stringify({ apiVersion: 'v1', entries: { ['x'.repeat(5000)]: [{ name: 'x', version: '1' }], 'cert-manager': [{ name: 'cert-manager', version: '1' }] } });
    expect((await sectionFromStream(Readable.from([text]), 'cert-manger')).near).toEqual(['cert-manager']);
  });
});

describe('possible images lock names', () => {
  const possible = ['docker.io/a/one:1', 'docker.io/a/two:1', 'docker.io/a/three:1'].map((ref) => ({ ref, why: `deployed with ${ref.split('/')[2].split(':')[0]}.enabled=true` }));
  it('an image carried anyway (listed, or deployed by another chart) is left out; none left, nothing said', () => {
    const w = possibleImagesWarning('db 1.0.0', possible, new Set(['docker.io/a/one:1', 'docker.io/a/three:1']));
    expect(w).toBe(
      "chart db 1.0.0: 1 image discovery found only as possible (not deployed with the manifest's values, or a loose match) is not carried: docker.io/a/two:1 (deployed with two.enabled=true); if the site switches on what deploys it, list it under images: in the manifest (or set the values that deploy it under the chart's values:) and lock again",
    );
    expect(possibleImagesWarning('db 1.0.0', possible, new Set(possible.map((p) => p.ref)))).toBeUndefined();
  });

  it('a chart\'s long reason is cut', () => {
    const w = possibleImagesWarning('db 1.0.0', [{ ref: 'docker.io/a/b:1', why: 'x'.repeat(1000) }], new Set())!;
    expect(w).toContain(`(${'x'.repeat(160)}…)`);
    expect(w.length).toBeLessThan(600);
  });
});

describe('a Docker Hub chart repository is named as images name Docker Hub', () => {
  it('registry-1.docker.io and index.docker.io are docker.io; other hosts, HTTP repositories and bare names are as they were', () => {
    expect(chartOciReference('oci://registry-1.docker.io/bitnamicharts', 'postgresql', '16.7.27')).toBe('docker.io/bitnamicharts/postgresql:16.7.27');
    expect(chartOciReference('oci://index.docker.io/bitnamicharts/', 'redis', '1.0.0+up1')).toBe('docker.io/bitnamicharts/redis:1.0.0_up1');
    expect(chartOciReference('oci://ghcr.io/org/charts', 'app', '1.0.0')).toBe('ghcr.io/org/charts/app:1.0.0');
    expect(chartOciReference('https://charts.jetstack.io', 'cert-manager', 'v1.21.1')).toBe('charts.jetstack.io/cert-manager:v1.21.1');
    expect(canonicalRegistryPath('registry-1.docker.io')).toBe('docker.io');
    expect(canonicalRegistryPath('sha256:abc')).toBe('sha256:abc');
  });
});

describe('counted', () => {
  it('singular for exactly one', () => {
    expect([counted(0, 'zone'), counted(1, 'external endpoint'), counted(2, 'flow'), counted(1, 'repository', 'repositories'), counted(3, 'repository', 'repositories')]).toEqual(['0 zones', '1 external endpoint', '2 flows', '1 repository', '3 repositories']);
  });
});
