import { describe, expect, it } from 'vitest';
import { authConfMatches, parseAuthConf } from '../../../src/kinds/apt/auth-conf.js';
import { HttpAuthSchema, repoHttp } from '../../../src/kinds/repo-auth.js';
import { HttpClient } from '../../../src/net/http.js';
import { fileAuthHeaders } from '../../../src/kinds/file/auth.js';

describe("apt's auth.conf (apt_auth.conf(5))", () => {
  const entries = parseAuthConf(
    ['machine example.org/debian login a password pa', 'machine http://plain.example:8080 login b password pb', 'machine example.org login c', '  password pc', 'unknown token machine'].join('\n'),
    '/etc/apt/auth.conf',
  );
  const first = (url: string) => entries.find((e) => authConfMatches(e, url));

  it('reads machine/login/password tokens across lines, ignoring unknown tokens', () => {
    expect(entries.map((e) => [e.host, e.port, e.path, e.login, e.password])).toEqual([
      ['example.org', undefined, '/debian', 'a', 'pa'],
      ['plain.example', '8080', '', 'b', 'pb'],
      ['example.org', undefined, '', 'c', 'pc'],
    ]);
  });

  it('no protocol: https only; the first match wins; a path is a prefix; a port must equal', () => {
    expect(first('https://example.org/debian/dists/x/InRelease')?.login).toBe('a');
    expect(first('https://example.org/other/InRelease')?.login).toBe('c');
    expect(first('http://example.org/debian/InRelease')).toBeUndefined();
    expect(first('http://plain.example:8080/x')?.login).toBe('b');
    expect(first('http://plain.example:8081/x')).toBeUndefined();
    expect(first('https://plain.example:8080/x')).toBeUndefined();
  });
});

describe('auth: schema and the clear-text rule', () => {
  it('names of variables, bearer or basic, not both', () => {
    expect(HttpAuthSchema.safeParse({ usernameEnv: 'U', passwordEnv: 'P' }).success).toBe(true);
    expect(HttpAuthSchema.safeParse({ usernameEnv: 'U' }).success).toBe(false);
    expect(HttpAuthSchema.safeParse({ bearerTokenEnv: 'T', usernameEnv: 'U', passwordEnv: 'P' }).success).toBe(false);
    expect(HttpAuthSchema.safeParse({ passwordEnv: 'hunter2 with spaces', usernameEnv: 'U' }).success).toBe(false);
  });

  it('credentials are not sent to a plain-http host off loopback unless allowed (refused before any connection)', async () => {
    const http = repoHttp(new HttpClient(), 'chart repository http://repo.invalid/charts', () => ({ authorization: 'Basic eDp5', source: 'auth: in the manifest' }), '');
    await expect(http.request('http://repo.invalid/charts/index.yaml')).rejects.toThrow(/refusing to send the credentials from auth: in the manifest to http:\/\/repo\.invalid\/charts\/index\.yaml in clear text/);
  });

  it("a file's auth: is held to the same rule; allowPlainHttp: true is the ask", () => {
    const env = { T: 'tok' };
    expect(() => fileAuthHeaders({ bearerTokenEnv: 'T' }, 'http://files.example/a', 'http://files.example/a', 'file a', env)).toThrow(/in clear text/);
    expect(fileAuthHeaders({ bearerTokenEnv: 'T', allowPlainHttp: true }, 'http://files.example/a', 'http://files.example/a', 'file a', env)).toEqual({ authorization: 'Bearer tok' });
    expect(fileAuthHeaders({ bearerTokenEnv: 'T' }, 'http://127.0.0.1:8080/a', 'http://127.0.0.1:8080/a', 'file a', env)).toEqual({ authorization: 'Bearer tok' });
  });
});
