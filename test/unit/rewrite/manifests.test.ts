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
  it('moves images a container hands to its program (a --flag-image=REF, a flag then REF, an env variable named for an image) and reports those the mirror lacks', async () => {
    const dir = await scratch();
    const file = await write(
      dir,
      'operator.yaml',
      [
        'apiVersion: apps/v1',
        'kind: Deployment',
        'metadata: {name: op}',
        'spec:',
        '  template:',
        '    spec:',
        '      containers:',
        '        - name: manager',
        '          image: nginx:1.27',
        '          args:',
        '            - --log-level=2',
        '            - --acme-solver-image=quay.io/jetstack/cert-manager-controller:v1.16.0',
        '            - --sidecar-image',
        '            - docker.io/bitnami/redis:7.4',
        '            - --helper-image=quay.io/example/not-carried:1.0',
        '          env:',
        '            - {name: RELOADER_IMAGE, value: "ghcr.io/example/app:2.0"}',
        '            - {name: LOG_FORMAT, value: json}',
        '',
      ].join('\n'),
    );
    const r = await rewriteManifests([file], await fixtureContext(), { allowUnmapped: true });
    expect(r.replacements.map((x) => [x.line, x.new])).toEqual([
      [9, `${MIRROR}/docker.io/library/nginx:1.27`],
      [12, `${MIRROR}/quay.io/jetstack/cert-manager-controller:v1.16.0`],
      [14, `${MIRROR}/docker.io/bitnami/redis:7.4`],
      [17, `${MIRROR}/ghcr.io/example/app:2.0`],
    ]);
    expect(r.unmapped).toEqual([expect.objectContaining({ line: 15, ref: 'quay.io/example/not-carried:1.0', where: expect.stringContaining('handed to the program') })]);
    const c = (parseAllDocuments(await readFile(file, 'utf8'))[0].toJS() as { spec: { template: { spec: { containers: Array<{ args: string[]; env: Array<{ value: string }> }> } } } }).spec.template.spec.containers[0];
    expect(c.args).toEqual([
      '--log-level=2',
      `--acme-solver-image=${MIRROR}/quay.io/jetstack/cert-manager-controller:v1.16.0`,
      '--sidecar-image',
      `${MIRROR}/docker.io/bitnami/redis:7.4`,
      '--helper-image=quay.io/example/not-carried:1.0',
    ]);
    expect(c.env.map((e) => e.value)).toEqual([`${MIRROR}/ghcr.io/example/app:2.0`, 'json']);
  });

  it("Istio's image: auto in a pod that asks for injection is left for the injector; without the request it is an image like any other", async () => {
    const dir = await scratch();
    const pod = (annotations: string) =>
      `apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: gw}\nspec:\n  template:\n    metadata:\n      annotations: {${annotations}}\n    spec:\n      containers:\n        - name: istio-proxy\n          image: auto\n`;
    const injected = await write(dir, 'gw.yaml', pod('inject.istio.io/templates: gateway'));
    const before = await readFile(injected, 'utf8');
    const r = await rewriteManifests([injected], await fixtureContext(), {});
    expect(r.unmapped).toEqual([]);
    expect(r.warnings).toEqual([expect.stringMatching(/gw\.yaml:11: Deployment\/gw .*is "auto", filled in at admission by Istio's injector \(inject\.istio\.io\/templates: gateway\)/)]);
    expect(await readFile(injected, 'utf8')).toBe(before);
    const plain = await write(dir, 'plain.yaml', pod('team: x'));
    const p = await rewriteManifests([plain], await fixtureContext(), { allowUnmapped: true });
    expect(p.unmapped).toEqual([expect.objectContaining({ ref: 'auto' })]);
  });
});
