import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../support/cli.js';
import { writeTree } from '../support/fs-tree.js';
import { imagesLock, imagesManifest, NESTED_SITE_TARGET } from '../support/offline-lock.js';
import type { AuditReport } from '../../src/audit/audit.js';

/**
 * One host's registries.conf mirror does not vouch for pulls elsewhere: a Compose file on a Docker
 * host (under no scanned registries.conf) is pulled by dockerd, which reads no registries.conf, so
 * a podman host's mirror for docker.io elsewhere in the scan does not make it "mirrored".
 */

const IMAGE = 'docker.io/library/nginx:1.25';
let work: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-podman-hosts-'));
  await writeFile(path.join(work, 'm.yaml'), imagesManifest('edge', [IMAGE]));
  await writeFile(path.join(work, 'edge.lock.json'), imagesLock('edge', [IMAGE]));
  await writeFile(path.join(work, 't.yaml'), NESTED_SITE_TARGET);
  await writeTree(path.join(work, 'tree'), {
    'hosts/a/etc/containers/registries.conf': '[[registry]]\nprefix = "docker.io"\nlocation = "docker.io"\n[[registry.mirror]]\nlocation = "registry.site.internal/ferry/docker.io"\n',
    'hosts/b/etc/containers/registries.conf': 'unqualified-search-registries = ["docker.io"]\n',
    'docker-host/srv/compose.yaml': `services:\n  web:\n    image: ${IMAGE}\n`,
  });
});
afterAll(() => rm(work, { recursive: true, force: true }));

const workload = async (...dirs: string[]) => {
  const r = await runFerry(['audit', ...dirs.map((d) => `tree/${d}`), '--manifest', 'm.yaml', '--target', 't.yaml', '--format', 'json'], { cwd: work });
  return (JSON.parse(r.stdout) as AuditReport).findings.filter((f) => f.file === 'tree/docker-host/srv/compose.yaml' && f.kind === 'image');
};

describe("a podman host's registries.conf and a Compose file on a Docker host", () => {
  it("dockerd pulls it from Docker Hub whatever a podman host's registries.conf says", async () => {
    const f = await workload('hosts/a', 'hosts/b', 'docker-host');
    expect(f).toHaveLength(1);
    expect(f[0].class, JSON.stringify(f[0])).not.toBe('mirrored');
    expect(f[0].note).toContain('dockerd');
    // With the podman hosts out of the scan, the same reading.
    expect((await workload('docker-host')).map((x) => x.note)).toEqual(f.map((x) => x.note));
  });
});
