import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scanPaths } from '../../../src/audit/scan.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const FILES = 60;
const FILE_BYTES = 512 << 10;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-scan-retain-'));
  for (let i = 0; i < FILES; i++) {
    // A README-like file: a megabyte of prose, one URL and one image, neither kept as text.
    const prose = `${'Lorem ipsum dolor sit amet, consectetur adipiscing elit. '.repeat(Math.ceil(FILE_BYTES / 57))}`.slice(0, FILE_BYTES);
    await writeFile(path.join(dir, `README-${i}.md`), `${prose}\nSee https://downloads.vendor-${i}.example.com/releases/latest/install.sh\nimage: registry.vendor.example.com/team/app-${i}:1.2.3\n`);
  }
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('scanPaths keeps findings, not the files they came from', () => {
  it('the references of 60 half-megabyte files hold a few bytes of each (a finding was a view into its whole file)', async () => {
    // Texts over ~1 MB are external strings (outside the heap): both count.
    const used = () => {
      gc();
      const m = process.memoryUsage();
      return m.heapUsed + m.external;
    };
    // Once before measuring: the code's first run compiles and caches what it needs.
    await scanPaths([dir], dir, { textPatterns: [] });
    const before = used();
    const scan = await scanPaths([dir], dir, { textPatterns: [] });
    const retained = used() - before;
    const urls = scan.references.filter((r) => r.value.startsWith('https://downloads.vendor-'));
    expect(urls).toHaveLength(FILES);
    expect(scan.files.every((f) => f.text === undefined)).toBe(true);
    // The texts alone are 30 MB; what is kept of them is a few hundred references.
    expect(retained).toBeLessThan(10 << 20);
  });

  it('keeps the text of a ConfigMap or an OpenShift mirror set (read after the scan), not of a CRD or README that only names them', async () => {
    const d = await mkdtemp(path.join(os.tmpdir(), 'ferry-scan-kept-'));
    try {
      await writeFile(path.join(d, 'crd.yaml'), 'apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nspec:\n  versions:\n    - schema:\n        description: The ConfigMap holding the Subscription and the ImageDigestMirrorSet to use.\n');
      await writeFile(path.join(d, 'cm.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: vars }\ndata:\n  REGISTRY: registry.example.com\n');
      await writeFile(path.join(d, 'list.yaml'), 'apiVersion: v1\nkind: List\nitems:\n  - apiVersion: v1\n    "kind": "ConfigMap"\n    metadata: { name: x }\n');
      await writeFile(path.join(d, 'idms.yaml'), 'apiVersion: config.openshift.io/v1\nkind: ImageDigestMirrorSet\nmetadata: { name: m }\n');
      const scan = await scanPaths([d], d, { textPatterns: [] });
      const kept = Object.fromEntries(scan.files.map((f) => [f.file, f.text !== undefined]));
      expect(kept).toEqual({ 'cm.yaml': true, 'crd.yaml': false, 'idms.yaml': true, 'list.yaml': true });
    } finally {
      await rm(d, { recursive: true, force: true });
    }
  });
});
