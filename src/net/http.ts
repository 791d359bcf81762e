import { lookup as dnsLookup, type LookupAddress, type LookupAllOptions } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import { inCidr, ipBytes } from './cidr.js';
import { isLoopbackHost } from './loopback.js';
import { pipeline, Readable, Transform } from 'node:stream';
import tls from 'node:tls';
import { domainToASCII } from 'node:url';
import type { Dispatcher, buildConnector } from 'undici';
import { FerryError, unreadableFile } from '../errors.js';
import { lastLineStart } from '../ui/escape.js';
import { certsDNames, clientCertHint, loadHostTls, type CertsDSettings, type HostTls } from './certs-d.js';
import { certsFromSslCertDir, readRegularFileSync } from './ssl-cert-dir.js';
import { LOW_SPEED_HINT, SlowTransferError, lowSpeedFromEnv, watchBody, watchedBody, wholeBodyDeadline, type LowSpeedPolicy } from './low-speed.js';
import { RetryableError, parseRetryAfter, withRetry, type RetryPolicy } from './retry.js';
import { atStartFlags } from './v8-flags.js';

/**
 * The one HTTP client: undici with proxy settings from the environment, read and applied as Go's
 * http.ProxyFromEnvironment does (HTTPS_PROXY for https, HTTP_PROXY for http, NO_PROXY, lower case
 * too: see proxyForUrl), extra CAs applied to direct and tunnelled TLS alike, redirects
 * followed by hand so Authorization never leaks to another host, and failures mapped to
 * FerryError codes or RetryableError for the retry policy.
 */
export interface HttpSettings {
  /** Extra PEM files with CA certificates, added to the default trust store. */
  caFiles?: string[];
  /**
   * Per-host TLS from certs.d directories (extra CAs and client certificates for one
   * `host[:port]`, see certs-d.ts); applied to every HTTPS connection to that host:port,
   * direct or through a proxy's CONNECT tunnel, and to no other host (a redirect elsewhere
   * gets only the global trust).
   */
  certsD?: CertsDSettings;
  /** A client certificate (PEM) presented to every HTTPS host this client connects to that has no certs.d one (a Helm repository entry's certFile/keyFile). */
  clientCert?: { cert: string; key: string };
  insecureSkipVerify?: boolean;
  userAgent?: string;
  connectTimeoutMs?: number;
  /**
   * Longest silence while waiting for headers or body bytes (the backstop when the low-speed
   * limit is off, and for the answer to an upload, which a registry may take minutes to give).
   */
  bodyTimeoutMs?: number;
  /** The low-speed limit and whole-body deadline; default from the environment (low-speed.ts). */
  lowSpeed?: LowSpeedPolicy;
  /** Override the environment's proxy settings (tests). Default NO_PROXY adds loopback hosts. */
  httpProxy?: string;
  httpsProxy?: string;
  noProxy?: string;
  /** Retry policy for getBytes; defaults to DEFAULT_RETRY. */
  retry?: RetryPolicy;
  /** One line per response (`GET <url> → 200`), URLs redacted; for --debug. */
  log?: (line: string) => void;
}

export type HttpHeaders = Record<string, string | string[] | undefined>;

export interface HttpRequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: Readable | Buffer | string;
  signal?: AbortSignal;
  /** Default 10; 0 returns the redirect response itself. */
  maxRedirects?: number;
  /**
   * Statuses that come back as a response instead of a RetryableError (429/502/503/504 throw
   * by default so callers inside withRetry just retry).
   */
  passStatuses?: number[];
  /**
   * Keep the connection after a HEAD. undici closes it by default (it sends `connection:
   * close`), in case a server sends a body after a HEAD answer; every HEAD then costs a new
   * connection, and a TLS handshake. Registries answer HEAD as the spec says, and a stray body
   * would fail the next response's parse, which is retried.
   */
  reuseAfterHead?: boolean;
  /**
   * The URL whose answer named `url` (a chart repository index naming an archive, a token
   * challenge naming its realm): `url` is then treated as a redirect from there, so it may not
   * lead to this machine or a link-local address unless that server is there itself.
   */
  namedBy?: string;
}

export interface HttpResponse {
  status: number;
  headers: HttpHeaders;
  body: Readable;
  /** Final URL after redirects. */
  url: string;
}

const RETRY_STATUSES = new Set([429, 502, 503, 504]);
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/** Certificate verification failures: the peer is there but not trusted. */
const CERT_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REVOKED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_REJECTED',
  'INVALID_CA',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

const CERT_REASONS: Record<string, string> = {
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'unable to verify the first certificate',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'issuer certificate not found locally',
  SELF_SIGNED_CERT_IN_CHAIN: 'self-signed certificate in chain',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'self-signed certificate',
  CERT_HAS_EXPIRED: 'certificate has expired',
  CERT_NOT_YET_VALID: 'certificate is not yet valid',
  ERR_TLS_CERT_ALTNAME_INVALID: 'host name does not match the certificate',
};

/**
 * TLS alerts a server sends when it wants a client certificate it did not get, or refuses the
 * one it got: bad_certificate (42, Go's answer to none), unsupported (43), revoked (44),
 * expired (45), unknown (46), unknown_ca (48), access_denied (49), certificate_required (116).
 */
const CLIENT_CERT_ALERT = /ALERT_(BAD_CERTIFICATE|UNSUPPORTED_CERTIFICATE|CERTIFICATE_REVOKED|CERTIFICATE_EXPIRED|CERTIFICATE_UNKNOWN|UNKNOWN_CA|ACCESS_DENIED|CERTIFICATE_REQUIRED)$/;

export const CA_HINT =
  'Trust the CA that signed it: pass --ca-file <ca.pem>, set `ca:` in the mirror target, point SSL_CERT_FILE or NODE_EXTRA_CA_CERTS at a PEM bundle that contains it, or put it as ca.crt in a certs.d directory for that host:port (--cert-dir, ~/.config/containers/certs.d/<host:port>/, /etc/containers/certs.d/<host:port>/; a token service on another port needs its own).';

/** Codes undici wraps the real failure in (a socket error, a TLS failure talking to an HTTPS proxy). */
const WRAPPER_CODES = new Set(['UND_ERR_SOCKET', 'UND_ERR_PRX_TLS']);

function causeChain(err: unknown): unknown[] {
  const out: unknown[] = [];
  for (let e: unknown = err, depth = 0; e && depth < 5; depth++, e = (e as { cause?: unknown }).cause) out.push(e);
  return out;
}

function errCode(err: unknown): string | undefined {
  // The most specific code in the cause chain.
  let generic: string | undefined;
  for (const e of causeChain(err)) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') {
      if (!WRAPPER_CODES.has(code)) return code;
      generic ??= code;
    }
  }
  return generic;
}

/** `host:port` of a proxy URL for messages: never its user name or password. */
export function proxyLabel(proxyUrl: string): string {
  try {
    const u = new URL(proxyUrl.includes('://') ? proxyUrl : `http://${proxyUrl}`);
    return `${u.hostname.includes(':') && !u.hostname.startsWith('[') ? `[${u.hostname}]` : u.hostname}:${u.port || (u.protocol === 'https:' ? '443' : '80')}`;
  } catch {
    return '(unparseable proxy URL)';
  }
}

const PROXY_HINT = 'Check HTTPS_PROXY / HTTP_PROXY (http://user:password@host:port, user and password URL-encoded), and list hosts to reach directly in NO_PROXY.';

/**
 * The status of a proxy's refusal as undici reports it: `Proxy response (407) !== 200 when HTTP
 * Tunneling` for a CONNECT tunnel, `Proxy Authentication Required (407)` for a forwarded request.
 */
function proxyRefusalStatus(err: unknown): number | undefined {
  for (const e of causeChain(err)) {
    const m = /^Proxy response \((\d+)\) !== 200|^Proxy Authentication Required \((\d+)\)/.exec(String((e as Error)?.message ?? ''));
    if (m) return Number(m[1] ?? m[2]);
  }
  return undefined;
}

/** The refusal of a proxy (a CONNECT answered with a status, or a 407 to a forwarded request). */
export function proxyRefusal(status: number, method: string, rawUrl: string, proxy: string | undefined, cause?: unknown): FerryError {
  const where = proxy ? `proxy ${proxyLabel(proxy)}` : 'a proxy';
  const url = redactUrl(rawUrl);
  if (status === 407) {
    return new FerryError('AUTH', `${method} ${url}: ${where} requires authentication (HTTP 407)`, {
      hint: `The proxy refused the credentials ferry sent, or none were set. ${PROXY_HINT}`,
      cause,
    });
  }
  return new FerryError('NETWORK', `${method} ${url}: ${where} refused to connect to ${hostOf(rawUrl)} (HTTP ${status})`, {
    hint: `The proxy may not allow this host or port. ${PROXY_HINT}`,
    cause,
  });
}

/** What squid's error pages mean, by the name in `X-Squid-Error` (`ERR_SECURE_CONNECT_FAIL 0`). */
const SQUID_ERRORS: Record<string, string> = {
  ERR_SECURE_CONNECT_FAIL: 'could not make a verified TLS connection to {host} (TLS interception: the proxy does not trust that server\'s certificate, or the handshake failed)',
  ERR_ACCESS_DENIED: 'denied the request to {host} by its policy',
  ERR_CONNECT_FAIL: 'could not connect to {host}',
  ERR_DNS_FAIL: 'could not resolve {host}',
  ERR_READ_TIMEOUT: 'timed out reading from {host}',
  ERR_GATEWAY_FAILURE: 'could not reach {host}',
  ERR_CACHE_ACCESS_DENIED: 'requires authentication for {host}',
};

/**
 * The mark of an error page a proxy wrote itself (not the server's answer): squid's
 * `X-Squid-Error`, or an RFC 9209 `Proxy-Status` with an `error=` parameter.
 */
function proxyErrorMark(status: number, h: HttpHeaders): string | undefined {
  if (status < 400) return undefined;
  const squid = headerValue(h, 'x-squid-error');
  if (squid) return squid;
  const ps = headerValue(h, 'proxy-status');
  return ps && /;\s*error=/i.test(ps) ? ps : undefined;
}

/** Proxy failures another attempt will not mend: policy, TLS trust, a name that does not resolve. */
const PERMANENT_PROXY_ERRORS = new Set(['ERR_SECURE_CONNECT_FAIL', 'ERR_ACCESS_DENIED', 'ERR_CACHE_ACCESS_DENIED', 'ERR_DNS_FAIL', 'ERR_INVALID_URL', 'ERR_UNSUP_REQ']);

/**
 * A proxy's own error page, named as the proxy's failure with what to do. A gateway failure
 * (502/503/504: the proxy could not connect or timed out reading) is retried as the server's own
 * would be; a refusal by policy, TLS trust or DNS is not.
 */
function proxyErrorPage(status: number, mark: string, method: string, rawUrl: string, proxy: string | undefined): FerryError | RetryableError {
  const clean = mark.replace(/[^\x20-\x7e]/g, '?').slice(0, 120).trim();
  const name = /^(ERR_[A-Z_]+)/.exec(clean)?.[1] ?? /error=([\w-]+)/i.exec(clean)?.[1] ?? clean;
  const host = hostOf(rawUrl);
  const where = proxy ? `proxy ${proxyLabel(proxy)}` : 'a proxy on the network path (not one ferry was told to use: an intercepting proxy)';
  const what = (SQUID_ERRORS[name] ?? `failed for {host} (${name})`).replace('{host}', host);
  const tlsFix =
    name === 'ERR_SECURE_CONNECT_FAIL'
      ? ` For a server with a private CA, the proxy must trust that CA or leave the host out of TLS interception (squid: \`ssl_bump splice\`).`
      : '';
  const message = `${method} ${redactUrl(rawUrl)}: ${where} answered with its own error page (HTTP ${status}, ${name}): it ${what}`;
  const hint = `This is the proxy's answer, not ${host}'s: ask the proxy's operators to allow ${host}.${tlsFix} If ${host} is reachable without the proxy, list it in NO_PROXY (a name, a .domain suffix or a CIDR block).`;
  if ([502, 503, 504].includes(status) && !PERMANENT_PROXY_ERRORS.has(name) && !/^(?:tls_|dns_|destination_not_found|http_request_denied)/i.test(name)) return new RetryableError(message, { hint });
  return new FerryError('NETWORK', message, { hint });
}

/** Failures to open a TCP connection: behind a proxy, the connection ferry opens is to the proxy. */
const CONNECT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT']);

/** The subject alternative names of the certificate in a host-name-mismatch error, if undici kept it. */
function certNames(err: unknown): string[] {
  for (const e of causeChain(err)) {
    const san = (e as { cert?: { subjectaltname?: string; subject?: { CN?: string } } }).cert;
    if (san?.subjectaltname) return san.subjectaltname.split(/,\s*/).map((n) => n.replace(/^(DNS|IP Address):/, ''));
    if (san?.subject?.CN) return [san.subject.CN];
    const reason = String((e as { reason?: string }).reason ?? '');
    // /altnames: (.*)$/ on the last line only (`.` stops at a line break): the regex was quadratic on a long reason.
    const at = reason.indexOf('altnames: ', lastLineStart(reason));
    if (at >= 0) return reason.slice(at + 'altnames: '.length).split(/,\s*/).map((n) => n.replace(/^(DNS|IP Address):/, ''));
  }
  return [];
}

/** True for a failure in the TLS handshake itself (e.g. the server speaks plain HTTP), not a trust problem. */
export function isTlsHandshakeFailure(err: unknown): boolean {
  const tlsErr = err instanceof FerryError && err.code === 'TLS' ? err.cause : err;
  const code = errCode(tlsErr) ?? '';
  // A server that wants (another) client certificate speaks TLS: no plain-HTTP fallback.
  if (CLIENT_CERT_ALERT.test(code)) return false;
  return code.startsWith('ERR_SSL_') || code === 'EPROTO' || /wrong version number|packet length too long|unknown protocol/i.test(String((tlsErr as Error)?.message ?? ''));
}

const SECRET_PARAM = /sig|signature|token|key|credential|secret|auth|policy|password/i;

/** A URL fit for messages and logs: values of signature/token-like query parameters masked. */
export function redactUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    // Not a URL the WHATWG parser takes (a control byte, a bad port): still never show its
    // userinfo. Everything between `scheme://` and the last `@` before the path is masked.
    return url
      .replace(/^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)@/i, (_m, scheme: string, info: string) => `${scheme}${info.includes(':') ? '***:***' : '***'}@`)
      .replace(/([?&])([^=&#]+)=([^&#]*)/g, (m, sep: string, key: string) => (SECRET_PARAM.test(key) ? `${sep}${key}=***` : m));
  }
  let changed = false;
  if (u.username || u.password) {
    u.username = u.username ? '***' : '';
    u.password = u.password ? '***' : '';
    changed = true;
  }
  for (const key of [...u.searchParams.keys()]) {
    if (SECRET_PARAM.test(key)) {
      u.searchParams.set(key, '***');
      changed = true;
    }
  }
  return changed ? u.toString() : url;
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

/**
 * Turn a transport failure into a TLS/NETWORK/AUTH FerryError or a RetryableError, naming the URL
 * and, when the request went through one, the proxy (host:port only).
 */
export function mapTransportError(err: unknown, method: string, rawUrl: string, proxy?: string, hostTls?: HostTls): Error {
  if (err instanceof FerryError || err instanceof RetryableError) return err;
  const url = redactUrl(rawUrl);
  const refused = proxyRefusalStatus(err);
  if (refused !== undefined) return proxyRefusal(refused, method, rawUrl, proxy, err);
  if ((err as Error)?.name === 'AbortError') return err as Error;
  const code = errCode(err) ?? '';
  const viaProxyTls = causeChain(err).some((e) => (e as { code?: unknown }).code === 'UND_ERR_PRX_TLS');
  const host = viaProxyTls && proxy ? `proxy ${proxyLabel(proxy)}` : hostOf(rawUrl);
  const msg = (err as Error)?.message ?? String(err);
  if (proxy && code === 'UND_ERR_PRX_CONN') {
    return new FerryError('NETWORK', `${method} ${url}: proxy ${proxyLabel(proxy)} closed the connection while opening a tunnel to ${host}`, {
      hint: `The proxy may not allow this host or port. ${PROXY_HINT}`,
      cause: err,
    });
  }
  if (proxy && !viaProxyTls && CONNECT_CODES.has(code)) {
    const what = code === 'ECONNREFUSED' ? 'connection refused' : code === 'ENOTFOUND' || code === 'EAI_AGAIN' ? 'host not found' : code.includes('TIMEOUT') || code === 'ETIMEDOUT' ? 'connect timeout' : code;
    return new FerryError('NETWORK', `${method} ${url}: cannot reach proxy ${proxyLabel(proxy)} (${what})`, {
      hint: `Check that the proxy runs at that address. ${PROXY_HINT}`,
      cause: err,
    });
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID' || code === 'HOSTNAME_MISMATCH') {
    const names = certNames(err);
    const hostname = viaProxyTls && proxy ? proxyLabel(proxy).replace(/:\d+$/, '') : new URL(rawUrl).hostname;
    return new FerryError('TLS', `${host}: the certificate is for ${names.length ? names.join(', ') : 'other names'}, not ${hostname}`, {
      hint: `Trusting another CA cannot fix this: connect with a host name the certificate names${names.length ? ` (${names.join(', ')})` : ''}, or have the certificate reissued with ${hostname} among its names.`,
      cause: err,
    });
  }
  if (CERT_CODES.has(code)) {
    return new FerryError('TLS', `${host}: certificate not trusted (${CERT_REASONS[code] ?? msg})`, { hint: CA_HINT, cause: err });
  }
  const alert = CLIENT_CERT_ALERT.exec(code);
  if (alert && !viaProxyTls) {
    const what = alert[1].toLowerCase().replace(/_/g, ' ');
    const offered = hostTls?.clients.length ? hostTls.clients.map((c) => c.certFile).join(', ') : undefined;
    return new FerryError(
      'TLS',
      offered
        ? `${host}: the server refused the client certificate ferry offered (${offered}; TLS alert: ${what})`
        : `${host}: the server requires a client certificate (mutual TLS) and ferry has none for ${hostTls?.host ?? host} (TLS alert: ${what})`,
      { hint: clientCertHint(hostTls), cause: err },
    );
  }
  if (code.startsWith('ERR_SSL_') || code === 'EPROTO' || code.startsWith('ERR_TLS_')) {
    return new FerryError('TLS', `${host}: TLS handshake failed (${msg})`, {
      hint: 'Check that the server speaks HTTPS on that port; for a plain-HTTP registry use an http:// URL (or `insecure: true` in the mirror target).',
      cause: err,
    });
  }
  if (code === 'ENOTFOUND') {
    return new FerryError('NETWORK', `${method} ${url}: host ${host} not found (DNS)`, {
      hint: 'Check the host name, DNS, and HTTPS_PROXY/NO_PROXY settings.',
      cause: err,
    });
  }
  if (code === 'ECONNREFUSED') return new RetryableError(`${method} ${url}: connection refused`, { cause: err });
  if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'ETIMEDOUT') return new RetryableError(`${method} ${url}: connect timeout`, { cause: err });
  if (code === 'UND_ERR_HEADERS_TIMEOUT') return new RetryableError(`${method} ${url}: no response (timeout)`, { cause: err });
  if (code === 'UND_ERR_BODY_TIMEOUT') return new RetryableError(`${method} ${url}: body stalled (timeout)`, { cause: err });
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') {
    return new FerryError('NETWORK', `${method} ${url}: ${host} unreachable (${code})`, {
      hint: 'Check the network path and HTTPS_PROXY/NO_PROXY settings.',
      cause: err,
    });
  }
  if (code === 'UND_ERR_HEADERS_OVERFLOW') {
    // The same answer comes back each time: retrying it only multiplies the wait.
    return new FerryError('NETWORK', `${method} ${url}: the server's response headers are larger than ferry reads (Node's --max-http-header-size, 16 KiB unless set)`, {
      hint: 'No file or registry server sends headers that large; something between (a proxy, a captive portal) or the server is broken or hostile. Tell its operator.',
      cause: err,
    });
  }
  if (code === 'UND_ERR_INVALID_ARG' || code === 'ERR_INVALID_URL') {
    return new FerryError('USAGE', `${method} ${url}: ${msg}`, { cause: err });
  }
  return new RetryableError(`${method} ${url}: ${msg}${code ? ` (${code})` : ''}`, { cause: err });
}

/**
 * CA bundle: Node's default store (incl. NODE_EXTRA_CA_CERTS) plus SSL_CERT_FILE, SSL_CERT_DIR and
 * extra files, each certificate once (the same certificate from the store, a bundle file and a
 * c_rehash directory's `<hash>.0` link parsed once by every secure context made from it).
 * The files are read now, so an unreadable `--ca-file` or SSL_CERT_FILE is reported before any
 * work; SSL_CERT_DIR (hundreds of files in /etc/ssl/certs) only when `list()` is first asked,
 * which is on the first TLS connection: plain-HTTP work never reads it. Undefined when nothing
 * is added to Node's default store.
 */
/** The largest CA file read (`--ca-file`, SSL_CERT_FILE, NODE_EXTRA_CA_CERTS): a whole distribution bundle is ~0.2 MiB. */
const MAX_CA_FILE_BYTES = 16 * 1024 * 1024;

export function buildCaBundle(caFiles: string[] = [], env: NodeJS.ProcessEnv = process.env): { list(): string[] } | undefined {
  const extra = [...caFiles];
  if (env.SSL_CERT_FILE) extra.push(env.SSL_CERT_FILE);
  const dir = env.SSL_CERT_DIR;
  if (extra.length === 0 && !dir) return undefined;
  if (!getCaCertificates && env.NODE_EXTRA_CA_CERTS) extra.push(env.NODE_EXTRA_CA_CERTS);
  const fromFiles: string[] = [];
  for (const file of extra) {
    const pem = readRegularFileSync(file, MAX_CA_FILE_BYTES, true);
    if (typeof pem !== 'string') {
      if (pem.error) throw unreadableFile(file, 'CA file', pem.error, { hint: 'Pass the path of a PEM file with the CA certificate(s).' });
      throw new FerryError('USAGE', `CA file ${file} ${pem.why}: not read`, { hint: `Pass the path of a PEM file with the CA certificate(s) (at most ${MAX_CA_FILE_BYTES / (1024 * 1024)} MiB).` });
    }
    const certs = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
    if (!certs) throw new FerryError('USAGE', `CA file ${file}: no PEM certificate found`, { hint: 'The file must contain -----BEGIN CERTIFICATE----- blocks.' });
    fromFiles.push(...certs);
  }
  let all: string[] | undefined;
  return {
    list: () => (all ??= uniqueCerts([...defaultCaList(), ...certsFromSslCertDir(dir), ...fromFiles])),
  };
}

/** Each certificate once, compared by its base64 text alone (line breaks and spacing differ between sources). */
function uniqueCerts(pems: string[]): string[] {
  const seen = new Set<string>();
  return pems.filter((pem) => {
    const key = pem.replace(/\s+/g, '');
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function defaultCaList(): string[] {
  return getCaCertificates ? getCaCertificates('default') : [...tls.rootCertificates];
}
const getCaCertificates = (tls as { getCACertificates?: (type?: string) => string[] }).getCACertificates;

/**
 * Send the TLS of CONNECT-tunnelled requests through `connect` (so a host's certs.d settings
 * apply behind a proxy too): undici's ProxyAgent upgrades the tunnel with a connector built
 * once from `requestTls`, the same for every host; it keeps it under a symbol of its own.
 */
function routeTunnelTls(agent: object, connect: buildConnector.connector): void {
  let routed = 0;
  for (const sym of Object.getOwnPropertySymbols(agent)) {
    const inner = (agent as Record<symbol, unknown>)[sym];
    if (!inner || typeof inner !== 'object') continue;
    for (const s of Object.getOwnPropertySymbols(inner)) {
      if (s.description === 'connect endpoint function' || s.description === 'connect endpoint function (http/1.1 only)') {
        (inner as Record<symbol, unknown>)[s] = connect;
        routed++;
      }
    }
  }
  if (!routed) throw new Error('undici ProxyAgent has no tunnel connector to route (undici changed?)');
}

/**
 * Route every request as Go's http.ProxyFromEnvironment would (proxyForUrl): direct unless the
 * proxy of its scheme is set and NO_PROXY does not name its host. undici's own choice differs:
 * with HTTP_PROXY alone it sent HTTPS through that proxy too (its HTTPS agent falls back to the
 * HTTP one), where docker, skopeo, helm, containerd and curl connect direct; and it matches
 * NO_PROXY by names only (an internal registry at 10.1.2.3 under `NO_PROXY=10.0.0.0/8` went to
 * the corporate proxy, its credentials with it).
 */
function routeAsGo(agent: Dispatcher, proxied: (origin: URL) => boolean, keys: { kDispatch: symbol; kNoProxyAgent: symbol }): void {
  const a = agent as unknown as Record<symbol, unknown>;
  const viaEnv = a[keys.kDispatch] as (opts: Dispatcher.DispatchOptions, handler: unknown) => boolean;
  const direct = a[keys.kNoProxyAgent] as Dispatcher | undefined;
  if (typeof viaEnv !== 'function' || !direct) throw new Error('undici EnvHttpProxyAgent has no direct agent to route to (undici changed?)');
  a[keys.kDispatch] = (opts: Dispatcher.DispatchOptions, handler: unknown): boolean => {
    let origin: URL | undefined;
    try {
      origin = new URL(String(opts.origin));
    } catch {
      origin = undefined;
    }
    return origin && proxied(origin) ? viaEnv.call(agent, opts, handler) : direct.dispatch(opts, handler as Dispatcher.DispatchHandler);
  };
}

/**
 * A proxy variable from the environment as Go's httpproxy.FromEnvironment reads it (docker,
 * skopeo, helm, containerd): the upper-case name first, then the lower-case one, an empty value
 * taken as unset (`https_proxy=` left empty by a profile script does not hide `HTTPS_PROXY`).
 */
export function proxyEnv(name: 'http_proxy' | 'https_proxy' | 'no_proxy', env: NodeJS.ProcessEnv = process.env): string | undefined {
  const value = env[name.toUpperCase()] || env[name] || undefined;
  // Go's parseProxy: a value without a scheme (`proxy.corp:3128`) is an http:// proxy.
  return value && name !== 'no_proxy' && !/^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? `http://${value}` : value;
}

/**
 * NO_PROXY from the environment plus loopback, which (as in Go) never goes through a proxy. Go
 * sends all of 127.0.0.0/8 direct; ferry 127.0.0.1 (a proxy cannot reach this machine's loopback
 * either way, and tests stand in 127.0.0.2 for an internal address behind a proxy).
 */
export function defaultNoProxy(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = proxyEnv('no_proxy', env) ?? '';
  return [fromEnv, 'localhost', '127.0.0.1', '::1'].filter(Boolean).join(',');
}

/** The proxies a client was given (or read from the environment), as Go's httpproxy.Config holds them. */
export interface ProxyConfig {
  httpProxy?: string;
  httpsProxy?: string;
  noProxy: string;
}

/**
 * The proxy a request to `url` goes through, as Go's httpproxy proxyForURL picks it: HTTPS_PROXY
 * for https, HTTP_PROXY for http (never the other: with HTTP_PROXY alone, HTTPS goes direct),
 * none when NO_PROXY names the host.
 */
export function proxyForUrl(url: URL, cfg: ProxyConfig): string | undefined {
  const proxy = url.protocol === 'https:' ? cfg.httpsProxy : url.protocol === 'http:' ? cfg.httpProxy : undefined;
  if (!proxy) return undefined;
  return bypassesProxy(url, cfg.noProxy) ? undefined : proxy;
}

/** Go's net.SplitHostPort: `host:port` or `[v6]:port` (the brackets dropped); undefined when it has no port or too many colons. */
function splitHostPort(s: string): { host: string; port: string } | undefined {
  if (s.startsWith('[')) {
    const m = /^\[([^\]]*)\]:([^:]*)$/.exec(s);
    return m ? { host: m[1], port: m[2] } : undefined;
  }
  const i = s.lastIndexOf(':');
  if (i < 0 || s.slice(0, i).includes(':')) return undefined;
  return { host: s.slice(0, i), port: s.slice(i + 1) };
}

/** Whether two IP literals are one address (an IPv4-mapped IPv6 address equal to its IPv4 one, as Go's IP.Equal). */
function sameIp(a: string, b: string): boolean {
  const v4 = (ip: string) => {
    const bytes = ipBytes(ip);
    return bytes && bytes.length === 16 && bytes.slice(0, 10).every((x) => x === 0) && bytes[10] === 0xff && bytes[11] === 0xff ? bytes.slice(12) : bytes;
  };
  const x = v4(a);
  const y = v4(b);
  return !!x && !!y && x.length === y.length && x.every((v, i) => v === y[i]);
}

/** A CIDR block as Go's net.ParseCIDR takes it: an IP literal, `/`, a prefix length it can have. */
function isCidr(entry: string): boolean {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(entry);
  const kind = m ? isIP(m[1]) : 0;
  return kind !== 0 && Number(m![2]) <= (kind === 4 ? 32 : 128);
}

/**
 * Whether NO_PROXY sends `url` direct, entry by entry as Go's httpproxy reads it (comma-separated,
 * trimmed, case-insensitive): `*` for every host; a CIDR block (`10.0.0.0/8`, `fd00::/8`) or an IP
 * (with an optional `:port`) for a host written as an IP literal; a name (`corp.example`: it and
 * its subdomains), `.corp.example` or `*.corp.example` (subdomains only), with an optional
 * `:port`, for a host written as a name. A name entry never matches an IP literal, nor an IP
 * entry a name (no DNS lookup).
 */
export function bypassesProxy(url: URL, noProxy: string): boolean {
  const host = url.hostname.replace(/^\[(.+)\]$/, '$1').toLowerCase();
  const port = url.port || (url.protocol === 'https:' ? '443' : url.protocol === 'http:' ? '80' : '');
  const ip = isIP(host) !== 0;
  for (const raw of noProxy.split(',')) {
    const entry = raw.trim().toLowerCase();
    if (!entry) continue;
    if (entry === '*') return true;
    if (isCidr(entry)) {
      if (ip && inCidr(host, entry)) return true;
      continue;
    }
    const hp = splitHostPort(entry);
    if (hp && !hp.host) continue;
    const entryPort = hp?.port ?? '';
    let name = hp ? hp.host : entry;
    if (isIP(name)) {
      if (ip && sameIp(host, name) && (!entryPort || entryPort === port)) return true;
      continue;
    }
    if (name.startsWith('*.')) name = name.slice(1);
    const matchHost = !name.startsWith('.');
    let suffix = matchHost ? `.${name}` : name;
    // Go's idnaASCII: a name in Unicode as its punycode (the URL's host is punycode already).
    if (/[^\x00-\x7f]/.test(suffix)) suffix = `.${domainToASCII(suffix.slice(1)) || suffix.slice(1)}`;
    if (!ip && (host.endsWith(suffix) || (matchHost && host === suffix.slice(1))) && (!entryPort || entryPort === port)) return true;
  }
  return false;
}

/** Skip the first `n` bytes of a stream (a server that ignored Range). */
function skipBytes(n: number): Transform {
  let left = n;
  return new Transform({
    transform(chunk: Buffer, _e, cb) {
      if (left >= chunk.length) {
        left -= chunk.length;
        cb();
        return;
      }
      const rest = left > 0 ? chunk.subarray(left) : chunk;
      left = 0;
      cb(null, rest);
    },
  });
}

function headerValue(h: HttpHeaders, name: string): string | undefined {
  const v = h[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

/** A header's decimal whole number (a Content-Length), undefined when absent or anything else (`12abc`, `-1`, `1e3`, past 2^53). */
export function wholeNumber(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d{1,16}$/.test(text.trim())) return undefined;
  const n = Number(text.trim());
  return Number.isSafeInteger(n) ? n : undefined;
}

export class HttpClient {
  readonly settings: HttpSettings;
  /** undici, loaded and set up on the first request: commands that send none do not pay for it. */
  private dispatcherReady?: Promise<Dispatcher>;
  /**
   * Dispatchers for the hops a server elsewhere sent ferry to, by the scopes they may not
   * connect to (see `GuardedScopes`): their own connection pools, whose every connection checks
   * the address it resolved before connecting, so no connection made for a user-named host is
   * reused for them.
   */
  private readonly guardedDispatchers = new Map<string, Promise<Dispatcher>>();
  /**
   * The local scopes a host name (URL form) was reached at, directly (not through a proxy): a
   * registry or server on this machine under a name (`harbor.local` in /etc/hosts) may send ferry
   * to this machine again — its redirects and token realm are as local as it is.
   */
  private readonly reachedLocal = new Map<string, Set<LocalScope>>();
  private readonly ca: { list(): string[] } | undefined;
  private readonly userAgent: string;
  private readonly openBodies = new Set<Readable>();
  /** certs.d settings read so far, by `hostname:port` (for error hints). */
  private readonly hostTlsSeen = new Map<string, HostTls>();
  readonly lowSpeed: LowSpeedPolicy;

  constructor(settings: HttpSettings = {}) {
    this.settings = settings;
    this.lowSpeed = settings.lowSpeed ?? lowSpeedFromEnv();
    this.userAgent = settings.userAgent ?? 'ferry/0.1';
    // Read here so that an unreadable --ca-file or SSL_CERT_FILE is reported before any work.
    this.ca = buildCaBundle(settings.caFiles);
  }

  /** The local scopes connections to `url`'s host landed in (see `reachedLocal`). */
  private reachedFrom(url: string): ReadonlySet<LocalScope> | undefined {
    return this.reachedLocal.get(new URL(url).hostname.toLowerCase());
  }

  private dispatcher(refused: readonly LocalScope[] = []): Promise<Dispatcher> {
    if (!refused.length) return (this.dispatcherReady ??= this.createDispatcher([]));
    const key = refused.join(',');
    let d = this.guardedDispatchers.get(key);
    if (!d) this.guardedDispatchers.set(key, (d = this.createDispatcher(refused)));
    return d;
  }

  private async createDispatcher(refused: readonly LocalScope[]): Promise<Dispatcher> {
    const { EnvHttpProxyAgent, buildConnector: connector, undiciKeys } = await atStartFlags(() => import('./undici-parts.js'));
    const settings = this.settings;
    const ca = this.ca;
    const timeout = settings.connectTimeoutMs ?? 30_000;
    const base = { ...(settings.insecureSkipVerify ? { rejectUnauthorized: false } : {}), timeout };
    // On the connections to the server only, not to a proxy: through a proxy, the proxy resolves the name (see the README).
    const guard = refused.length ? { lookup: guardedLookup(refused) } : {};
    // One secure context for every connection: given `ca` instead, each TLS connection parses
    // the whole bundle again (~150 certificates, tens of ms of CPU per connection; measured
    // as most of `ferry lock`'s time against a loopback registry). It is made on the first TLS
    // connection (or when a proxy is set up), so plain-HTTP work (an http:// APT mirror) never
    // parses the bundle at all (~40 ms of CPU).
    let secureContext: tls.SecureContext | undefined;
    const client = settings.clientCert ? { cert: settings.clientCert.cert, key: settings.clientCert.key } : {};
    const tlsOpts = ca
      ? {
          ...base,
          get secureContext() {
            return (secureContext ??= tls.createSecureContext({ ca: ca.list(), ...client }));
          },
        }
      : { ...base, ...client };
    // A connect function rather than options: undici copies connect options (reading the
    // secure context) as soon as it sets up a connection pool, HTTP or not.
    const connectors: { plain?: buildConnector.connector; tls?: buildConnector.connector } = {};
    const shared = (which: 'tls' | 'plain') => (connectors[which] ??= connector(which === 'tls' ? { ...tlsOpts, ...guard } : { ...base, ...guard }));
    // Per host:port: its certs.d directory (read once, on the first connection to it) decides
    // whether it gets a connector of its own (its CAs on top of the bundle, its client
    // certificates) or the shared one.
    const hostConnectors = new Map<string, Promise<buildConnector.connector>>();
    const hostConnector = (hostname: string, port: string | number | undefined): Promise<buildConnector.connector> => {
      const key = `${hostname}:${port || 443}`;
      let p = hostConnectors.get(key);
      if (!p) {
        p = loadHostTls(hostname, port, settings.certsD ?? {}).then((t) => {
          this.hostTlsSeen.set(key, t);
          if (!t.cas.length && !t.clients.length) return shared('tls');
          const context = tls.createSecureContext({
            ...(t.cas.length ? { ca: [...(ca?.list() ?? defaultCaList()), ...t.cas] } : ca ? { ca: ca.list() } : {}),
            ...(t.clients.length ? { cert: t.clients.map((c) => c.cert), key: t.clients.map((c) => c.key) } : client),
          });
          return connector({ ...base, ...guard, secureContext: context });
        });
        hostConnectors.set(key, p);
      }
      return p;
    };
    const connect: buildConnector.connector = (opts, done) => {
      // An address literal is connected to without a lookup: checked here (a redirect to one is refused before this).
      const literal = refused.length && !opts.httpSocket ? addressScope(opts.hostname) : undefined;
      if (literal && refused.includes(literal)) {
        done(new LocalAddressRefused(opts.hostname, opts.hostname.replace(/^\[(.*)\]$/, '$1'), literal), null);
        return undefined as unknown as ReturnType<buildConnector.connector>;
      }
      // Where a direct connection landed (a proxied one lands on the proxy: not the server's address).
      const cb: typeof done = (err, socket) => {
        const scope = !err && socket && !opts.httpSocket && socket.remoteAddress ? addressScope(socket.remoteAddress) : undefined;
        if (scope) {
          let seen = this.reachedLocal.get(opts.hostname.toLowerCase());
          if (!seen) this.reachedLocal.set(opts.hostname.toLowerCase(), (seen = new Set()));
          seen.add(scope);
        }
        (done as (e: Error | null, s: typeof socket) => void)(err, socket);
      };
      if (opts.protocol !== 'https:') return shared('plain')(opts, cb);
      hostConnector(opts.hostname, opts.port).then(
        (c) => c(opts, cb),
        (err: Error) => {
          // Through a proxy, the CONNECT tunnel is open already: nothing else would close it.
          (opts as { httpSocket?: { destroy(): void } }).httpSocket?.destroy();
          cb(err, null);
        },
      );
      return undefined as unknown as ReturnType<buildConnector.connector>;
    };
    const bodyTimeout = settings.bodyTimeoutMs ?? 300_000;
    // The TLS options of proxied connections, only where a proxy is set: undici copies them for
    // every agent, which would make the secure context now.
    const proxies = this.proxyConfig();
    const proxied = Boolean(proxies.httpProxy || proxies.httpsProxy);
    try {
      const agent = new EnvHttpProxyAgent({
        connect,
        ...(proxied ? { requestTls: tlsOpts, proxyTls: tlsOpts } : {}),
        connectTimeout: timeout,
        headersTimeout: bodyTimeout,
        bodyTimeout,
        // Always given, so undici does not read the environment its own way (an empty lower-case
        // variable winning); NO_PROXY empty: routeAsGo decides what goes direct.
        httpProxy: proxies.httpProxy ?? '',
        httpsProxy: proxies.httpsProxy ?? '',
        noProxy: '',
      } as ConstructorParameters<typeof EnvHttpProxyAgent>[0]);
      if (proxied) {
        routeTunnelTls(agent, connect);
        routeAsGo(agent, (origin) => proxyForUrl(origin, proxies) !== undefined, undiciKeys);
      }
      return agent;
    } catch (err) {
      // A malformed proxy URL (undici's own "Invalid URL"); the settings are not echoed, they may hold credentials.
      throw new FerryError('USAGE', `proxy settings (HTTP_PROXY, HTTPS_PROXY, NO_PROXY): ${(err as Error).message}`, {
        hint: 'A proxy is a URL such as http://proxy.example:3128.',
        cause: err,
      });
    }
  }

  /** The certs.d settings read for the host of `url`, once a connection to it was attempted. */
  hostTlsFor(url: string): HostTls | undefined {
    try {
      const u = new URL(url);
      if (u.protocol !== 'https:') return undefined;
      return this.hostTlsSeen.get(`${u.hostname}:${u.port || 443}`);
    } catch {
      return undefined;
    }
  }

  /** The proxies this client uses: its settings, else the environment's (read as Go reads it). */
  private proxyConfig(): ProxyConfig {
    const s = this.settings;
    return { httpProxy: s.httpProxy ?? proxyEnv('http_proxy'), httpsProxy: s.httpsProxy ?? proxyEnv('https_proxy'), noProxy: s.noProxy ?? defaultNoProxy() };
  }

  /** The proxy a request to `url` goes through (proxyForUrl, as the dispatcher routes it), or undefined. */
  proxyFor(url: string): string | undefined {
    try {
      return proxyForUrl(new URL(url), this.proxyConfig());
    } catch {
      return undefined;
    }
  }

  /** One request; follows redirects (dropping Authorization across origins); retryable statuses throw RetryableError. */
  async request(url: string, opts: HttpRequestOptions = {}): Promise<HttpResponse> {
    let method = (opts.method ?? 'GET').toUpperCase();
    let headers: Record<string, string> = { 'user-agent': this.userAgent, ...lowerKeys(opts.headers ?? {}) };
    let body = opts.body;
    let current = url;
    const maxRedirects = opts.maxRedirects ?? 10;
    // Where the URL being requested came from, when that is a server's answer: a redirect's
    // Location, or a URL a server named (`namedBy`). Its connection may not land on this machine
    // or a link-local address unless that server is there itself (judged by its name, as written).
    let sentBy = opts.namedBy;
    for (let hop = 0; ; hop++) {
      let res: Dispatcher.ResponseData;
      if (sentBy) {
        const inward = inwardRedirect(sentBy, current, this.reachedFrom(sentBy));
        if (inward) throw inwardRefusal(method, sentBy, current, hop > 0, inward);
      }
      const refused = sentBy ? refusedScopes(sentBy, this.reachedFrom(sentBy)) : [];
      const dispatcher = await this.dispatcher(refused);
      // Nothing at all for the low-speed window is below any limit: the headers of a request
      // that sends no stream wait that long. An upload's answer may take a registry minutes
      // (it checks the digest of what it received), so it keeps the long idle timeout.
      const headersTimeout = this.lowSpeed.limitBytesPerSec > 0 && method !== 'PUT' && method !== 'PATCH' && !(body instanceof Readable) ? this.lowSpeed.windowMs : undefined;
      try {
        res = await dispatcher.request({
          origin: new URL(current).origin,
          path: pathAndQuery(current),
          method: method as Dispatcher.HttpMethod,
          headers,
          body: body ?? null,
          signal: opts.signal,
          ...(method === 'HEAD' && opts.reuseAfterHead ? { reset: false } : {}),
          ...(headersTimeout !== undefined ? { headersTimeout } : {}),
        });
      } catch (err) {
        if (headersTimeout !== undefined && errCode(err) === 'UND_ERR_HEADERS_TIMEOUT') {
          throw new SlowTransferError(`${method} ${redactUrl(current)}: no answer within ${Math.round(headersTimeout / 1000)} s (the server accepted the connection but sent no response headers)`, LOW_SPEED_HINT);
        }
        if (err instanceof LocalAddressRefused && sentBy) throw inwardRefusal(method, sentBy, current, hop > 0, err.describe());
        throw mapTransportError(err, method, current, this.proxyFor(current), this.hostTlsFor(current));
      }
      const status = res.statusCode;
      const resHeaders = res.headers as HttpHeaders;
      this.settings.log?.(`${method} ${redactUrl(current)} → ${status}`);
      if (status === 407) {
        // A plain-HTTP request forwarded through the proxy: the proxy answers for it.
        await res.body.dump().catch(() => undefined);
        throw proxyRefusal(407, method, current, this.proxyFor(current));
      }
      const proxyError = proxyErrorMark(status, resHeaders);
      if (proxyError) {
        // A proxy's own error page (squid's, with or without TLS interception): not the server's answer.
        await res.body.dump().catch(() => undefined);
        throw proxyErrorPage(status, proxyError, method, current, this.proxyFor(current));
      }
      if (REDIRECT_STATUSES.has(status) && headerValue(resHeaders, 'location') && (hop < maxRedirects || opts.maxRedirects === undefined)) {
        if (body instanceof Readable && status !== 303) {
          // A stream body cannot be replayed; hand the redirect back to the caller.
          return { status, headers: resHeaders, body: res.body, url: current };
        }
        await res.body.dump().catch(() => undefined);
        // The Location is the server's word: a loop, a non-HTTP scheme (file:, ftp:) or garbage is refused, named.
        if (hop >= maxRedirects) {
          throw new FerryError('NETWORK', `${method} ${redactUrl(url)}: still redirected after ${maxRedirects} redirects (a redirect loop?); last at ${redactUrl(current)}`, {
            hint: 'The server (or something in between) keeps redirecting; tell its operator.',
          });
        }
        const next = redirectTarget(headerValue(resHeaders, 'location')!, current, method);
        const inward = inwardRedirect(current, next, this.reachedFrom(current));
        if (inward) throw inwardRefusal(method, current, next, true, inward);
        if (current.startsWith('https:') && next.startsWith('http:')) {
          // As apt does: what was asked for over HTTPS is not fetched in clear text, where anyone on the path could change it.
          throw new FerryError('NETWORK', `${method} ${redactUrl(current)}: redirected from HTTPS to plain HTTP (${JSON.stringify(redactUrl(next).slice(0, 200))}); refusing to follow it`, {
            hint: 'A redirect may not downgrade HTTPS; tell the server\'s operator. If plain HTTP is what you mean, name the http:// URL yourself.',
          });
        }
        if (new URL(next).origin !== new URL(current).origin) {
          const { authorization: _drop, ...rest } = headers;
          headers = rest;
        }
        if (status === 303 || ((status === 301 || status === 302) && method === 'POST')) {
          method = method === 'HEAD' ? 'HEAD' : 'GET';
          body = undefined;
          delete headers['content-type'];
          delete headers['content-length'];
        }
        sentBy = current;
        current = next;
        continue;
      }
      if (RETRY_STATUSES.has(status) && !opts.passStatuses?.includes(status)) {
        await res.body.dump().catch(() => undefined);
        throw new RetryableError(`${method} ${redactUrl(current)}: HTTP ${status}`, { retryAfterMs: parseRetryAfter(resHeaders['retry-after']) });
      }
      const out = res.body;
      watchBody(out, this.lowSpeed, `${method} ${redactUrl(current)}`);
      this.openBodies.add(out);
      out.once('close', () => this.openBodies.delete(out));
      return { status, headers: resHeaders, body: out, url: current };
    }
  }

  /** Whole small body, retried under the policy; 404 → NOT_FOUND naming the URL. */
  async getBytes(url: string, opts: { headers?: Record<string, string>; label?: string; maxBytes?: number; namedBy?: string } = {}): Promise<Buffer> {
    const label = opts.label ? `${opts.label} (${redactUrl(url)})` : redactUrl(url);
    const maxBytes = opts.maxBytes ?? 256 * 1024 * 1024;
    return withRetry(
      `GET ${label}`,
      async () => {
        const res = await this.request(url, { headers: opts.headers, namedBy: opts.namedBy });
        if (res.status < 200 || res.status >= 300) await throwForStatus(res, 'GET', label);
        try {
          return await readCapped(res.body, maxBytes, `${label}: larger than the ${maxBytes} bytes ferry accepts here`);
        } catch (err) {
          throw mapTransportError(err, 'GET', url);
        }
      },
      this.settings.retry,
    );
  }

  /** Open a download at `offset` with Range; a server that ignores Range gets its first bytes skipped. */
  async openAt(url: string, offset: number, opts: { headers?: Record<string, string>; label?: string; namedBy?: string } = {}): Promise<Readable> {
    const r = await this.openRange(url, offset, opts);
    return r.start < offset ? pipeWithErrors(r.body, skipBytes(offset - r.start)) : r.body;
  }

  /**
   * Open a download at `offset` with Range and say what came back: where the body starts (0 for
   * a 200, the whole file), and which version of the file it is. With `ifRange` (a validator an
   * earlier answer gave) a server whose file changed sends the whole new file instead of a part
   * of it (RFC 9110 If-Range), so a resumed download is never two versions spliced together.
   */
  async openRange(url: string, offset: number, opts: { headers?: Record<string, string>; label?: string; ifRange?: string; namedBy?: string } = {}): Promise<RangedBody> {
    const label = opts.label ? `${opts.label} (${redactUrl(url)})` : redactUrl(url);
    const headers = { ...(opts.headers ?? {}) };
    if (offset > 0) {
      headers.range = `bytes=${offset}-`;
      if (opts.ifRange) headers['if-range'] = opts.ifRange;
    }
    const res = await this.request(url, { headers, namedBy: opts.namedBy });
    return rangedBody(res, offset, label);
  }

  /**
   * Close the connections. Bodies still open after a short grace (unread, or a stalled server)
   * are destroyed first: undici's close would otherwise wait for them forever.
   */
  async close(): Promise<void> {
    if (this.openBodies.size > 0) {
      const deadline = Date.now() + 1000;
      while (this.openBodies.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      for (const body of this.openBodies) body.destroy(new Error('HTTP client closed'));
    }
    const all = [this.dispatcherReady, ...this.guardedDispatchers.values()];
    for (const ready of all) {
      const dispatcher = await ready?.catch(() => undefined);
      await dispatcher?.close();
    }
  }
}

/** Check a ranged (or not) response and give back the stream from `offset`. */
export async function bodyFromOffset(res: HttpResponse, offset: number, label: string): Promise<Readable> {
  const r = await rangedBody(res, offset, label);
  return r.start < offset ? pipeWithErrors(r.body, skipBytes(offset - r.start)) : r.body;
}

/** The answer to a (possibly) ranged GET: the body, where in the file it starts, and the file's version. */
export interface RangedBody {
  body: Readable;
  /** Offset in the file of the body's first byte: the offset asked for, or 0 (a 200 sends the whole file). */
  start: number;
  /** The version the server names: a strong ETag, else Last-Modified (what If-Range takes); absent when it names none. */
  validator?: string;
  /** The size of the whole file: a 206's Content-Range total or a 200's Content-Length, when given. */
  total?: number;
}

/** A strong ETag, else Last-Modified: the validator If-Range may carry (a weak ETag may not, RFC 9110 13.1.5). */
export function strongValidator(h: HttpHeaders): string | undefined {
  const etag = headerValue(h, 'etag')?.trim();
  if (etag && /^"[\x21\x23-\x7e]{0,200}"$/.test(etag)) return etag;
  if (etag) return undefined;
  const lastModified = headerValue(h, 'last-modified')?.trim();
  return lastModified && lastModified.length <= 64 && !Number.isNaN(Date.parse(lastModified)) ? lastModified : undefined;
}

/** A 206 whose bytes cannot be placed in the file: asking again without Range gets the whole file. */
export class UnplaceableRangeError extends RetryableError {
  constructor(message: string) {
    super(message);
    this.name = 'UnplaceableRangeError';
  }
}

const CONTENT_RANGE = /^bytes (\d{1,16})-(\d{1,16})\/(\d{1,16}|\*)$/;

async function rangedBody(res: HttpResponse, offset: number, label: string): Promise<RangedBody> {
  const validator = strongValidator(res.headers);
  if (res.status === 206) {
    // Only `bytes <first>-<last>/<total>` says where the bytes belong; anything else (none, a
    // multipart/byteranges body to a single range, first past last) cannot be placed in the file.
    const cr = headerValue(res.headers, 'content-range')?.trim() ?? '';
    const m = CONTENT_RANGE.exec(cr);
    const [first, last, total] = m ? [Number(m[1]), Number(m[2]), m[3] === '*' ? undefined : Number(m[3])] : [];
    if (!m || first! > last! || (total !== undefined && last! >= total)) {
      res.body.destroy();
      throw new UnplaceableRangeError(`${label}: the server answered 206 with ${cr ? `Content-Range ${JSON.stringify(cr.slice(0, 80))}` : 'no Content-Range'} to a request for bytes from ${offset}; its bytes cannot be placed`);
    }
    if (first! > offset || last! < offset) {
      res.body.destroy();
      throw new UnplaceableRangeError(`${label}: server answered range ${first}-${last}, asked for bytes from ${offset}`);
    }
    const body = first! < offset ? pipeWithErrors(res.body, skipBytes(offset - first!)) : res.body;
    return { body, start: offset, ...(validator ? { validator } : {}), ...(total !== undefined ? { total } : {}) };
  }
  if (res.status === 200) {
    const total = wholeNumber(headerValue(res.headers, 'content-length'));
    return { body: res.body, start: 0, ...(validator ? { validator } : {}), ...(total !== undefined ? { total } : {}) };
  }
  if (res.status === 416) {
    await discard(res.body);
    throw new FerryError('VERIFY', `${label}: server has no bytes from offset ${offset} (range not satisfiable); the content is shorter than expected`);
  }
  return throwForStatus(res, 'GET', label);
}

type LocalScope = 'loopback' | 'link-local';

/**
 * `hostname` (URL form, or an address as connected to) as loopback (this machine: 127/8, ::1,
 * 0.0.0.0/8, ::, localhost, and the same as IPv4-mapped IPv6 addresses) or link-local
 * (169.254/16, fe80::/10), or undefined: a name is judged as written, never looked up here.
 */
export function addressScope(hostname: string): LocalScope | undefined {
  const ip = hostname.replace(/^\[(.*)\]$/, '$1');
  if (isLoopbackHost(hostname) || inCidr(ip, '127.0.0.0/8') || inCidr(ip, '0.0.0.0/8') || inCidr(ip, '::1/128') || inCidr(ip, '::/128')) return 'loopback';
  if (inCidr(ip, '169.254.0.0/16') || inCidr(ip, 'fe80::/10')) return 'link-local';
  return undefined;
}

/** What `scope` is, for a message. */
function scopeText(scope: LocalScope): string {
  return scope === 'loopback' ? 'which is this machine' : 'a link-local address (where cloud metadata services answer)';
}

/**
 * The scopes a URL a server at `from` sent ferry to may not lead to: both, but the one `from` is
 * in itself — by its name as written, or where ferry's connections to it landed (`reached`).
 */
function refusedScopes(from: string, reached?: ReadonlySet<LocalScope>): LocalScope[] {
  const own = addressScope(new URL(from).hostname);
  return (['loopback', 'link-local'] as const).filter((s) => s !== own && !reached?.has(s));
}

/**
 * What is wrong with a redirect from `from` to `to` that leads to this machine or a link-local
 * address from a host that is not one itself, or undefined. Host names are read as written here;
 * a name that resolves there is refused when the connection is made (`guardedLookup`).
 */
export function inwardRedirect(from: string, to: string, reached?: ReadonlySet<LocalScope>): string | undefined {
  const target = addressScope(new URL(to).hostname);
  if (!target || !refusedScopes(from, reached).includes(target)) return undefined;
  return scopeText(target);
}

function inwardRefusal(method: string, from: string, to: string, redirected: boolean, what: string): FerryError {
  // Curl and apt follow it; a browser does not (Private Network Access): a server elsewhere has no business
  // sending ferry to a service on this machine, or to the cloud metadata service at 169.254.169.254.
  const how = redirected ? 'redirected to' : 'names';
  return new FerryError('NETWORK', `${method} ${redactUrl(from)}: ${how} ${JSON.stringify(redactUrl(to).slice(0, 200))}, ${what}; refusing to follow a ${redirected ? 'redirect' : 'URL'} there from another host`, {
    hint: 'A server elsewhere sends ferry to a local service; tell its operator. If the file really is there, name that URL in the manifest yourself.',
  });
}

/** A connection refused because the name resolved to an address in a refused scope. */
class LocalAddressRefused extends Error {
  readonly code = 'FERRY_LOCAL_ADDRESS';
  constructor(
    readonly hostname: string,
    readonly address: string,
    readonly scope: LocalScope,
  ) {
    super(`${hostname} resolves to ${address}, ${scopeText(scope)}`);
  }
  describe(): string {
    return this.hostname.replace(/^\[(.*)\]$/, '$1') === this.address ? scopeText(this.scope) : `whose host ${this.message}`;
  }
}

/**
 * A `lookup` for net/tls.connect that resolves as usual and fails when any address it gives is in
 * a refused scope: the check is on the addresses the socket then connects to, not on an earlier
 * lookup a DNS answer could change before the connection (rebinding). A name with any such
 * address is refused whole, even when others would do.
 */
function guardedLookup(refused: readonly LocalScope[]): LookupFunction {
  return ((hostname: string, options: LookupAllOptions, cb: (err: Error | null, address?: string | LookupAddress[], family?: number) => void) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return cb(err);
      for (const a of addresses) {
        const scope = addressScope(a.address);
        if (scope && refused.includes(scope)) return cb(new LocalAddressRefused(hostname, a.address, scope));
      }
      if (options.all) return cb(null, addresses);
      if (!addresses.length) return cb(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }));
      cb(null, addresses[0].address, addresses[0].family);
    });
  }) as LookupFunction;
}

/** Where a redirect leads: an http(s) URL, or a NETWORK error naming the request and the Location. */
function redirectTarget(location: string, current: string, method: string): string {
  let next: URL | undefined;
  try {
    next = new URL(location, current);
  } catch {
    next = undefined;
  }
  if (!next || (next.protocol !== 'http:' && next.protocol !== 'https:')) {
    throw new FerryError('NETWORK', `${method} ${redactUrl(current)}: redirected to ${JSON.stringify(redactUrl(location).slice(0, 200))}, which is not an http(s) URL; refusing to follow it`, {
      hint: 'The server (or something in between) answered a redirect ferry will not follow; tell its operator.',
    });
  }
  return next.toString();
}

/**
 * A whole body read into memory, refused (and the stream closed) once it passes `max` bytes:
 * every small answer from outside (a manifest, a token, a tag list) goes through here, so an
 * endless or oversized body costs at most `max` bytes.
 */
export async function readCapped(body: Readable, max: number, tooLarge: string, code: 'VERIFY' | 'VALIDATION' | 'AUTH' = 'VERIFY'): Promise<Buffer> {
  // An answer read whole is small: it also gets a total deadline (see low-speed.ts).
  const w = watchedBody(body);
  const stop = w ? wholeBodyDeadline(body, w.policy.wholeBodyMs, w.label) : () => undefined;
  const chunks: Buffer[] = [];
  let n = 0;
  try {
    for await (const c of body) {
      n += (c as Buffer).length;
      if (n > max) {
        body.destroy();
        throw new FerryError(code, tooLarge);
      }
      chunks.push(c as Buffer);
    }
  } finally {
    stop();
  }
  return Buffer.concat(chunks);
}

/** Throw away a response body without reading it all (undici's dump reads a little to keep the connection). */
export async function discard(body: Readable): Promise<void> {
  const dump = (body as Readable & { dump?: (o?: { limit?: number }) => Promise<void> }).dump;
  if (dump) await dump.call(body).catch(() => undefined);
  else body.destroy();
}

/**
 * `src` through `t`, an error of either ending both (the reader of `t` gets it). Through
 * pipeline, not pipe + an error listener: a body that failed (the connection dropped) before this
 * was called still fails `t` — a listener added then never fires, and the download waited for
 * ever on a body already gone (seen under load when the caller awaited a file write first).
 */
export function pipeWithErrors(src: Readable, t: Transform): Readable {
  return pipeline(src, t, () => undefined);
}

/** Turn a non-2xx response into the right error (consumes the body). */
export async function throwForStatus(res: HttpResponse, method: string, label: string): Promise<never> {
  let text = '';
  try {
    const chunks: Buffer[] = [];
    let n = 0;
    // The first 4 KiB say what went wrong; an error body that never ends is cut off, not drained.
    for await (const c of res.body) {
      chunks.push(c as Buffer);
      n += (c as Buffer).length;
      if (n >= 4096) {
        res.body.destroy();
        break;
      }
    }
    text = Buffer.concat(chunks).toString('utf8').slice(0, 300).trim();
  } catch {
    /* the status says enough */
  }
  const detail = text && !text.startsWith('<') ? `: ${text.replace(/\s+/g, ' ')}` : '';
  switch (res.status) {
    case 404:
    case 410:
      throw new FerryError('NOT_FOUND', `${label}: not found (HTTP ${res.status})`, { hint: 'Check the name, version and URL.' });
    case 401:
    case 403:
      throw new FerryError('AUTH', `${label}: access denied (HTTP ${res.status})`, { hint: 'Check the credentials for this host.' });
    case 408:
    case 429:
    case 500:
    case 502:
    case 503:
    case 504:
      throw new RetryableError(`${method} ${label}: HTTP ${res.status}${detail}`, { retryAfterMs: parseRetryAfter(res.headers['retry-after']) });
    default:
      throw new FerryError('NETWORK', `${method} ${label}: unexpected HTTP ${res.status}${detail}`);
  }
}

function lowerKeys(h: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) out[k.toLowerCase()] = v;
  return out;
}

function pathAndQuery(url: string): string {
  const u = new URL(url);
  return u.pathname + u.search;
}

export { headerValue };
