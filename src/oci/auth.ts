import { FerryError } from '../errors.js';
import { discard, readCapped, throwForStatus, type HttpClient } from '../net/http.js';
import { singleFlight } from '../net/concurrency.js';
import { withRetry } from '../net/retry.js';
import { describeSearch, type Credential, type CredentialLookup, type CredentialStore } from './credentials.js';

/**
 * Registry authentication: anonymous, `Basic`, and the `Bearer` token dance (GET the realm
 * with service and scopes, with Basic credentials when there are any, or an identity token as
 * an OAuth2 refresh token). Tokens are cached per (host, scopes) until shortly before they
 * expire, and the host's challenge is remembered so later requests get a token up front.
 */
export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parse a WWW-Authenticate header (one or several challenges, quoted or token params). */
export function parseWwwAuthenticate(header: string | undefined): Challenge[] {
  if (!header) return [];
  const out: Challenge[] = [];
  let i = 0;
  const s = header;
  const skipWs = () => {
    while (i < s.length && /[\s,]/.test(s[i])) i++;
  };
  const readToken = () => {
    const start = i;
    while (i < s.length && /[^\s,=]/.test(s[i])) i++;
    return s.slice(start, i);
  };
  let current: Challenge | undefined;
  while (i < s.length) {
    skipWs();
    if (i >= s.length) break;
    const token = readToken();
    if (!token) {
      i++;
      continue;
    }
    let j = i;
    while (j < s.length && s[j] === ' ') j++;
    if (s[j] === '=' && current) {
      // key=value (value quoted or a token)
      i = j + 1;
      while (i < s.length && s[i] === ' ') i++;
      let value = '';
      if (s[i] === '"') {
        i++;
        while (i < s.length && s[i] !== '"') {
          if (s[i] === '\\' && i + 1 < s.length) i++;
          value += s[i++];
        }
        i++;
      } else {
        const start = i;
        while (i < s.length && s[i] !== ',') i++;
        value = s.slice(start, i).trim();
      }
      current.params[token.toLowerCase()] = value;
    } else if (s[j] === '=' && !current) {
      i = j + 1;
    } else {
      current = { scheme: token.toLowerCase(), params: {} };
      out.push(current);
      // token68 form (e.g. `Negotiate abc==`): keep as a param so nothing is lost
      i = j;
    }
  }
  return out;
}

/** repository:<name>:pull | pull,push */
export function repositoryScope(repository: string, actions: 'pull' | 'push' | 'pull,push' | string = 'pull'): string {
  return `repository:${repository}:${actions}`;
}

/** Merge scopes for the same resource (`repository:a:pull` + `repository:a:push` → `repository:a:pull,push`), sorted. */
export function mergeScopes(scopes: string[]): string[] {
  const byResource = new Map<string, Set<string>>();
  for (const scope of scopes) {
    for (const s of scope.split(' ').filter(Boolean)) {
      const last = s.lastIndexOf(':');
      if (last < 0) continue;
      const resource = s.slice(0, last);
      const set = byResource.get(resource) ?? new Set<string>();
      for (const a of s.slice(last + 1).split(',')) if (a) set.add(a);
      byResource.set(resource, set);
    }
  }
  return [...byResource.entries()]
    .map(([r, acts]) => `${r}:${[...acts].sort((a, b) => (a === 'pull' ? -1 : b === 'pull' ? 1 : a.localeCompare(b))).join(',')}`)
    .sort();
}

interface CachedToken {
  header: string;
  expiresAt: number;
}

export interface AuthOutcome {
  header: string;
  lookup?: CredentialLookup;
}

export class RegistryAuth {
  private readonly http: HttpClient;
  private readonly credentials?: CredentialStore;
  private readonly now: () => number;
  private readonly tokens = new Map<string, CachedToken>();
  /** One token request per host and scope set at a time. */
  private readonly inflight = singleFlight<string, AuthOutcome>();
  /** Last challenge seen per host: lets later requests authenticate up front. */
  private readonly challenges = new Map<string, Challenge>();
  private readonly basic = new Map<string, string>();
  /** API hosts whose challenges came over HTTPS: their credentials never go to a plain-HTTP realm elsewhere. */
  private readonly tlsHosts = new Set<string>();
  /** Token requests made (for tests and diagnostics). */
  tokenRequests = 0;

  constructor(opts: { http: HttpClient; credentials?: CredentialStore; now?: () => number }) {
    this.http = opts.http;
    this.credentials = opts.credentials;
    this.now = opts.now ?? Date.now;
  }

  private key(host: string, scopes: string[]): string {
    return `${host} ${mergeScopes(scopes).join(' ')}`;
  }

  /** Header to send up front, when the host's scheme is known and a token can be had without a 401 round trip. */
  async headerFor(host: string, scopes: string[], repository?: string): Promise<string | undefined> {
    const b = this.basic.get(host);
    if (b) return b;
    const challenge = this.challenges.get(host);
    if (!challenge || challenge.scheme !== 'bearer') return undefined;
    const cached = this.tokens.get(this.key(host, scopes));
    if (cached && cached.expiresAt > this.now()) return cached.header;
    return (await this.bearer(host, challenge, scopes, repository)).header;
  }

  /** Forget what was cached for a host (after the registry rejected it). */
  invalidate(host: string, scopes: string[]): void {
    this.tokens.delete(this.key(host, scopes));
    this.basic.delete(host);
  }

  /** Credentials for the registry (as named in references), with where they were looked for. */
  async lookup(registry: string, repository?: string): Promise<CredentialLookup> {
    if (!this.credentials) return { searched: [], warnings: [] };
    return this.credentials.lookup(registry, repository);
  }

  /**
   * Answer a 401: Basic with the registry's credentials, or a bearer token for the scopes.
   * `registry` is the name users write (docker.io); `host` the API host the request went to.
   */
  async respond(host: string, registry: string, wwwAuthenticate: string | undefined, scopes: string[], repository?: string, overTls?: boolean): Promise<AuthOutcome> {
    if (overTls) this.tlsHosts.add(host);
    const challenges = parseWwwAuthenticate(wwwAuthenticate);
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    const basic = challenges.find((c) => c.scheme === 'basic');
    if (bearer) {
      this.challenges.set(host, { ...bearer, params: { ...bearer.params, registry } });
      const extra = bearer.params.scope ? bearer.params.scope.split(' ') : [];
      const all = mergeScopes([...scopes, ...extra]);
      this.tokens.delete(this.key(host, all));
      return this.bearer(host, this.challenges.get(host)!, all, repository);
    }
    if (basic) {
      this.challenges.set(host, basic);
      const lookup = await this.lookup(registry, repository);
      const cred = lookup.credential;
      if (!cred?.username || cred.password === undefined) {
        throw noCredentials(registry, repository, lookup);
      }
      const header = 'Basic ' + Buffer.from(`${cred.username}:${cred.password}`).toString('base64');
      this.basic.set(host, header);
      return { header, lookup };
    }
    throw new FerryError('AUTH', `${registry}: unsupported authentication challenge ${JSON.stringify((wwwAuthenticate ?? '').split(' ')[0] || '(none)')}${repository ? ` for ${repository}` : ''}`, {
      hint: 'ferry speaks Basic and Bearer token auth (the distribution spec).',
    });
  }

  private bearer(host: string, challenge: Challenge, scopes: string[], repository?: string): Promise<AuthOutcome> {
    const key = this.key(host, scopes);
    const cached = this.tokens.get(key);
    if (cached && cached.expiresAt > this.now()) return Promise.resolve({ header: cached.header });
    return this.inflight(key, () => this.fetchToken(host, challenge, mergeScopes(scopes), repository));
  }

  private async fetchToken(host: string, challenge: Challenge, scopes: string[], repository?: string): Promise<AuthOutcome> {
    const registry = challenge.params.registry ?? host;
    const realm = challenge.params.realm;
    if (!realm) throw new FerryError('AUTH', `${registry}: bearer challenge without a realm`, { hint: 'The registry is misconfigured; tell its operator.' });
    const lookup = await this.lookup(registry, repository);
    const cred: Credential | undefined = lookup.credential;
    const url = realmUrl(realm, registry, host, this.tlsHosts.has(host) && !!(cred?.identityToken || cred?.username));
    const service = challenge.params.service;
    // The realm is the registry's answer: it may not send ferry to this machine or a link-local
    // address (the metadata service) unless the registry is there itself (net/http.ts namedBy).
    const namedBy = `${this.tlsHosts.has(host) ? 'https' : 'http'}://${host}/v2/`;
    this.tokenRequests++;
    const body = await withRetry(`token for ${registry} from ${url.host}`, async () => {
      let res;
      if (cred?.identityToken) {
        const form = new URLSearchParams();
        form.set('grant_type', 'refresh_token');
        form.set('refresh_token', cred.identityToken);
        form.set('client_id', 'ferry');
        if (service) form.set('service', service);
        if (scopes.length) form.set('scope', scopes.join(' '));
        res = await this.http.request(url.toString(), { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form.toString(), namedBy });
      } else {
        if (service) url.searchParams.set('service', service);
        for (const s of scopes) url.searchParams.append('scope', s);
        const headers: Record<string, string> = {};
        if (cred?.username) url.searchParams.set('account', cred.username);
        if (cred?.username && cred.password !== undefined) headers.authorization = 'Basic ' + Buffer.from(`${cred.username}:${cred.password}`).toString('base64');
        res = await this.http.request(url.toString(), { headers, namedBy });
      }
      if (res.status === 401 || res.status === 403) {
        await discard(res.body);
        throw cred ? wrongCredentials(registry, repository, lookup) : noCredentials(registry, repository, lookup);
      }
      if (res.status < 200 || res.status >= 300) await throwForStatus(res, 'GET', `token endpoint ${url.origin}${url.pathname} for ${registry}`);
      const bytes = await readCapped(res.body, MAX_TOKEN_BYTES, `${registry}: token endpoint ${url.origin}${url.pathname} answered more than ${MAX_TOKEN_BYTES} bytes; refusing it`, 'AUTH');
      return bytes.toString('utf8');
    });
    const endpoint = `${registry}: token endpoint ${url.origin}${url.pathname}`;
    let parsed: { token?: unknown; access_token?: unknown; expires_in?: number; issued_at?: string } | null;
    try {
      parsed = JSON.parse(body) as typeof parsed;
    } catch {
      throw new FerryError('AUTH', `${endpoint} answered something that is not JSON`);
    }
    // `null`, a list or a bare value is no token answer; the token is sent back as a header, so it
    // must be one header word (visible ASCII: a JWT, RFC 6750's b64token, any registry's opaque token).
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new FerryError('AUTH', `${endpoint} answered JSON that is not an object; no token in it`, { hint: TOKEN_HINT });
    const token = parsed.token ?? parsed.access_token;
    if (!token) throw new FerryError('AUTH', `${endpoint} gave no token`, { hint: TOKEN_HINT });
    if (typeof token !== 'string' || !/^[\x21-\x7e]+$/.test(token)) {
      throw new FerryError('AUTH', `${endpoint} gave a token that ${typeof token !== 'string' ? `is not a string (${Array.isArray(token) ? 'a list' : typeof token})` : 'holds spaces, control characters or non-ASCII bytes'}; refusing it (it cannot go into an Authorization header as it is)`, { hint: TOKEN_HINT });
    }
    const lifetimeS = parsed.expires_in && parsed.expires_in > 0 ? parsed.expires_in : 60;
    // Renew a little early so a token never expires between check and use.
    const expiresAt = this.now() + Math.max(1, lifetimeS - Math.min(30, lifetimeS / 5)) * 1000;
    const header = `Bearer ${token}`;
    this.tokens.set(this.key(host, scopes), { header, expiresAt });
    return { header, lookup };
  }
}

const TOKEN_HINT = 'The token service (or something in between, a proxy or captive portal) answered something other than a token; tell the registry\'s operator, or check what answers at that address.';

/** A token answer is a few KB (a JWT); more is refused before it is held in memory or sent as a header. */
const MAX_TOKEN_BYTES = 1024 * 1024;

/**
 * The token realm a registry's challenge names, checked before any request: an http(s) URL, and,
 * when credentials for a registry reached over HTTPS go with the request, not plain HTTP (to
 * another host or the same one: a challenge must not collect the password in clear text).
 */
function realmUrl(realm: string, registry: string, host: string, guardCredentials: boolean): URL {
  let url: URL | undefined;
  try {
    url = new URL(realm);
  } catch {
    url = undefined;
  }
  const shown = JSON.stringify(realm.slice(0, 200));
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
    throw new FerryError('AUTH', `${registry}: the bearer challenge's realm ${shown} is not an http(s) URL`, { hint: 'The registry (or something in between) sent a malformed authentication challenge; tell its operator.' });
  }
  if (guardCredentials && url.protocol === 'http:') {
    // The same host on plain HTTP is no better: the password crosses the network in clear text.
    const registryHost = new URL(`http://${host}`).hostname;
    const what = url.hostname === registryHost ? 'the same host over plain HTTP' : 'another host over plain HTTP';
    throw new FerryError('AUTH', `${registry}: the token realm ${url.origin} is ${what}, while the registry uses HTTPS; refusing to send the credentials for ${registry} there`, {
      hint: 'A token service must use HTTPS when the registry does. Check the registry\'s auth configuration, or whether something between rewrites its answers.',
    });
  }
  return url;
}

function place(lookup: CredentialLookup): string {
  return `looked for credentials in ${describeSearch(lookup)}`;
}

export function noCredentials(registry: string, repository: string | undefined, lookup: CredentialLookup): FerryError {
  return new FerryError('AUTH', `${registry}: authentication required${repository ? ` for ${repository}` : ''}, and no credentials were found (${place(lookup)})`, {
    hint: `Log in with \`docker login ${registry}\` (or \`skopeo login\`/\`podman login\` with REGISTRY_AUTH_FILE), or set DOCKER_CONFIG to a directory whose config.json has credentials for ${registry}.`,
    details: lookup.warnings.length ? lookup.warnings : undefined,
  });
}

export function wrongCredentials(registry: string, repository: string | undefined, lookup: CredentialLookup): FerryError {
  const where =
    lookup.source && lookup.searched.length <= 1
      ? `credentials from ${lookup.source}`
      : `${place(lookup)}${lookup.source ? `; used the ones from ${lookup.source}` : ''}`;
  return new FerryError('AUTH', `${registry}: authentication failed${repository ? ` for ${repository}` : ''} (${where})`, {
    hint: `Check the user name and password for ${registry} (\`docker login ${registry}\` replaces them), and that the account may access ${repository ?? 'the repository'}.`,
    details: lookup.warnings.length ? lookup.warnings : undefined,
  });
}

