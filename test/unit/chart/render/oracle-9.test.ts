import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FerryError } from '../../../../src/errors.js';
import { loadChart } from '../../../../src/kinds/chart/load.js';
import { renderChart } from '../../../../src/kinds/chart/render/index.js';
import { writeChart } from '../helpers.js';

// Ninth pass of real charts against the independent Go renderer (Rook, Longhorn, Harbor, Vault,
// Consul, ECK, KEDA, Kyverno, OpenTelemetry, Fluent, Vector, Jaeger, external-dns, Traefik,
// MinIO operator, sealed-secrets, OpenFGA). Each expectation is what the oracle (Helm 3.14's
// behaviour) gives.

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ferry-oracle9-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const libraryChart = {
  chart: { name: 'library', version: '0.0.1', type: 'library' },
  files: { 'templates/_sa.tpl': '{{- define "library.sa" -}}\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: {{ .Release.Name }}-sa\n{{- end }}\n' },
};

async function refusal(dir: string): Promise<FerryError> {
  const err = await loadChart(dir, { allFiles: true }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(FerryError);
  expect((err as FerryError).code).toBe('VALIDATION');
  return err as FerryError;
}

describe('a chart directory with symbolic links, which Helm follows', () => {
  // rook-ceph and rook-ceph-cluster vendor their shared library chart as
  // `charts/library -> ../../library`. Helm's directory loader follows the link; ferry skipped
  // it, so every `include "library.…"` failed with `no template "library.cluster.serviceaccounts"`.
  it('loads a subchart linked into charts/ and renders its defines', async () => {
    const root = path.join(tmp, 'rook');
    await writeChart(path.join(root, 'library'), libraryChart);
    await writeChart(path.join(root, 'cluster'), {
      chart: { name: 'cluster', version: '1.0.0', dependencies: [{ name: 'library', version: '0.0.1', repository: 'file://../library' }] },
      values: 'x: 1\n',
      files: { 'templates/sa.yaml': '{{ include "library.sa" . }}\n' },
    });
    await mkdir(path.join(root, 'cluster', 'charts'));
    await symlink('../../library', path.join(root, 'cluster', 'charts', 'library'));
    const r = renderChart(await loadChart(path.join(root, 'cluster'), { allFiles: true }));
    expect(r.documents.map((d) => `${d.kind}/${d.name}`)).toEqual(['ServiceAccount/release-name-sa']);
  });

  it('reads a linked template file and a linked templates directory', async () => {
    const root = path.join(tmp, 'files');
    await mkdir(path.join(root, 'shared'), { recursive: true });
    await writeFile(path.join(root, 'shared', 'cm.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: linked-file\n');
    await mkdir(path.join(root, 'shared-dir'));
    await writeFile(path.join(root, 'shared-dir', 'pod.yaml'), 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: linked-dir\nspec:\n  containers:\n    - name: a\n      image: busybox:1.36\n');
    const dir = await writeChart(path.join(root, 'c'), { chart: { name: 'c', version: '1.0.0' }, values: 'x: 1\n', files: {} });
    await mkdir(path.join(dir, 'templates'));
    await symlink('../../shared/cm.yaml', path.join(dir, 'templates', 'cm.yaml'));
    await symlink('../../shared-dir', path.join(dir, 'templates', 'more'));
    const r = renderChart(await loadChart(dir, { allFiles: true }));
    expect(r.documents.map((d) => `${d.kind}/${d.name}`).sort()).toEqual(['ConfigMap/linked-file', 'Pod/linked-dir']);
  });

  it('refuses a dangling link, as Helm does', async () => {
    const dir = await writeChart(path.join(tmp, 'dangling'), { chart: { name: 'd', version: '1.0.0' }, values: 'x: 1\n', files: { 'templates/cm.yaml': 'a: 1\n' } });
    await symlink('nowhere.yaml', path.join(dir, 'templates', 'gone.yaml'));
    expect((await refusal(dir)).message).toMatch(/symbolic link gone\.yaml leads nowhere/);
  });

  it('refuses a link back to a directory being read instead of walking it forever', async () => {
    const dir = await writeChart(path.join(tmp, 'loop'), { chart: { name: 'l', version: '1.0.0' }, values: 'x: 1\n', files: { 'templates/cm.yaml': 'a: 1\n' } });
    await symlink('..', path.join(dir, 'templates', 'up'));
    expect((await refusal(dir)).message).toMatch(/symbolic link up leads back to a directory it is in/);
    const sub = await writeChart(path.join(tmp, 'subloop'), { chart: { name: 's', version: '1.0.0' }, values: 'x: 1\n' });
    await mkdir(path.join(sub, 'charts'));
    await symlink('..', path.join(sub, 'charts', 'self'));
    expect((await refusal(sub)).message).toMatch(/symbolic link self leads back/);
  });

  // A link is followed wherever it leads: a link to / or to a home directory would be walked and
  // read whole (every file up to 4 MiB with allFiles). The walk is bounded (lead's check).
  it('refuses a link into a directory of more files than any chart has, naming where', async () => {
    const big = path.join(tmp, 'big-tree');
    for (const d of ['a', 'b', 'c']) {
      await mkdir(path.join(big, d), { recursive: true });
      await Promise.all(Array.from({ length: 7000 }, (_, i) => writeFile(path.join(big, d, `f${i}`), '')));
    }
    const dir = await writeChart(path.join(tmp, 'to-big'), { chart: { name: 'b', version: '1.0.0' }, values: 'x: 1\n', files: { 'templates/cm.yaml': 'a: 1\n' } });
    await symlink(big, path.join(dir, 'docs'));
    const err = await refusal(dir);
    expect(err.message).toMatch(/^to-big: more than 20,000 files and directories under the chart directory \(at docs\/[abc]\)/);
    expect(err.hint).toMatch(/symbolic link/);
  });

  it('refuses a chart directory whose files hold more than a packaged chart may', async () => {
    const dir = await writeChart(path.join(tmp, 'heavy'), { chart: { name: 'h', version: '1.0.0' }, values: 'x: 1\n', files: { 'templates/cm.yaml': 'a: 1\n' } });
    await mkdir(path.join(dir, 'blobs'));
    const chunk = Buffer.alloc(4 * 1024 * 1024 - 1, 0x61);
    for (let i = 0; i < 26; i++) await writeFile(path.join(dir, 'blobs', `b${String(i).padStart(2, '0')}`), chunk);
    expect((await refusal(dir)).message).toMatch(/^heavy: its files hold more than 104857600 bytes \(at blobs\/b2[45]\)/);
  });
});

// chartperf's note: a chart file over the 4 MiB ferry reads was skipped in silence, so a chart
// whose CRD template is that large rendered without it (its objects, its images) where helm
// renders it. A template, Chart.yaml or values file that large is now refused, naming it.
describe('a chart file larger than ferry reads', () => {
  it('a template over 4 MiB in a chart directory is refused, naming it', async () => {
    const dir = await writeChart(path.join(tmp, 'big-template'), { chart: { name: 'bt', version: '1.0.0' }, values: 'x: 1\n', files: { 'templates/cm.yaml': 'a: 1\n' } });
    await writeFile(path.join(dir, 'templates', 'crd.yaml'), `# ${'x'.repeat(4 * 1024 * 1024)}\n`);
    const err = await refusal(dir);
    expect(err.message).toMatch(/^big-template: templates\/crd\.yaml is \d+ bytes, more than the 4 MiB ferry reads of one chart file/);
    expect(err.hint).toMatch(/--render helm/);
  });

  it('the same in a packaged chart', async () => {
    const dir = await writeChart(path.join(tmp, 'pkg', 'bigpkg'), { chart: { name: 'bigpkg', version: '1.0.0' }, values: 'x: 1\n', files: { 'templates/cm.yaml': 'a: 1\n' } });
    await writeFile(path.join(dir, 'templates', 'crd.yaml'), `# ${'x'.repeat(4 * 1024 * 1024)}\n`);
    const tgz = path.join(tmp, 'pkg', 'bigpkg-1.0.0.tgz');
    execFileSync('tar', ['-czf', tgz, '-C', path.join(tmp, 'pkg'), 'bigpkg']);
    const err = await loadChart(tgz, { allFiles: true }).then(() => undefined, (e: unknown) => e as FerryError);
    expect(err).toBeInstanceOf(FerryError);
    expect(err!.message).toMatch(/templates\/crd\.yaml is more than 4194304 bytes, more than the 4 MiB ferry reads/);
  });

  it('a big file under files/ (read by .Files.Get) is still skipped, not refused', async () => {
    const dir = await writeChart(path.join(tmp, 'big-file'), { chart: { name: 'bf', version: '1.0.0' }, values: 'x: 1\n', files: { 'templates/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n' } });
    await mkdir(path.join(dir, 'files'));
    await writeFile(path.join(dir, 'files', 'blob.bin'), Buffer.alloc(4 * 1024 * 1024 + 10, 0x61));
    const r = renderChart(await loadChart(dir, { allFiles: true }));
    expect(r.documents.map((d) => d.kind)).toEqual(['ConfigMap']);
  });
});
