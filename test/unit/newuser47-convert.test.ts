import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertCommand } from '../../src/commands/convert.js';
import { writeTree } from '../support/convert-output.js';

/**
 * newuser47: `ferry convert` reads a source's relative paths (values files, imports) from the
 * source file's directory, whatever directory ferry runs in (here `cwd`, which is not the test
 * process's), and writes them relative to the manifest.
 */

let work: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-newuser47-unit-'));
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('convert: relative paths start at the input file, not at the process\'s working directory', () => {
  it('zarf (values files, an import) and hauler (values files), converted from another directory than the process\'s', async () => {
    const dir = await writeTree(path.join(work, 'cwd'), {
      'sub/zarf.yaml': `kind: ZarfPackageConfig
metadata: {name: sub}
components:
  - name: web
    charts:
      - name: podinfo
        url: https://charts.example/podinfo
        version: 6.0.0
        valuesFiles: [vals/web.yaml]
  - name: shared
    import: {path: common}
`,
      'sub/vals/web.yaml': 'replicas: 1\n',
      'sub/common/zarf.yaml': 'kind: ZarfPackageConfig\nmetadata: {name: common}\ncomponents:\n  - name: shared\n    images: [ghcr.io/acme/shared:1]\n',
      'sub/hauler.yaml': `apiVersion: content.hauler.cattle.io/v1
kind: Charts
metadata: {name: h}
spec:
  charts:
    - name: podinfo
      repoURL: https://charts.example/podinfo
      version: 6.0.0
      valuesFiles: [vals/web.yaml]
`,
    });
    expect(process.cwd()).not.toBe(dir);
    const z = await convertCommand('zarf', ['sub/zarf.yaml'], { cwd: dir, output: 'out/manifest.yaml' });
    expect(z.manifest.charts).toEqual([{ name: 'podinfo', repo: 'https://charts.example/podinfo', version: '6.0.0', values: ['../sub/vals/web.yaml'] }]);
    expect(z.manifest.images).toEqual([{ ref: 'ghcr.io/acme/shared:1' }]);
    expect(z.notCarried).toEqual([]);
    expect(z.changed).toEqual([]);
    const h = await convertCommand('hauler', ['sub/hauler.yaml'], { cwd: dir });
    expect(h.manifest.charts).toEqual([{ name: 'podinfo', repo: 'https://charts.example/podinfo', version: '6.0.0', values: ['sub/vals/web.yaml'] }]);
    expect(h.changed).toEqual([]);
  });
});
