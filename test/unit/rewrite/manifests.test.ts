import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { rewriteManifests, WORKLOAD_KINDS } from '../../../src/rewrite/manifests.js';
import { CTRL_STORED, MIRROR, fixtureContext, scratch, write } from './helpers.js';

const podSpec = (indent: string) =>
  [
    `${indent}initContainers:`,
    `${indent}  - name: init`,
    `${indent}    image: docker.io/bitnami/redis:7.4`,
    `${indent}containers:`,
    `${indent}  - name: main`,
    `${indent}    image: nginx:1.27`,
    `${indent}ephemeralContainers:`,
    `${indent}  - name: debug`,
    `${indent}    image: ghcr.io/example/app:2.0`,
  ].join('\n');

function workload(kind: string): string {
  const head = `apiVersion: v1\nkind: ${kind}\nmetadata:\n  name: ${kind.toLowerCase()}\n`;
  if (kind === 'Pod') return `${head}spec:\n${podSpec('  ')}\n`;
  if (kind === 'CronJob') return `${head}spec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n${podSpec('          ')}\n`;
  if (kind === 'PodTemplate') return `${head}template:\n  spec:\n${podSpec('    ')}\n`;
  return `${head}spec:\n  template:\n    spec:\n${podSpec('      ')}\n`;
}

describe('rewrite manifests', () => {
  it('rewrites containers, initContainers and ephemeralContainers in every workload kind', async () => {
    const dir = await scratch();
    const kinds = ['Pod', 'Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job', 'CronJob'];
    expect(WORKLOAD_KINDS).toEqual(expect.arrayContaining(kinds));
    const file = await write(dir, 'all.yaml', kinds.map(workload).join('---\n'));
    const r = await rewriteManifests([file], await fixtureContext(), {});
    expect(r.replacements).toHaveLength(kinds.length * 3);
    expect(new Set(r.replacements.map((x) => x.kind))).toEqual(new Set(['image']));
    const docs = parseAllDocuments(await readFile(file, 'utf8')) as Array<{ toJS(): unknown }>;
    const images = JSON.stringify(docs.map((d) => d.toJS())).match(/"image":"[^"]+"/g)!;
    expect(images).toHaveLength(kinds.length * 3);
    for (const i of images) expect(i.startsWith(`"image":"${MIRROR}/`)).toBe(true);
  });

  it("a container image without a tag is pulled as latest: left unmapped (named) when the lock holds only other tags of it", async () => {
    const dir = await scratch();
    // The lock holds ghcr.io/example/app:2.0 only; the kubelet would pull :latest from the mirror and fail.
    const file = await write(dir, 'untagged.yaml', 'apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n    - name: a\n      image: ghcr.io/example/app\n');
    const before = await readFile(file, 'utf8');
    const r = await rewriteManifests([file], await fixtureContext(), { allowUnmapped: true });
    expect(r.replacements).toEqual([]);
    expect(r.unmapped).toEqual([expect.objectContaining({ line: 7, ref: 'ghcr.io/example/app', reason: 'tag latest not in the lock' })]);
    expect(await readFile(file, 'utf8')).toBe(before);
  });

  it('reports image keys outside pod specs as custom resources, and rewrites them too', async () => {
    const dir = await scratch();
    const file = await write(dir, 'cr.yaml', 'apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec:\n  image: quay.io/jetstack/cert-manager-controller:v1.16.0\n');
    const r = await rewriteManifests([file], await fixtureContext(), {});
    expect(r.replacements).toEqual([
      expect.objectContaining({ kind: 'custom-resource-image', line: 5, new: `${MIRROR}/quay.io/jetstack/cert-manager-controller:v1.16.0`, where: 'Widget/w spec.image' }),
    ]);
  });

  it('rewrites image maps in custom resources (registry/repository/tag) and reports them as such', async () => {
    const dir = await scratch();
    const file = await write(dir, 'cr.yaml', 'apiVersion: example.com/v1\nkind: Cache\nmetadata: {name: c}\nspec:\n  image:\n    registry: docker.io   # vendor default\n    repository: bitnami/redis\n    tag: "7.4"\n');
    const r = await rewriteManifests([file], await fixtureContext(), {});
    expect(await readFile(file, 'utf8')).toBe(`apiVersion: example.com/v1\nkind: Cache\nmetadata: {name: c}\nspec:\n  image:\n    registry: ${MIRROR}/docker.io   # vendor default\n    repository: bitnami/redis\n    tag: "7.4"\n`);
    expect(r.replacements).toEqual([expect.objectContaining({ kind: 'custom-resource-image', line: 6, old: 'docker.io', where: 'Cache/c spec.image (docker.io/bitnami/redis:7.4)' })]);
  });

  it('walks directories, keeps comments and quoting, uses the stored digest, and is idempotent', async () => {
    const dir = await scratch('deploy.yaml');
    await write(dir, 'README.md', 'image: nginx:1.27\n');
    const ctx = await fixtureContext();
    const r = await rewriteManifests([dir], ctx, {});
    expect(r.files).toEqual([path.join(dir, 'deploy.yaml')]);
    const text = await readFile(path.join(dir, 'deploy.yaml'), 'utf8');
    expect(text).toContain(`          image: ${MIRROR}/docker.io/library/nginx:1.27   # keep this comment\n`);
    expect(text).toContain(`          image: "${MIRROR}/registry.k8s.io/ingress-nginx/controller:v1.15.1@${CTRL_STORED}"\n`);
    expect(text.startsWith('# Rendered manifests\n')).toBe(true);
    const again = await rewriteManifests([dir], ctx, {});
    expect(again.replacements).toEqual([]);
    expect(await readFile(path.join(dir, 'deploy.yaml'), 'utf8')).toBe(text);
  });

  it('a List of workloads is understood', async () => {
    const dir = await scratch();
    const file = await write(dir, 'list.yaml', `apiVersion: v1\nkind: List\nitems:\n  - apiVersion: v1\n    kind: Pod\n    metadata: {name: p}\n    spec:\n      containers:\n        - name: a\n          image: nginx:1.27\n`);
    const r = await rewriteManifests([file], await fixtureContext(), {});
    expect(r.replacements[0]).toMatchObject({ kind: 'image', where: 'Pod/p items[0].spec.containers[0].image' });
  });

  it('refuses a Helm template with a clear message', async () => {
    const dir = await scratch();
    const file = await write(dir, 't.yaml', 'spec:\n  image: {{ .Values.image }}\n  x: {{ .Values.x\n');
    const err = await rewriteManifests([file], await fixtureContext(), {}).catch((e) => e);
    expect(err.code).toBe('VALIDATION');
    expect(err.message).toContain(file);
  });
});
