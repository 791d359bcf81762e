import { describe, expect, it } from 'vitest';
import { mergeScopes, parseWwwAuthenticate, repositoryScope } from '../../../src/oci/auth.js';

describe('WWW-Authenticate parsing', () => {
  it('reads a Docker Hub bearer challenge', () => {
    expect(parseWwwAuthenticate('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"')).toEqual([
      { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/alpine:pull' } },
    ]);
  });
  it('reads Basic, unquoted values, odd spacing and escapes', () => {
    expect(parseWwwAuthenticate('Basic realm="Registry Realm"')).toEqual([{ scheme: 'basic', params: { realm: 'Registry Realm' } }]);
    expect(parseWwwAuthenticate('bearer  realm = https://a/t , service=svc')).toEqual([{ scheme: 'bearer', params: { realm: 'https://a/t', service: 'svc' } }]);
    expect(parseWwwAuthenticate('Bearer realm="a\\"b",error="insufficient_scope"')[0].params).toEqual({ realm: 'a"b', error: 'insufficient_scope' });
  });
  it('splits several challenges in one header', () => {
    const c = parseWwwAuthenticate('Basic realm="x", Bearer realm="https://t/token",service="s"');
    expect(c.map((x) => x.scheme)).toEqual(['basic', 'bearer']);
    expect(c[1].params).toEqual({ realm: 'https://t/token', service: 's' });
  });
  it('copes with nothing', () => {
    expect(parseWwwAuthenticate(undefined)).toEqual([]);
    expect(parseWwwAuthenticate('')).toEqual([]);
  });
});

describe('scopes', () => {
  it('builds per-repository scopes and merges actions per resource', () => {
    expect(repositoryScope('team/app', 'pull,push')).toBe('repository:team/app:pull,push');
    expect(mergeScopes(['repository:a:push', 'repository:a:pull', 'repository:b:pull'])).toEqual(['repository:a:pull,push', 'repository:b:pull']);
    expect(mergeScopes(['repository:a:pull repository:c:pull', 'registry:catalog:*'])).toEqual(['registry:catalog:*', 'repository:a:pull', 'repository:c:pull']);
  });
});
