import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { scanPaths } from '../../../src/audit/scan.js';

describe('scanPaths keeps the text of a file only for the passes that read it', () => {
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
