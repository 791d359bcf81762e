import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { scanPaths } from '../../../src/audit/scan.js';
import { writeTree } from '../../support/fs-tree.js';

/**
 * A Compose file on a podman host (newuser35): podman-compose runs podman, which resolves a short
 * name through the host's registries.conf; docker compose on the podman socket goes through
 * podman's Docker-compatible API, which normalizes it to Docker Hub. Where the two differ, the
 * registry is unknown (was: docker.io, as on a Docker host); where they agree, it is that one. A
 * Compose file on no scanned podman host keeps Docker's reading.
 */
describe('Compose short names on a podman host', () => {
  it('unknown when podman-compose and the Docker-compatible API differ, known when they agree, docker.io off the host', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-nu35-'));
    try {
      await writeTree(dir, {
        'a/etc/containers/registries.conf': 'unqualified-search-registries = ["quay.io"]\n[aliases]\n"redis" = "docker.io/library/redis"\n',
        'a/srv/compose.yaml': 'services:\n  web:\n    image: nginx:1.25\n  cache:\n    image: redis:7.2\n',
        'b/srv/compose.yaml': 'services:\n  web:\n    image: nginx:1.25\n',
      });
      const scan = await scanPaths(['a', 'b'], dir);
      const at = (file: string, keyPath: string) => scan.references.filter((r) => r.file === file && r.keyPath === keyPath);
      const web = at('a/srv/compose.yaml', 'services.web.image');
      expect(web).toEqual([expect.objectContaining({ value: 'nginx:1.25' })]);
      expect(web[0].podman?.unknown).toContain('podman-compose pulls it as podman resolves it, quay.io/nginx:1.25');
      expect(web[0].podman?.unknown).toContain('docker compose on the podman socket pulls docker.io/library/nginx:1.25');
      expect(at('a/srv/compose.yaml', 'services.cache.image')).toEqual([expect.objectContaining({ value: 'docker.io/library/redis:7.2', podman: expect.objectContaining({ compose: true, written: 'redis:7.2' }) })]);
      // b/ is under no scanned registries.conf (two roots would be needed for it to be a podman host): Docker's reading.
      expect(at('b/srv/compose.yaml', 'services.web.image')).toEqual([expect.not.objectContaining({ podman: expect.anything() })]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
