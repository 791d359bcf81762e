import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lockRewriteRender, MIRROR } from './helpers.js';

// `rewrite values` moves an image only where the file sets it: the lock records, per image, the
// values keys that deploy it (found by rendering the chart), and the file is checked key by key.
// Each chart is built here, locked as `ferry lock` locks it, rewritten, then rendered again with
// the rewritten file: every image is on the mirror or named in a warning.
let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ferry-rewrite-values-keys-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const deployment = (name: string, image: string) =>
  `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ${name}\nspec:\n  template:\n    spec:\n      containers:\n        - name: c\n          image: ${image}\n`;

async function writeChart(dir: string, files: Record<string, string>): Promise<string> {
  for (const [f, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, f)), { recursive: true });
    await writeFile(path.join(dir, f), text);
  }
  return dir;
}

describe('rewrite values: the values keys that deploy each locked image', () => {
  it('the same image under another key: a subchart running it from its own default is named as not moved', async () => {
    const dir = await writeChart(path.join(tmp, 'parent'), {
      'Chart.yaml': 'apiVersion: v2\nname: parent\nversion: 1.0.0\ndependencies:\n  - name: sub\n    version: 0.1.0\n',
      'values.yaml': 'shell:\n  image:\n    registry: docker.io\n    repository: bitnami/os-shell\n    tag: "12"\n',
      'templates/deploy.yaml': deployment('parent', '"{{ .Values.shell.image.registry }}/{{ .Values.shell.image.repository }}:{{ .Values.shell.image.tag }}"'),
      'charts/sub/Chart.yaml': 'apiVersion: v2\nname: sub\nversion: 0.1.0\n',
      'charts/sub/values.yaml': 'volumePermissions:\n  image:\n    registry: docker.io\n    repository: bitnami/os-shell\n    tag: "12"\n',
      'charts/sub/templates/deploy.yaml': deployment('sub', '"{{ .Values.volumePermissions.image.registry }}/{{ .Values.volumePermissions.image.repository }}:{{ .Values.volumePermissions.image.tag }}"'),
    });
    // The user's file is the parent's values: it names os-shell, under the parent's key only.
    const { r, upstream, lock } = await lockRewriteRender(tmp, dir, 'shell:\n  image:\n    registry: docker.io\n    repository: bitnami/os-shell\n    tag: "12"\n');
    expect(lock.charts![0].imageValues).toEqual({ 'docker.io/bitnami/os-shell:12': [{ path: 'shell.image', registry: true }, { path: 'sub.volumePermissions.image', registry: true }] });
    expect(upstream).toEqual(['docker.io/bitnami/os-shell:12']);
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toContain('docker.io/bitnami/os-shell:12 (from sub.volumePermissions.image)');
    expect(r.warnings[0]).toContain('ferry rewrite chart');
  });

  it('setting every key that deploys it moves the image everywhere, with no warning', async () => {
    const { r, upstream } = await lockRewriteRender(
      tmp,
      path.join(tmp, 'parent'),
      'shell:\n  image:\n    registry: docker.io\n    repository: bitnami/os-shell\n    tag: "12"\nsub:\n  volumePermissions:\n    image:\n      registry: docker.io\n      repository: bitnami/os-shell\n      tag: "12"\n',
    );
    expect(upstream).toEqual([]);
    expect(r.warnings).toEqual([]);
  });

  it("a map without the registry key the chart's map has: the template puts the chart's registry in front, so the file is left as is and the image named", async () => {
    const dir = await writeChart(path.join(tmp, 'prefixed'), {
      'Chart.yaml': 'apiVersion: v2\nname: prefixed\nversion: 1.0.0\n',
      'values.yaml': 'image:\n  registry: docker.io\n  repository: bitnami/kafka\n  tag: "4.0"\n',
      'templates/deploy.yaml': deployment('kafka', '"{{ .Values.image.registry }}/{{ .Values.image.repository }}:{{ .Values.image.tag }}"'),
    });
    const user = 'image:\n  repository: bitnami/kafka\n  tag: "4.0"\n';
    const { r, text, rendered } = await lockRewriteRender(tmp, dir, user);
    // Not `docker.io/<mirror>/docker.io/bitnami/kafka:4.0`: the repository is not rewritten.
    expect(text).toBe(user);
    expect(rendered).toEqual(['docker.io/bitnami/kafka:4.0']);
    expect(r.warnings.join('\n')).toContain("docker.io/bitnami/kafka:4.0 (from image (give it a registry key: the chart's map there has one))");
  });

  it('a subchart copy the values finder does not walk (its version matches none of the aliased dependencies): its scope is the location, and the image is named', async () => {
    const dir = await writeChart(path.join(tmp, 'aliased'), {
      'Chart.yaml': 'apiVersion: v2\nname: aliased\nversion: 1.0.0\ndependencies:\n  - name: cache\n    alias: cachea\n    version: 7.x.x\n',
      'values.yaml': 'cachea:\n  image:\n    registry: docker.io\n    repository: bitnami/memcached\n    tag: "1.6"\n',
      'charts/cache/Chart.yaml': 'apiVersion: v2\nname: cache\nversion: 8.0.0\n',
      'charts/cache/values.yaml': 'image:\n  registry: docker.io\n  repository: bitnami/memcached\n  tag: "1.6"\n',
      'charts/cache/templates/deploy.yaml': deployment('cache', '"{{ .Values.image.registry }}/{{ .Values.image.repository }}:{{ .Values.image.tag }}"'),
    });
    const { r, upstream } = await lockRewriteRender(tmp, dir, 'cachea:\n  image:\n    registry: docker.io\n    repository: bitnami/memcached\n    tag: "1.6"\n');
    expect(upstream).toEqual(['docker.io/bitnami/memcached:1.6']);
    expect(r.warnings.join('\n')).toContain('docker.io/bitnami/memcached:1.6 (from cache)');
  });

  it('a lock written before the keys were recorded still reads, and falls back to: the file names the image somewhere', async () => {
    const { r, lock } = await lockRewriteRender(tmp, path.join(tmp, 'parent'), 'shell:\n  image:\n    registry: docker.io\n    repository: bitnami/os-shell\n    tag: "12"\n', false);
    expect(lock.charts![0].imageValues).toBeUndefined();
    expect(r.warnings).toEqual([]);
  });
});
