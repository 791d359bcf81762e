import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { hostOfDestinationKey, scanPaths } from '../../../src/audit/scan.js';

/**
 * A host under a domain the text patterns do not list (`lic.vendor.jp`, `mirror.acme.example`)
 * was found nowhere, even under a key that says it is a destination: a license server or SMTP
 * relay outside went unreported.
 */
describe('a destination key names a host whatever its domain', () => {
  it('three labels or more, or a country domain, under a host/server/endpoint/registry/proxy key', () => {
    expect(hostOfDestinationKey('license.server', 'lic.vendor.jp')).toBe('lic.vendor.jp');
    expect(hostOfDestinationKey('SMTP_HOST', 'mail.corp.example')).toBe('mail.corp.example');
    expect(hostOfDestinationKey('telemetry.endpoint', 'collect.acme.example:8443/v1')).toBe('collect.acme.example:8443');
    expect(hostOfDestinationKey('upstreams[1]', 'cache.acme.example')).toBe('cache.acme.example');
    expect(hostOfDestinationKey('hosts[0]', 'a.b.c')).toBeUndefined(); // no domain is one letter
    expect(hostOfDestinationKey('proxy_host', 'squid.ops.ru')).toBe('squid.ops.ru');
    expect(hostOfDestinationKey('global.imageRegistry', 'registry.acme.example')).toBe('registry.acme.example');
    // a Service in another namespace, a cluster domain, a file, a version, a word: not hosts
    expect(hostOfDestinationKey('redis.host', 'redis-master.cache')).toBeUndefined();
    expect(hostOfDestinationKey('clusterDomain', 'cluster.local.example')).toBeUndefined();
    expect(hostOfDestinationKey('server.config', 'server.prod.yaml')).toBeUndefined();
    expect(hostOfDestinationKey('server', '1.2.3')).toBeUndefined();
    expect(hostOfDestinationKey('server', 'enabled')).toBeUndefined();
    expect(hostOfDestinationKey('name', 'lic.vendor.jp')).toBeUndefined();
  });

  it('in values, env and TOML files, once (a host the patterns already find is not repeated)', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-destkeys-'));
    try {
      await writeFile(path.join(dir, 'values.yaml'), 'license:\n  server: lic.vendor.jp\n  port: 27000\nsmtp:\n  host: relay.mail.acme.example\ndb:\n  host: postgres.data\nsite:\n  url: https://portal.acme.example/\n');
      await writeFile(path.join(dir, 'app.env'), 'LICENSE_SERVER_HOST=lic2.vendor.jp\nAPP_NAME=shop.frontend.web\n');
      await writeFile(path.join(dir, 'agent.toml'), '[upload]\nendpoint = "ingest.acme.example:4317"\n');
      const scan = await scanPaths([dir], dir);
      const found = scan.references.map((r) => `${path.basename(r.file)} ${r.keyPath} ${r.kind} ${r.value}`).sort();
      expect(found).toEqual(
        [
          'agent.toml upload.endpoint host ingest.acme.example:4317',
          'app.env LICENSE_SERVER_HOST host lic2.vendor.jp',
          'values.yaml license.server host lic.vendor.jp',
          'values.yaml site.url url https://portal.acme.example/',
          'values.yaml smtp.host host relay.mail.acme.example',
        ].sort(),
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
