import { cp, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../support/cli.js';

/**
 * `ferry audit` on what `ferry mirror-config containerd` wrote for Docker Hub: its hosts.toml sits
 * in certs.d/docker.io but its `server` is Docker Hub's API host, registry-1.docker.io. That file
 * is the mirror configuration for docker.io (as registry.k8s.io's is for registry.k8s.io), not a
 * way out the manifest does not carry.
 */
let work: string;
const sha = 'sha256:' + 'a'.repeat(64);
const ref = 'docker.io/library/nginx:1.25';

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-review-2-'));
  const { writeFile } = await import('node:fs/promises');
  await writeFile(
    path.join(work, 'm.yaml'),
    `apiVersion: ferry/v1alpha1
kind: Manifest
metadata: { name: k8s }
zones:
  - { name: nodes }
  - { name: internet }
images:
  - ref: ${ref}
endpoints:
  - name: docker-hub
    title: Docker Hub
    category: registry
    hosts: [registry-1.docker.io, docker.io]
    from: nodes
    to: internet
    purpose: images
    mitigation: { type: mirrored, description: mirrored to the site registry }
`,
  );
  await writeFile(path.join(work, 't.yaml'), 'apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: site }\nregistry:\n  url: https://registry.site.internal\n  prefix: ferry\n  layout: nested\n');
  await writeFile(
    path.join(work, 'm.lock.json'),
    JSON.stringify({ apiVersion: 'ferry/v1alpha1', kind: 'Lock', manifest: { name: 'k8s', digest: sha }, images: [{ source: ref, ref, digest: sha, mediaType: 'application/vnd.oci.image.index.v1+json', size: 1, manifests: [], blobs: [] }] }),
  );
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('audit of a containerd mirror config for Docker Hub', () => {
  it("classifies certs.d/docker.io/hosts.toml's server (registry-1.docker.io) as mirrored, like any other upstream's", async () => {
    const r = await runFerry(['mirror-config', 'containerd', '-t', 't.yaml', '--lock', 'm.lock.json', '-o', 'node/etc/containerd'], { cwd: work });
    expect(r.code, r.stderr).toBe(0);
    const a = await runFerry(['audit', 'node', '--manifest', 'm.yaml', '--target', 't.yaml', '--fail-on', 'unmitigated', '--json'], { cwd: work });
    const findings = JSON.parse(a.stdout).findings as Array<{ file: string; keyPath: string; value: string; class: string; mirror?: string; note?: string }>;
    const server = findings.find((f) => f.file === 'node/etc/containerd/certs.d/docker.io/hosts.toml' && f.keyPath === 'server');
    expect(server).toMatchObject({ value: 'https://registry-1.docker.io', class: 'mirrored', mirror: 'https://registry.site.internal/v2/ferry/docker.io' });
    expect(server!.note).toContain('tried at docker.io itself');
    expect(a.code, a.stderr).toBe(0);
  });

  it('a docker.io hosts.toml whose server is another host is still that host, not the mirror config', async () => {
    const dir = path.join(work, 'odd');
    await cp(path.join(work, 'node'), dir, { recursive: true });
    const { writeFile } = await import('node:fs/promises');
    await writeFile(path.join(dir, 'etc/containerd/certs.d/docker.io/hosts.toml'), 'server = "https://elsewhere.example.com"\n\n[host."https://registry.site.internal/v2/ferry/docker.io"]\n  capabilities = ["pull"]\n  override_path = true\n');
    const a = await runFerry(['audit', 'odd', '--manifest', 'm.yaml', '--target', 't.yaml', '--json'], { cwd: work });
    const findings = JSON.parse(a.stdout).findings as Array<{ file: string; keyPath: string; class: string }>;
    expect(findings.find((f) => f.file === 'odd/etc/containerd/certs.d/docker.io/hosts.toml' && f.keyPath === 'server')!.class).not.toBe('mirrored');
  });
});
