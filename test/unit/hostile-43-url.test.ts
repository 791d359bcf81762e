import { describe, expect, it } from 'vitest';
import { validationOf } from '../support/manifest-validation.js';

/**
 * hostile43: a manifest URL's user name, password and credential query parameters were looked for
 * only through the WHATWG parser: a URL it refuses (a port past 65535, a bad percent-escape in
 * the host) passed the manifest's `http(s)://` pattern with its credential, unchecked, on into
 * messages. Such a URL is read as written now; the credential's value is never printed.
 */
const base = { apiVersion: 'ferry/v1alpha1', kind: 'Manifest', metadata: { name: 'a' } };

describe('manifest URLs the WHATWG parser refuses are still checked for credentials', () => {
  it('a user name and password, and a token parameter, beside a bad port or host', () => {
    const manifest = {
      ...base,
      files: [
        { name: 'a', url: 'https://deploy:PASSVALUE@files.example:99999/a.tgz', sha256: 'a'.repeat(64) },
        { name: 'b', url: 'https://files.ex%zzample/b.tgz?access_token=TOKVALUE', sha256: 'b'.repeat(64) },
      ],
      charts: [{ name: 'app', repo: 'oci://robot:ROBOTVALUE@registry.example:70000/charts', version: '1.0.0' }],
    };
    const { details = [], error } = validationOf(manifest);
    const at = (path: string) => details.find((d) => d.startsWith(`${path}:`)) ?? '';
    expect(at('files[0].url')).toMatch(/holds a user name or password/);
    expect(at('files[1].url')).toMatch(/query parameter "access_token" carries a credential/);
    expect(at('charts[0].repo')).toMatch(/holds a user name or password/);
    const text = JSON.stringify(error) + String((error as Error)?.message) + details.join('\n');
    for (const secret of ['PASSVALUE', 'TOKVALUE', 'ROBOTVALUE']) expect(text).not.toContain(secret);
  });

  it('an @ in the path or query of such a URL, or an empty user name, is no credential', () => {
    const manifest = {
      ...base,
      files: [
        { name: 'a', url: 'https://files.example:99999/@scope/a.tgz?by=me@example.org', sha256: 'a'.repeat(64) },
        { name: 'b', url: 'https://:@files.example:99999/b.tgz', sha256: 'b'.repeat(64) },
      ],
    };
    const { details = [] } = validationOf(manifest);
    expect(details.filter((d) => /user name or password|credential/.test(d))).toEqual([]);
  });
});
