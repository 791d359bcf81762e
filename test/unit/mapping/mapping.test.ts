import { describe, expect, it } from 'vitest';
import { checkCollisions, hostPathComponent, mapFileUrl, mapImage } from '../../../src/mapping/index.js';

describe('mapImage', () => {
  it('nested keeps the upstream host as a path component, ports made valid', () => {
    const m = { host: 'harbor.site.internal', prefix: 'mirror', layout: 'nested' as const };
    expect(mapImage('alpine:3.20', m).mirror).toBe('harbor.site.internal/mirror/docker.io/library/alpine:3.20');
    expect(mapImage('registry.example.com:5000/team/api:1.4.2', m).mirror).toBe(
      'harbor.site.internal/mirror/registry.example.com-5000/team/api:1.4.2',
    );
    expect(hostPathComponent('[::1]:5000')).toBe('1-5000');
  });

  it('flat drops the host and refuses collisions', () => {
    const m = { host: 'r:5000', layout: 'flat' as const };
    expect(mapImage('quay.io/jetstack/cert-manager-controller:v1', m).mirror).toBe('r:5000/jetstack/cert-manager-controller:v1');
    expect(() => checkCollisions(['quay.io/a/b:1', 'ghcr.io/a/b:2'], m)).toThrow(
      expect.objectContaining({ code: 'CONFLICT', details: ['quay.io/a/b and ghcr.io/a/b both map to a/b'] }),
    );
  });

  it('keeps digests, swapping in the stored digest when a platform filter changed it', () => {
    const up = `sha256:${'1'.repeat(64)}`;
    const stored = `sha256:${'2'.repeat(64)}`;
    expect(mapImage(`alpine@${up}`, { layout: 'nested' }, stored).mirror).toBe(`docker.io/library/alpine@${stored}`);
  });

  it('refuses paths deeper than the target allows, naming both', () => {
    expect(() => mapImage('quay.io/a/b/c:1', { layout: 'nested', prefix: 'p', maxPathDepth: 2 })).toThrow(/quay.io\/a\/b\/c: mirror path p\/quay.io\/a\/b\/c has 5 components; the target allows 2/);
  });
});

describe('mapFileUrl', () => {
  it('places a URL under host/path', () => {
    expect(mapFileUrl('https://cloud-images.ubuntu.com/noble/current/x.img', { baseUrl: 'https://files.site/' })).toEqual({
      upstream: 'https://cloud-images.ubuntu.com/noble/current/x.img',
      path: 'cloud-images.ubuntu.com/noble/current/x.img',
      url: 'https://files.site/cloud-images.ubuntu.com/noble/current/x.img',
    });
  });
});
