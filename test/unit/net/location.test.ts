import { describe, expect, it } from 'vitest';
import { redactUrl } from '../../../src/net/http.js';
import { parseRetryAfter } from '../../../src/net/retry.js';
import { appendQuery, isLoopbackHost, nextLink, rangeEnd, resolveLocation } from '../../../src/oci/client.js';

describe('upload Location joining', () => {
  const base = 'https://reg.example:5000/v2/team/app/blobs/uploads/';
  it('resolves relative and absolute Locations against the request URL', () => {
    expect(resolveLocation(base, '/v2/team/app/blobs/uploads/abc?_state=x%3D')).toBe('https://reg.example:5000/v2/team/app/blobs/uploads/abc?_state=x%3D');
    expect(resolveLocation(base, 'abc')).toBe('https://reg.example:5000/v2/team/app/blobs/uploads/abc');
    expect(resolveLocation(base, 'https://uploads.example/u/1?sig=a%2Bb')).toBe('https://uploads.example/u/1?sig=a%2Bb');
  });
  it('appends digest= with ? or & and leaves existing parameters byte for byte', () => {
    const d = 'sha256:' + 'a'.repeat(64);
    expect(appendQuery('https://r/v2/x/blobs/uploads/1', 'digest', d)).toBe(`https://r/v2/x/blobs/uploads/1?digest=sha256%3A${'a'.repeat(64)}`);
    expect(appendQuery('https://r/u/1?_state=ab%3D%3D&x=1', 'digest', d)).toBe(`https://r/u/1?_state=ab%3D%3D&x=1&digest=sha256%3A${'a'.repeat(64)}`);
    expect(appendQuery('https://r/u/1?', 'digest', d)).toBe(`https://r/u/1?digest=sha256%3A${'a'.repeat(64)}`);
  });
});

describe('Link pagination', () => {
  it('finds rel="next" relative to the request', () => {
    expect(nextLink('</v2/x/tags/list?n=2&last=b>; rel="next"', 'https://r:5000/v2/x/tags/list?n=2')).toBe('https://r:5000/v2/x/tags/list?n=2&last=b');
    expect(nextLink('<https://r/a?last=1>; rel="prev", <https://r/a?last=9>; rel="next"', 'https://r/a')).toBe('https://r/a?last=9');
    expect(nextLink(undefined, 'https://r/a')).toBeUndefined();
    expect(nextLink('<https://r/a?last=1>; rel="prev"', 'https://r/a')).toBeUndefined();
  });
});

describe('upload Range', () => {
  it('reads the next offset from Range: 0-<last>', () => {
    expect(rangeEnd('0-1048575')).toBe(1048576);
    expect(rangeEnd('bytes=0-99')).toBe(100);
    expect(rangeEnd('0-0')).toBe(0);
    expect(rangeEnd(undefined)).toBe(0);
  });
});

describe('Retry-After', () => {
  it('reads seconds and HTTP dates', () => {
    expect(parseRetryAfter('3')).toBe(3000);
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:05 GMT', now)).toBe(5000);
    expect(parseRetryAfter('Wed, 31 Dec 2025 23:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter(['2', '9'])).toBe(2000);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(undefined)).toBeUndefined();
  });
});

describe('loopback hosts (plain-HTTP fallback)', () => {
  it('knows localhost, 127/8 and [::1], with or without a port', () => {
    for (const h of ['localhost', 'localhost:5000', '127.0.0.1', '127.1.2.3:443', '[::1]', '[::1]:5000']) expect(isLoopbackHost(h)).toBe(true);
    for (const h of ['registry.example.com', '10.0.0.1:5000', '[fe80::1]:5000', 'localhost.example.com']) expect(isLoopbackHost(h)).toBe(false);
  });
});

describe('URLs in messages', () => {
  it('masks signatures, tokens and user info, and leaves other URLs byte for byte', () => {
    expect(redactUrl('https://cdn.example/blobs/ab?X-Amz-Signature=abc&X-Amz-Date=1')).toBe('https://cdn.example/blobs/ab?X-Amz-Signature=***&X-Amz-Date=1');
    expect(redactUrl('https://user:pw@h.example/x')).toBe('https://***:***@h.example/x');
    // A URL the WHATWG parser refuses (a control byte, a bad port) still never shows its userinfo or a secret parameter (hostile59).
    expect(redactUrl('https://user:s3cret@host\x1b[31m.example/x')).toBe('https://***:***@host\x1b[31m.example/x');
    expect(redactUrl('https://tok@h.example:99999/x?X-Amz-Signature=abc&a=1')).toBe('https://***@h.example:99999/x?X-Amz-Signature=***&a=1');
    expect(redactUrl('https://h.example:99999/a@b')).toBe('https://h.example:99999/a@b');
    expect(redactUrl('https://h.example/v2/a/blobs/uploads/1?_state=x%3D')).toBe('https://h.example/v2/a/blobs/uploads/1?_state=x%3D');
    expect(redactUrl('not a url')).toBe('not a url');
  });
});
