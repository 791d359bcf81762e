import { z } from 'zod';
import { FerryError } from '../errors.js';
import { discard, redactUrl, type HttpClient, type HttpRequestOptions, type HttpResponse } from '../net/http.js';
import { isLoopbackHost } from '../net/loopback.js';
import { readRegularFile } from '../store/verified-write.js';

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const envName = (what: string, example: string) =>
  z.string().regex(ENV_NAME, `${what} is the NAME of an environment variable (e.g. ${example}), not the secret`);

/**
 * `auth:` of a manifest entry that downloads over HTTP (a file, a chart repository, an APT
 * repository): the NAMES of environment variables, never a secret (the manifest goes into the lock
 * and the bundle). `bearerTokenEnv` sends `Authorization: Bearer`; `usernameEnv` + `passwordEnv`
 * send basic auth (Artifactory, Nexus, ChartMuseum, a vendor's APT repository). Sent to the
 * entry's own origin only (scheme, host and port), never across a redirect to another host, and
 * over plain http:// only to a loopback host or with `allowPlainHttp: true`.
 */
export const HttpAuthSchema = z
  .object({
    bearerTokenEnv: envName('bearerTokenEnv', 'HF_TOKEN').optional().describe('Environment variable holding a bearer token.'),
    usernameEnv: envName('usernameEnv', 'REPO_USER').optional().describe('Environment variable holding the user name for basic auth.'),
    passwordEnv: envName('passwordEnv', 'REPO_PASSWORD').optional().describe('Environment variable holding the password (or API token) for basic auth.'),
    allowPlainHttp: z.boolean().optional().describe('Send these credentials to a plain http:// URL that is not on loopback (in clear text): refused unless true.'),
  })
  .strict()
  .superRefine((a, ctx) => {
    const basic = a.usernameEnv !== undefined || a.passwordEnv !== undefined;
    if (a.bearerTokenEnv !== undefined && basic) ctx.addIssue({ code: 'custom', message: 'give either bearerTokenEnv or usernameEnv + passwordEnv, not both' });
    else if (basic && (a.usernameEnv === undefined || a.passwordEnv === undefined)) ctx.addIssue({ code: 'custom', message: 'basic auth needs both usernameEnv and passwordEnv' });
    else if (a.bearerTokenEnv === undefined && !basic) ctx.addIssue({ code: 'custom', message: 'auth needs bearerTokenEnv, or usernameEnv + passwordEnv' });
  });
export type HttpAuth = z.infer<typeof HttpAuthSchema>;

/** One line of a variable, or an AUTH error naming the variable (never its value). */
function envValue(name: string, label: string, what: string, env: NodeJS.ProcessEnv): string {
  const v = env[name];
  const value = what === 'password' ? v : v?.trim();
  if (!value) {
    throw new FerryError('AUTH', `${label}: auth names ${name} for the ${what}, which is not set (or empty)`, { hint: `Export it first (export ${name}=…), then run the command again.` });
  }
  if (/[\r\n\0]/.test(value)) throw new FerryError('AUTH', `${label}: ${name} holds a line break or NUL; a ${what} is one line`, { hint: `Set ${name} to the ${what} alone.` });
  return value;
}

/** The Authorization header value `auth:` stands for, read from the environment now. */
export function authorizationFromEnv(auth: HttpAuth, label: string, env: NodeJS.ProcessEnv = process.env): string {
  if (auth.bearerTokenEnv) return `Bearer ${envValue(auth.bearerTokenEnv, label, 'token', env)}`;
  const user = envValue(auth.usernameEnv!, label, 'user name', env);
  if (user.includes(':')) throw new FerryError('AUTH', `${label}: ${auth.usernameEnv} holds a colon, which basic auth cannot carry in a user name`, { hint: `Set ${auth.usernameEnv} to the user name alone.` });
  return basicAuthorization(user, envValue(auth.passwordEnv!, label, 'password', env));
}

export function basicAuthorization(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;
}

/** Where a credential was found, for messages: `auth: in the manifest (usernameEnv REPO_USER)`, `/home/u/.config/helm/repositories.yaml (entry "corp")`. */
export function manifestAuthSource(auth: HttpAuth): string {
  return auth.bearerTokenEnv ? `auth: in the manifest (bearerTokenEnv ${auth.bearerTokenEnv})` : `auth: in the manifest (usernameEnv ${auth.usernameEnv}, passwordEnv ${auth.passwordEnv})`;
}

/** A credential for a request. */
export interface RepoCredential {
  /** The Authorization header value (a secret: never printed). */
  authorization: string;
  /** Where it came from (no secret): named in a refusal and a 401. */
  source: string;
  /** The user asked for clear text (auth.conf's explicit `http://` machine, `allowPlainHttp: true`). */
  plainHttpAllowed?: boolean;
}

/** The credential a request to `url` carries, if any. */
export type RepoCredentials = (url: string) => RepoCredential | undefined;

/** Same scheme, host and port (Helm's pass_credentials_all: false rule; the file kind's origin rule). */
export function sameOrigin(a: string, b: string): boolean {
  try {
    return new URL(a).origin === new URL(b).origin;
  } catch {
    return false;
  }
}

/**
 * Credentials go in clear text (plain http://) only to a loopback host, or where the user asked
 * for it (`allowPlainHttp: true`, an auth.conf machine written with http://): else refused, named.
 */
export function refuseClearText(url: string, label: string, cred: Pick<RepoCredential, 'source' | 'plainHttpAllowed'>): void {
  const u = new URL(url);
  if (u.protocol !== 'http:' || isLoopbackHost(u.hostname) || cred.plainHttpAllowed) return;
  throw new FerryError('AUTH', `${label}: refusing to send the credentials from ${cred.source} to ${redactUrl(url)} in clear text (plain http:// to a host that is not loopback)`, {
    hint: "Use the https:// URL. To send them over plain HTTP anyway, say so: auth: { …, allowPlainHttp: true } on the manifest entry, or (APT) an auth.conf machine written with http:// explicitly.",
  });
}

/**
 * An HttpClient for one repository's requests: each request whose URL the credential applies to
 * carries it (HttpClient.request drops it on a redirect to another origin). Credentials never go
 * in clear text to a plain http:// host that is not loopback unless the user asked for it. A 401
 * or 403 names the repository and the credential source tried (`tried`, when none was found).
 */
export function repoHttp(http: HttpClient, repoLabel: string, credentials: RepoCredentials | undefined, tried: string): HttpClient {
  const scoped = Object.create(http) as HttpClient;
  scoped.request = async (url: string, opts: HttpRequestOptions = {}): Promise<HttpResponse> => {
    let headers = opts.headers;
    const cred = credentials?.(url);
    const sends = cred !== undefined;
    if (cred) {
      refuseClearText(url, repoLabel, cred);
      headers = { ...(opts.headers ?? {}), authorization: cred.authorization };
    }
    const res = await http.request(url, { ...opts, headers });
    if ((res.status === 401 || res.status === 403) && res.url && sameOrigin(res.url, url)) {
      await discard(res.body);
      const what = sends ? `refused the credentials from ${cred!.source}` : `wants credentials, and none were sent (${tried})`;
      throw new FerryError('AUTH', `${repoLabel}: ${redactUrl(url)} ${what} (HTTP ${res.status})`, {
        hint: sends
          ? 'Check the user name and password (or token) and that this account may read the repository.'
          : 'Give credentials: auth: { usernameEnv: …, passwordEnv: … } (or bearerTokenEnv) on the manifest entry, with the secrets exported in those variables.',
      });
    }
    return res;
  };
  return scoped;
}

/**
 * A credentials file of this machine (apt's auth.conf, Helm's repositories.yaml) as text, read
 * within `limit` bytes: undefined when it is missing or not ours to read (auth.conf is root's,
 * mode 600) or a directory; a FIFO or device (never waited on) or a larger file is refused,
 * naming it, rather than read without end or passed over as if it held no credentials.
 */
export async function readCredentialsFile(file: string, limit: number, what: string): Promise<string | undefined> {
  const got = await readRegularFile(file, limit, { follow: true });
  if (Buffer.isBuffer(got)) return got.toString('utf8');
  if (got.why === 'unreadable' || got.why === 'directory') return undefined;
  throw new FerryError('USAGE', `${file}: ${what} is ${got.why === 'too-large' ? `${got.reason}, more than the ${limit} ferry reads` : got.reason}`, {
    hint: `A ${what} is a short text file of a few entries: check it, or move it away.`,
  });
}
