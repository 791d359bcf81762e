import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveTarget, withRegistryClient } from '../../../src/manifest/resolved-target.js';
import type { LoadedTarget } from '../../../src/manifest/load.js';
import type { RegistryClient } from '../../../src/oci/client.js';

const dir = path.resolve('/srv/site');
const loaded: LoadedTarget = {
  file: path.join(dir, 'target.yaml'),
  dir,
  target: {
    apiVersion: 'ferry/v1alpha1',
    kind: 'MirrorTarget',
    metadata: { name: 'site' },
    registry: { url: 'https://registry.site.internal:5443', prefix: 'mirror', layout: 'flat', ca: 'certs/ca.pem', insecure: false },
    directory: 'layout',
    charts: { dir: 'charts', baseUrl: 'https://charts.site.internal/helm' },
    files: { dir: '/var/www/files', baseUrl: 'https://files.site.internal' },
    apt: { dir: 'apt', baseUrl: 'https://apt.site.internal', signingKey: 'keys/site.asc' },
  },
};

describe('resolveTarget', () => {
  it('makes every facet path absolute against the target file and parses the registry once', () => {
    const r = resolveTarget(loaded);
    expect(r.directory).toBe(path.join(dir, 'layout'));
    expect(r.charts).toEqual({ dir: path.join(dir, 'charts'), baseUrl: 'https://charts.site.internal/helm' });
    expect(r.files?.dir).toBe('/var/www/files');
    expect(r.apt).toEqual({ dir: path.join(dir, 'apt'), baseUrl: 'https://apt.site.internal', signingKey: path.join(dir, 'keys/site.asc') });
    expect(r.registry?.host).toBe('registry.site.internal:5443');
    expect(r.registry?.ca).toBe(path.join(dir, 'certs/ca.pem'));
    expect(r.registry?.mapping).toMatchObject({ host: 'registry.site.internal:5443', prefix: 'mirror', layout: 'flat' });
    // The loaded form is kept for settings the resolved form does not interpret.
    expect(r.file).toBe(loaded.file);
    expect(r.target).toBe(loaded.target);
  });

  it('is done once: resolving the loaded or the resolved form again gives the same object', () => {
    const r = resolveTarget(loaded);
    expect(resolveTarget(loaded)).toBe(r);
    expect(resolveTarget(r)).toBe(r);
  });

  it('carries the registry client a command built, and stays resolved', () => {
    const client = {} as RegistryClient;
    const r = withRegistryClient(resolveTarget(loaded), client);
    expect(r.registry?.client).toBe(client);
    expect(resolveTarget(r)).toBe(r);
  });

  it('leaves out facets the target does not have', () => {
    const r = resolveTarget({ ...loaded, target: { ...loaded.target, registry: undefined, charts: undefined, files: undefined, apt: undefined } });
    expect(r.registry).toBeUndefined();
    expect(r.charts).toBeUndefined();
    expect(r.directory).toBe(path.join(dir, 'layout'));
  });
});
