import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { auditReferences } from '../../../src/audit/audit.js';
import { buildConnectionModel } from '../../../src/audit/model.js';
import { scanPaths } from '../../../src/audit/scan.js';
import { validateManifest } from '../../../src/kinds/schema.js';

/**
 * An OLM Subscription to one of OpenShift's default catalogs (`source: redhat-operators`) in a
 * GitOps repository: the cluster installs the operator from registry.redhat.io (the catalog's
 * index, the bundle, the operator's images), yet no line of the tree names that host, so audit
 * found nothing and a repository that still reaches out came out clean (round 17's leftover).
 */
const subscription = (name: string, source: string, extra = '') =>
  `apiVersion: operators.coreos.com/v1alpha1\nkind: Subscription\nmetadata:\n  name: ${name}\n  namespace: openshift-operators\nspec:\n  channel: stable\n  name: ${name}\n  source: ${source}\n  sourceNamespace: openshift-marketplace\n${extra}`;

async function audit(files: Record<string, string>) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-olm-'));
  try {
    for (const [f, text] of Object.entries(files)) await writeFile(path.join(dir, f), text);
    const loaded = { manifest: validateManifest({ apiVersion: 'ferry/v1alpha1', kind: 'Manifest', metadata: { name: 'ocp' } }, 'inline'), file: 'm.yaml', dir: '.', digest: 'sha256:x' };
    return auditReferences(buildConnectionModel(loaded), undefined, await scanPaths([dir], dir), { manifestFile: 'm.yaml', failOn: 'unmapped', kinds: [] });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('OLM Subscriptions', () => {
  it('one to a default catalog is a finding at its spec.source: registry.redhat.io, with what to do', async () => {
    const r = await audit({ 'sub.yaml': subscription('cluster-logging', 'redhat-operators') });
    expect(r.findings).toEqual([
      expect.objectContaining({ file: 'sub.yaml', line: 9, keyPath: 'spec.source', kind: 'host', value: 'registry.redhat.io', class: 'undeclared', note: expect.stringContaining('from the default catalog redhat-operators') }),
    ]);
    expect(r.findings[0].note).toMatch(/disableAllDefaultSources/);
    expect(r.failed).toBe(true);
  });

  it('one to a catalog of the site (or a default name the scan defines as a CatalogSource) adds nothing of its own', async () => {
    const mirrored = 'apiVersion: operators.coreos.com/v1alpha1\nkind: CatalogSource\nmetadata:\n  name: redhat-operators\n  namespace: openshift-marketplace\nspec:\n  sourceType: grpc\n  image: mirror.internal:5000/redhat/redhat-operator-index:v4.16\n';
    const r = await audit({ 'sub.yaml': `${subscription('a', 'cs-redhat-operator-index')}---\n${subscription('b', 'redhat-operators')}`, 'cs.yaml': mirrored });
    expect(r.findings.map((f) => `${f.file}:${f.keyPath}`)).toEqual(['cs.yaml:spec.image']);
  });
});
