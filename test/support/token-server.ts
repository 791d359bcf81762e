import { createPrivateKey, randomBytes, sign, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A small bearer-token server for Distribution's `auth: token` mode. It checks Basic
 * credentials, grants the scopes asked for, and issues RS256 JWTs whose `x5c` header carries
 * the signing certificate (which the registry trusts through `rootcertbundle`).
 */
export interface TokenRequestRecord {
  account?: string;
  service?: string;
  scopes: string[];
  /** 'ok' | 'denied' */
  outcome: 'ok' | 'denied';
}

export interface RunningTokenServer {
  url: string;
  realm: string;
  service: string;
  issuer: string;
  requests: TokenRequestRecord[];
  stop(): Promise<void>;
}

function b64url(buf: Buffer | string): string {
  return Buffer.from(buf).toString('base64url');
}

export interface TokenServerOptions {
  /** PEM key and certificate (the certificate goes into the registry's rootcertbundle). */
  keyFile: string;
  certFile: string;
  users: Record<string, string>;
  service?: string;
  issuer?: string;
  /** Token lifetime in seconds (default 300). */
  expiresIn?: number;
  /** Refresh tokens (docker `identitytoken`) accepted for the POST grant, per user. */
  refreshTokens?: Record<string, string>;
  /** Let requests without credentials get (pull-only) tokens. */
  allowAnonymousPull?: boolean;
}

export async function startTokenServer(opts: TokenServerOptions): Promise<RunningTokenServer> {
  const key: KeyObject = createPrivateKey(await readFile(opts.keyFile));
  const certPem = await readFile(opts.certFile, 'utf8');
  const der = Buffer.from(certPem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  const service = opts.service ?? 'ferry-test-registry';
  const issuer = opts.issuer ?? 'ferry-test-token-issuer';
  const expiresIn = opts.expiresIn ?? 300;
  const requests: TokenRequestRecord[] = [];

  const issue = (res: http.ServerResponse, account: string | undefined, authenticated: boolean, scopes: string[], aud: string) => {
    const access = scopes
      .map((s) => {
        // type:name:actions — name may contain ':' (a port) so split from both ends.
        const first = s.indexOf(':');
        const last = s.lastIndexOf(':');
        if (first < 0 || last <= first) return undefined;
        const type = s.slice(0, first);
        const name = s.slice(first + 1, last);
        let actions = s.slice(last + 1).split(',').filter(Boolean);
        if (!authenticated) actions = opts.allowAnonymousPull ? actions.filter((a) => a === 'pull') : [];
        return { type, name, actions };
      })
      .filter((a): a is { type: string; name: string; actions: string[] } => !!a);
    requests.push({ account, service: aud, scopes, outcome: 'ok' });
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: 'JWT', alg: 'RS256', x5c: [der.toString('base64')] };
    const claims = { iss: issuer, sub: account ?? '', aud, exp: now + expiresIn, nbf: now - 10, iat: now, jti: randomBytes(12).toString('hex'), access };
    const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const token = `${signingInput}.${b64url(sign('sha256', Buffer.from(signingInput), key))}`;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ token, access_token: token, expires_in: expiresIn, issued_at: new Date(now * 1000).toISOString() }));
  };

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== '/token') {
      res.writeHead(404).end();
      return;
    }
    if (req.method === 'POST') {
      // OAuth2 refresh-token grant (docker's identitytoken).
      let raw = '';
      req.on('data', (d) => (raw += d));
      req.on('end', () => {
        const form = new URLSearchParams(raw);
        const user = Object.entries(opts.refreshTokens ?? {}).find(([, t]) => t === form.get('refresh_token'))?.[0];
        const scopes = (form.get('scope') ?? '').split(' ').filter(Boolean);
        if (form.get('grant_type') !== 'refresh_token' || !user) {
          requests.push({ service: form.get('service') ?? undefined, scopes, outcome: 'denied' });
          res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'invalid_grant' }));
          return;
        }
        issue(res, user, true, scopes, form.get('service') ?? service);
      });
      return;
    }
    const scopes = url.searchParams.getAll('scope').flatMap((s) => s.split(' ')).filter(Boolean);
    let account: string | undefined;
    let authenticated = false;
    const authz = req.headers.authorization;
    if (authz?.startsWith('Basic ')) {
      const decoded = Buffer.from(authz.slice(6), 'base64').toString('utf8');
      const i = decoded.indexOf(':');
      const user = decoded.slice(0, i);
      const pass = decoded.slice(i + 1);
      if (opts.users[user] !== undefined && opts.users[user] === pass) {
        account = user;
        authenticated = true;
      } else {
        requests.push({ account: user, service: url.searchParams.get('service') ?? undefined, scopes, outcome: 'denied' });
        res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Basic realm="ferry-token"' });
        res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'invalid username or password' }] }));
        return;
      }
    }
    issue(res, account, authenticated, scopes, url.searchParams.get('service') ?? service);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    realm: `${url}/token`,
    service,
    issuer,
    requests,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
