import { describe, expect, it } from 'vitest';
import { formatImageReference, normalizeImageReference, parseImageReference } from '../../../src/oci/reference.js';

describe('parseImageReference', () => {
  it.each([
    ['alpine', 'docker.io/library/alpine'],
    ['alpine:3.20', 'docker.io/library/alpine:3.20'],
    ['bitnami/redis:7', 'docker.io/bitnami/redis:7'],
    ['index.docker.io/library/nginx', 'docker.io/library/nginx'],
    ['docker.io/nginx:1.27', 'docker.io/library/nginx:1.27'],
    ['localhost/foo', 'localhost/foo'],
    ['localhost:5000/foo/bar:1', 'localhost:5000/foo/bar:1'],
    ['registry.example.com:5000/team/api:1.4.2', 'registry.example.com:5000/team/api:1.4.2'],
    ['[::1]:5000/app:v1', '[::1]:5000/app:v1'],
    ['quay.io/jetstack/cert-manager-controller:v1.21.1', 'quay.io/jetstack/cert-manager-controller:v1.21.1'],
    [`alpine:3.20@sha256:${'a'.repeat(64)}`, `docker.io/library/alpine:3.20@sha256:${'a'.repeat(64)}`],
    [`ghcr.io/a/b@sha256:${'0'.repeat(64)}`, `ghcr.io/a/b@sha256:${'0'.repeat(64)}`],
    ['a__b/c-d.e_f:Tag_1.0-x', 'docker.io/a__b/c-d.e_f:Tag_1.0-x'],
  ])('%s → %s', (input, expected) => {
    expect(normalizeImageReference(input)).toBe(expected);
  });

  it('splits registry, repository, tag and digest', () => {
    const d = `sha256:${'b'.repeat(64)}`;
    expect(parseImageReference(`registry.example.com:5000/team/api:1.4.2@${d}`)).toEqual({
      registry: 'registry.example.com:5000',
      repository: 'team/api',
      tag: '1.4.2',
      digest: d,
    });
  });

  it.each([
    ['', 'empty'],
    ['Alpine', 'lowercase'],
    ['docker.io/Library/alpine', 'lowercase'],
    ['alpine:', 'invalid tag'],
    ['alpine:-x', 'invalid tag'],
    ['alpine@sha256:abc', 'invalid digest'],
    [`alpine@sha256:${'A'.repeat(64)}`, '64 lowercase hex'],
    ['https://docker.io/alpine', 'URL scheme'],
    ['registry.example.com:99999/a', 'invalid port'],
    ['foo//bar', 'invalid path component'],
    ['foo/-bar', 'invalid path component'],
    ['a b', 'whitespace'],
    ['[::1/app', 'IPv6'],
    // Zones and dotted quads are not in distribution/reference's grammar; a zone of `..` mapped to no valid mirror path (hostile16).
    ['[fe80::1%eth0]:5000/app:1', 'invalid IPv6 address'],
    ['[fe80::1%..]:5000/app:1', 'invalid IPv6 address'],
    ['[::ffff:10.0.0.1]:5000/app', 'invalid IPv6 address'],
    ['[1:2:3:4:5:6:7:8:9]:5000/app', 'invalid IPv6 address'],
  ])('rejects %j (%s)', (input, why) => {
    expect(() => parseImageReference(input)).toThrow(why);
  });

  it('round-trips the normalized form', () => {
    const s = 'registry.example.com:5000/team/api:1.4.2';
    expect(formatImageReference(parseImageReference(s))).toBe(s);
  });
});
