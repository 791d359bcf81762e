import { describe, expect, it } from 'vitest';
import { FerryError } from '../../src/errors.js';
import { archiveUrl, type IndexEntry } from '../../src/kinds/chart/repo-http.js';

/**
 * Hostile pass 13: the archive URL a chart repository's index.yaml gives.
 *
 * What tripped: an index read over HTTPS naming a plain-HTTP archive and no digest was followed:
 * the archive came in clear text and nothing checked its bytes (the lock pinned whatever anyone
 * on the path served). A redirect from HTTPS to HTTP was already refused; the index's own word
 * was not.
 * Held (kept so): `urls:` climbing with `../` stays a URL on the repository's host (never a
 * path), `file:` and other schemes are refused.
 */

const entry = (urls: string[], digest?: string): IndexEntry => ({ name: 'app', version: '1.0.0', urls, ...(digest ? { digest } : {}) });

describe('an index.yaml archive URL', () => {
  it('plain HTTP from an HTTPS repository with no digest is refused, naming the URL', () => {
    let err: unknown;
    try {
      archiveUrl('https://charts.example/stable', entry(['http://cdn.example/app-1.0.0.tgz']));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FerryError);
    expect((err as FerryError).code).toBe('VERIFY');
    expect((err as FerryError).message).toBe(
      'https://charts.example/stable/index.yaml: app 1.0.0 has the archive URL "http://cdn.example/app-1.0.0.tgz", plain HTTP from a repository read over HTTPS, and no digest; refusing to fetch it in clear text',
    );
  });

  it('plain HTTP with a digest (checked before the archive is used), and from a plain-HTTP repository, are followed', () => {
    expect(archiveUrl('https://charts.example/stable', entry(['http://cdn.example/a.tgz'], 'a'.repeat(64)))).toBe('http://cdn.example/a.tgz');
    expect(archiveUrl('http://charts.example/stable', entry(['http://cdn.example/a.tgz']))).toBe('http://cdn.example/a.tgz');
  });

  it('held: ../ stays a URL path on the repository host; file: is refused', () => {
    expect(archiveUrl('https://charts.example/a/b', entry(['../../../../etc/passwd'], 'a'.repeat(64)))).toBe('https://charts.example/etc/passwd');
    expect(() => archiveUrl('https://charts.example/a', entry(['file:///etc/passwd']))).toThrow(/not an http\(s\) URL/);
  });
});
