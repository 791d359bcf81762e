import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LockSchema } from '../../src/kinds/schema.js';
import { MirrorTargetSchema } from '../../src/manifest/target.js';
import { createRewriteContext } from '../../src/rewrite/context.js';
import { rewriteManifests } from '../../src/rewrite/manifests.js';

/**
 * kubeadm pulls CoreDNS as `<dns.imageRepository>/coredns:<tag>`, except that a repository equal
 * to its default (`registry.k8s.io`) gets `/coredns` appended first. So the common explicit
 * `dns.imageRepository: registry.k8s.io/coredns` pulls `registry.k8s.io/coredns/coredns`, and a
 * rewrite that leaves it as written sends every control-plane node upstream for CoreDNS.
 */
const sha = 'sha256:' + 'a'.repeat(64);
const img = (ref: string) => ({ source: ref, ref, digest: sha, mediaType: 'application/vnd.oci.image.index.v1+json', size: 1, manifests: [], blobs: [] });
const ctx = () =>
  createRewriteContext(
    MirrorTargetSchema.parse({ apiVersion: 'ferry/v1alpha1', kind: 'MirrorTarget', metadata: { name: 's' }, registry: { url: 'https://registry.site.internal', prefix: 'ferry', layout: 'nested' } }),
    LockSchema.parse({ apiVersion: 'ferry/v1alpha1', kind: 'Lock', manifest: { name: 'k', digest: sha }, images: ['registry.k8s.io/pause:3.10', 'registry.k8s.io/coredns/coredns:v1.11.3', 'quay.io/coredns/coredns:1.9.0'].map(img) }),
  );

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-review-2-kubeadm-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function rewrite(name: string, text: string) {
  const file = path.join(dir, name);
  await writeFile(file, text);
  const r = await rewriteManifests([file], ctx(), {});
  return { r, text: await readFile(file, 'utf8') };
}

describe('rewrite manifests: kubeadm dns.imageRepository written with a path', () => {
  it('moves `registry.k8s.io/coredns` to the mirror place of registry.k8s.io plus /coredns', async () => {
    const { r, text } = await rewrite(
      'a.yaml',
      'apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nimageRepository: registry.k8s.io\ndns:\n  imageRepository: registry.k8s.io/coredns\n',
    );
    expect(text).toContain('\nimageRepository: registry.site.internal/ferry/registry.k8s.io\n');
    // pulled as <repo>/coredns:<tag> = registry.site.internal/ferry/registry.k8s.io/coredns/coredns, what the mirror holds
    expect(text).toContain('dns:\n  imageRepository: registry.site.internal/ferry/registry.k8s.io/coredns\n');
    expect(r.replacements.map((x) => x.new)).toContain('registry.site.internal/ferry/registry.k8s.io/coredns');
  });

  it('a dns.imageRepository on another carried registry gets no /coredns added (kubeadm adds it only for its default)', async () => {
    const { text } = await rewrite('b.yaml', 'apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nimageRepository: registry.k8s.io\ndns:\n  imageRepository: quay.io/coredns\n');
    // quay.io/coredns/coredns:<tag> is on the mirror at registry.site.internal/ferry/quay.io/coredns/coredns
    expect(text).toContain('dns:\n  imageRepository: registry.site.internal/ferry/quay.io/coredns\n');
  });

  it('keeps the default rule: dns.imageRepository registry.k8s.io becomes <place>/coredns', async () => {
    const { text } = await rewrite('c.yaml', 'apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nimageRepository: registry.k8s.io\ndns:\n  imageRepository: registry.k8s.io\n');
    expect(text).toContain('dns:\n  imageRepository: registry.site.internal/ferry/registry.k8s.io/coredns\n');
  });
});
