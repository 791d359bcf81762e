import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertCommand, type ConvertReportItem } from '../../src/commands/convert.js';

/**
 * What stopped the user of newuser45 between `ferry convert` and `ferry lock` (the whole path is
 * test/e2e/newuser45-convert-to-bundle.test.ts): a local file the converted manifest names that
 * is not where the lock will read it, oc-mirror `platforms:` whose digest ferry does not keep, and
 * an oc-mirror `oci://` Helm repository, which oc-mirror does not read.
 */

let work: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-newuser45-unit-'));
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

async function files(dir: string, content: Record<string, string>): Promise<string> {
  for (const [f, body] of Object.entries(content)) {
    await mkdir(path.dirname(path.join(dir, f)), { recursive: true });
    await writeFile(path.join(dir, f), body);
  }
  return dir;
}

const find = (items: ConvertReportItem[], ...words: string[]) => items.filter((n) => words.every((w) => `${n.item} ${n.why} ${n.todo}`.includes(w)));

const HAULER = `apiVersion: content.hauler.cattle.io/v1
kind: Images
metadata:
  name: site
spec:
  images:
    - name: registry.example.org/team/app:1
      key: keys/cosign.pub
---
apiVersion: content.hauler.cattle.io/v1
kind: Charts
metadata:
  name: charts
spec:
  charts:
    - name: podinfo
      repoURL: oci://ghcr.io/stefanprodan/charts
      version: 6.5.0
      valuesFiles: [values/podinfo.yaml]
`;

describe('newuser45: local files the converted manifest names', () => {
  it('a Hauler cosign key not under the directory convert runs in is said (lock would refuse it), naming the one beside the Hauler manifest', async () => {
    const dir = await files(path.join(work, 'key-elsewhere'), { 'haul/hauler.yaml': HAULER, 'haul/keys/cosign.pub': 'not read\n', 'haul/values/podinfo.yaml': 'a: 1\n' });
    const out = path.join(dir, 'out', 'manifest.yaml');
    // Run from dir (not haul/): hauler would read dir/keys/cosign.pub, which is not there.
    const r = await convertCommand('hauler', [path.join(dir, 'haul/hauler.yaml')], { cwd: dir, output: out });
    const images = r.manifest.images as Array<{ ref: string; verify?: { keys: string[] } }>;
    expect(images[0].verify).toEqual({ keys: ['../keys/cosign.pub'] });
    const said = find(r.changed, 'keys/cosign.pub', path.join(dir, 'keys', 'cosign.pub'), 'ferry lock');
    expect(said, JSON.stringify(r.changed, null, 2)).toHaveLength(1);
    expect(said[0].todo).toContain(path.join(dir, 'haul', 'keys', 'cosign.pub'));
    expect(said[0].place).toMatch(/hauler\.yaml:8 /);
    expect(r.text).toContain(path.join(dir, 'keys', 'cosign.pub'));
    // The values file is beside the Hauler manifest, where hauler reads it: nothing to say about it.
    expect(find(r.changed, 'values/podinfo.yaml')).toEqual([]);
  });

  it('run from the directory that holds the key and the values file, nothing is said about either', async () => {
    const dir = await files(path.join(work, 'key-here'), { 'hauler.yaml': HAULER, 'keys/cosign.pub': 'not read\n', 'values/podinfo.yaml': 'a: 1\n' });
    const r = await convertCommand('hauler', [path.join(dir, 'hauler.yaml')], { cwd: dir, output: path.join(dir, 'site', 'manifest.yaml') });
    expect(r.changed.filter((n) => n.item.includes('key') || n.item.includes('values'))).toEqual([]);
    expect((r.manifest.charts as Array<{ values: string[] }>)[0].values).toEqual(['../values/podinfo.yaml']);
  });

  it('a values file missing beside a Hauler manifest or a zarf.yaml is said, with the path that was looked at', async () => {
    const dir = await files(path.join(work, 'no-values'), {
      'hauler.yaml': HAULER.replace('      key: keys/cosign.pub\n', ''),
      'zarf.yaml': 'kind: ZarfPackageConfig\nmetadata:\n  name: app\ncomponents:\n  - name: web\n    required: true\n    charts:\n      - name: podinfo\n        url: oci://ghcr.io/stefanprodan/charts/podinfo\n        version: 6.5.0\n        namespace: web\n        valuesFiles: [values/web.yaml]\n',
    });
    const h = await convertCommand('hauler', [path.join(dir, 'hauler.yaml')], { cwd: dir });
    expect(find(h.changed, 'values/podinfo.yaml', path.join(dir, 'values', 'podinfo.yaml'), 'ferry lock')).toHaveLength(1);
    const z = await convertCommand('zarf', [path.join(dir, 'zarf.yaml')], { cwd: dir });
    expect(find(z.changed, 'values/web.yaml', path.join(dir, 'values', 'web.yaml'), 'ferry lock')).toHaveLength(1);
  });
});

describe('newuser45: oc-mirror', () => {
  const ISC = (mirror: string) => `kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n${mirror}`;

  it('platforms: of an additional image or a catalog are carried, and it is said that the mirror then holds another digest than upstream', async () => {
    const dir = await files(path.join(work, 'ocp-platforms'), {
      'isc.yaml': ISC(`  additionalImages:
    - name: quay.io/acme/tool:1.2
      platforms:
        - os: linux
          architecture: arm64
    - name: quay.io/acme/other:1.0
  operators:
    - catalog: registry.redhat.io/redhat/redhat-operator-index:v4.18
      platforms: [{os: linux, architecture: amd64}]
      packages: [{name: foo}]
`),
    });
    const r = await convertCommand('oc-mirror', [path.join(dir, 'isc.yaml')], { cwd: dir });
    expect(r.manifest.images).toEqual([
      { ref: 'quay.io/acme/other:1.0' },
      { ref: 'quay.io/acme/tool:1.2', platforms: ['linux/arm64'] },
      { ref: 'registry.redhat.io/redhat/redhat-operator-index:v4.18', platforms: ['linux/amd64'] },
    ]);
    const said = find(r.changed, 'storedDigest', 'sparse');
    expect(said.map((n) => n.item)).toEqual(['additionalImages: quay.io/acme/tool:1.2 platforms: linux/arm64', 'operators catalog: registry.redhat.io/redhat/redhat-operator-index:v4.18 platforms: linux/amd64']);
    expect(find(r.changed, 'other:1.0')).toEqual([]);
  });

  it('an oci:// Helm repository is not carried (oc-mirror reads none), and the todo gives the ferry entry to write', async () => {
    const dir = await files(path.join(work, 'ocp-oci'), {
      'isc.yaml': ISC(`  helm:
    repositories:
      - name: podinfo
        url: oci://ghcr.io/stefanprodan/charts
        charts:
          - name: podinfo
            version: 6.5.0
`),
    });
    const r = await convertCommand('oc-mirror', [path.join(dir, 'isc.yaml')], { cwd: dir });
    expect(r.manifest.charts).toBeUndefined();
    const [n] = r.notCarried;
    expect(r.notCarried).toHaveLength(1);
    expect(n.item).toBe('helm repository podinfo (url: oci://ghcr.io/stefanprodan/charts): podinfo');
    expect(n.why).toContain('index.yaml');
    expect(n.todo).toContain('repo: oci://ghcr.io/stefanprodan/charts');
  });

  it('an oci:// repository listing many charts is named within bounds', async () => {
    const charts = Array.from({ length: 5000 }, (_, i) => `          - name: c${i}\n`).join('');
    const dir = await files(path.join(work, 'ocp-oci-many'), { 'isc.yaml': ISC(`  helm:\n    repositories:\n      - name: many\n        url: oci://ghcr.io/acme/charts\n        charts:\n${charts}`) });
    const r = await convertCommand('oc-mirror', [path.join(dir, 'isc.yaml')], { cwd: dir });
    expect(r.notCarried).toHaveLength(1);
    expect(r.notCarried[0].item.length).toBeLessThan(200);
    expect(r.notCarried[0].item).toContain('(5000)');
  });
});
