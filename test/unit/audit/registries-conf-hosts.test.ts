import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { scanPaths } from '../../../src/audit/scan.js';

/**
 * A podman host's registries.conf names the registries its pulls go to. A name under a top-level
 * domain the text patterns do not list (`mirror.vendor.example`, `registry.acme.internal.corp`) or
 * a bare `registry:5000` was not found at all: the pulls to it went unreported.
 */
describe('registries.conf: every registry it sends pulls to is a host finding', () => {
  it('locations, mirrors, the search list and aliases, whatever their domain; not wildcards or option words', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-regconf-'));
    try {
      await mkdir(path.join(dir, 'etc/containers/registries.conf.d'), { recursive: true });
      await writeFile(
        path.join(dir, 'etc/containers/registries.conf'),
        [
          'unqualified-search-registries = ["registry.acme.corp", "quay.io"]',
          'short-name-mode = "enforcing"',
          '',
          '[[registry]]',
          'prefix = "quay.io/acme"',
          'location = "mirror.vendor.example/acme"',
          '',
          '[[registry.mirror]]',
          'location = "registry:5000/quay"',
          'pull-from-mirror = "digest-only"',
          '',
          '[[registry]]',
          'prefix = "*.example.org"',
          'blocked = true',
          '',
          '[[registry]]',
          'location = "gcr.example.cloud"',
          'mirror = [{ location = "10.1.2.3:5000/gcr" }, { location = "edge-cache.lab.test:8443" }]',
          '',
        ].join('\n'),
      );
      await writeFile(path.join(dir, 'etc/containers/registries.conf.d/shortnames.conf'), '[aliases]\n"tool" = "registry.vendor.example/tools/tool"\n');
      const scan = await scanPaths([dir], dir);
      const hosts = scan.references.filter((r) => r.kind === 'host').map((r) => `${r.keyPath} ${r.value}`);
      expect(hosts.sort()).toEqual(
        [
          'unqualified-search-registries registry.acme.corp',
          'unqualified-search-registries quay.io',
          'registry.prefix quay.io',
          'registry.location mirror.vendor.example',
          'registry.mirror.location registry:5000',
          'registry.location gcr.example.cloud',
          'registry.mirror 10.1.2.3',
          'registry.mirror edge-cache.lab.test:8443',
          'aliases.tool registry.vendor.example',
        ].sort(),
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
