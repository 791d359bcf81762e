import { isIP } from 'node:net';
import path from 'node:path';
import { isMap, isScalar, LineCounter, type Document, type Node } from 'yaml';
import { parseHostileDocument } from '../manifest/yaml-input.js';
import { CONTAINER_LISTS, walkPodSpecs } from '../kinds/chart/discover/rendered.js';
import { joinPath, mentioningJson, placeIn } from './implied-egress.js';
import type { Reference } from './scan.js';

/**
 * What a Grafana server reaches outside by its own configuration: conf/defaults.ini, then the
 * grafana.ini it reads (`--config`, /etc/grafana/grafana.ini in the official image, the path
 * GF_PATHS_CONFIG names), then `GF_<SECTION>_<KEY>` environment variables over both (section and
 * key upper-cased, `.` and `-` as `_`). Source: grafana.com/docs/grafana/latest/setup-grafana/
 * configure-grafana ("Configuration file location", "Override configuration with environment
 * variables", "Variable expansion": `$__env{}`, `$__file{}`, `$__vault{}`), and the keys' defaults in
 * conf/defaults.ini (github.com/grafana/grafana). Read here: a grafana.ini file, a ConfigMap key a
 * Grafana container mounts as its grafana.ini (tied to that container), Helm values' `grafana.ini:`
 * map (the grafana chart and the charts carrying it as a subchart, kube-prometheus-stack's
 * `grafana:`) with its `env`, `envRenderSecret`, `envValueFrom` and `envFromSecret(s)`/
 * `envFromConfigMaps`, and a Grafana container's env. A value from a Secret, a ConfigMap not in the
 * scan or an expansion is unknown, named; a default is reported as the default, said so.
 */

/** A setting's value where it was read: known, or unknown with why. */
type Value = { value: string; at: Place } | { unknown: string; at: Place };
interface Place {
  file: string;
  line: number;
  keyPath: string;
}

/** One layer of settings by `section.key` (lower case), and what may set any key unseen (an envFrom Secret). */
interface Layer {
  settings: Map<string, Value>;
  anyFrom?: string;
}

/** The keys read (section.key): only these are kept from a file, whatever it holds. */
const KEYS = new Set([
  'analytics.reporting_enabled',
  'analytics.check_for_updates',
  'analytics.check_for_plugin_updates',
  'grafana_com.url',
  'grafana_com.api_url',
  'grafana_net.url',
  'snapshots.external_enabled',
  'snapshots.external_snapshot_url',
  'plugins.public_key_retrieval_disabled',
  'database.type',
  'database.host',
  'database.url',
  'smtp.enabled',
  'smtp.host',
  'remote_cache.type',
  'remote_cache.connstr',
  'external_image_storage.provider',
  'external_image_storage.s3.bucket_url',
  'external_image_storage.s3.endpoint',
  'external_image_storage.s3.region',
  'external_image_storage.azure_blob.account_name',
  'paths.config',
  'rendering.server_url',
  'rendering.callback_url',
  'tracing.opentelemetry.otlp.address',
  'tracing.opentelemetry.jaeger.address',
  'tracing.jaeger.address',
  'live.ha_engine',
  'live.ha_engine_address',
  'news.news_feed_enabled',
  'news.news_feed_url',
  ...['github', 'gitlab', 'google', 'grafana_com', 'generic_oauth', 'okta', 'azuread'].flatMap((p) => ['enabled', 'auth_url', 'token_url', 'api_url'].map((k) => `auth.${p}.${k}`)),
]);

/** The env variable for a key: `auth.generic_oauth.token_url` → GF_AUTH_GENERIC_OAUTH_TOKEN_URL. */
const envName = (key: string) => `GF_${key.replace(/[.-]/g, '_').toUpperCase()}`;
const ENV_KEYS = new Map([...KEYS].map((k) => [envName(k), k]));

/** OAuth providers whose URLs default to the provider's public service (conf/defaults.ini [auth.<p>]). */
const OAUTH_DEFAULTS: Record<string, Record<string, string>> = {
  github: { auth_url: 'https://github.com/login/oauth/authorize', token_url: 'https://github.com/login/oauth/access_token', api_url: 'https://api.github.com/user' },
  gitlab: { auth_url: 'https://gitlab.com/oauth/authorize', token_url: 'https://gitlab.com/oauth/token', api_url: 'https://gitlab.com/api/v4' },
  google: { auth_url: 'https://accounts.google.com/o/oauth2/auth', token_url: 'https://accounts.google.com/o/oauth2/token', api_url: 'https://www.googleapis.com/oauth2/v1/userinfo' },
  generic_oauth: {},
  // [auth.azuread]'s defaults are https://login.microsoftonline.com/<tenant-id>/oauth2/v2.0/{authorize,token}
  // (conf/defaults.ini; grafana.com/docs/grafana/latest/setup-grafana/configure-security/configure-authentication/azuread):
  // the host is Microsoft's, the tenant in the path is not written.
  azuread: { auth_url: 'https://login.microsoftonline.com', token_url: 'https://login.microsoftonline.com' },
  // [auth.okta]'s defaults are https://<tenant-id>.okta.com/oauth2/v1/…: the tenant is the host (TENANT_HOSTED).
  okta: {},
};
/** Providers whose default URLs name a tenant in the host (conf/defaults.ini): unset, the destination is unknown. */
const TENANT_HOSTED: Record<string, string> = { okta: 'https://<tenant-id>.okta.com/oauth2/v1/' };

const SOURCE = 'grafana.com/docs/grafana/latest/setup-grafana/configure-grafana, conf/defaults.ini';
const PROVISIONING = 'grafana.com/docs/grafana/latest/administration/provisioning';
/** At most this many Grafana configurations (containers, values maps, ConfigMap keys) a scan, and this many bytes of a value. */
export const MAX_GRAFANA_CONFIGS = 10_000;
const MAX_VALUE = 1024;
const MAX_WALK_NODES = 200_000;
const MAX_WALK_DEPTH = 64;
/** At most this many data sources are read from one provisioning list. */
const MAX_DATASOURCES = 10_000;

/** A walk of a document stopped (its node budget, or nesting): the keys below are not looked at, said. */
function walkCut(g: GrafanaCollected, at: Place, nodes: boolean, what: string): void {
  cutAt(g, at, nodes ? `${what}: more than ${MAX_WALK_NODES} nodes of this document looked at, those after it are not (what they set is unknown)` : `${what}: nested more than ${MAX_WALK_DEPTH} deep, not looked into (what it sets is unknown)`);
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
/** A text with the credentials of its URLs masked (`https://user:token@host` → `https://***:***@host`): a note quotes values. */
const masked = (s: string): string => (s.includes('://') ? s.replace(/:\/\/([^\s/?#@]*)@/g, (_m, who: string) => `://${who.includes(':') ? '***:***' : '***'}@`) : s);
const clip = (raw: string): string => {
  const s = masked(raw);
  return s.length > 120 ? `${s.slice(0, 120)}…` : s;
};
/** A DNS name (labels of letters, digits, `_` and inner `-`, at most 253 characters) or an IP address. */
const DNS_NAME = /^(?=.{1,253}$)(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.?$/i;
const isHostName = (h: string): boolean => DNS_NAME.test(h) || isIP(h) !== 0;
/** C0/C1 controls and the bidi controls that reorder what a terminal shows. */
const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;
/** A URL a client could call as written: it parses, its host is a host name, no control character in it. */
function isCallableUrl(raw: string): boolean {
  if (CONTROLS.test(raw)) return false;
  try {
    const u = new URL(raw);
    return /^[a-z][a-z0-9+.-]*:$/i.test(u.protocol) && isHostName(u.hostname.replace(/^\[(.*)\]$/, '$1'));
  } catch {
    return false;
  }
}
type Push = (at: Place, value: string, note: string, unknown?: boolean) => void;
/** A URL as written, a finding when a client could call it, else an unknown destination naming why. */
function pushUrl(push: Push, at: Place, raw: string, note: string, source = SOURCE): void {
  if (isCallableUrl(raw)) push(at, raw.replace(/\/+$/, ''), `${note} (${source})`);
  else push(at, at.keyPath, `${note}; ${JSON.stringify(clip(raw))} is no URL a client could call (no host name, or control characters): where it goes is unknown (${source})`, true);
}
const scalarText = (v: unknown): string | undefined => (typeof v === 'string' ? v.slice(0, MAX_VALUE).trim() : typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined);
/** A value Grafana expands when it loads (`$__env{X}`, `$__file{/run/x}`, `$__vault{…}`, `${X}`): not known here. */
const expanded = (v: string) => /\$__(?:env|file|vault)\{|\$\{[^}]*\}/.exec(v)?.[0];

function valueAt(raw: string, at: Place, where: string): Value {
  const ex = expanded(raw);
  return ex ? { unknown: `${where} is ${clip(raw)}, which Grafana expands when it starts (${clip(ex)}): unknown here`, at } : { value: raw, at };
}

/**
 * A grafana.ini's keys of KEYS (go-ini as Grafana loads it: `[section]`, `key = value`, `#`/`;`
 * comments, quotes around a value dropped). Linear in the text; a value at most 1 KiB.
 */
export function grafanaIniSettings(text: string, file: string, firstLine = 1): Map<string, Value> {
  const out = new Map<string, Value>();
  let section = '';
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    if (line.startsWith('[')) {
      const end = line.indexOf(']');
      section = end > 0 ? line.slice(1, end).trim().toLowerCase() : section;
      continue;
    }
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    const key = `${section ? `${section}.` : ''}${line.slice(0, eq).trim().toLowerCase()}`;
    if (!KEYS.has(key)) continue;
    const raw = line.slice(eq + 1, eq + 1 + MAX_VALUE).trim().replace(/^"""([\s\S]*)"""$|^"(.*)"$|^'(.*)'$|^`(.*)`$/, (_m, a, b, c, d) => a ?? b ?? c ?? d ?? '');
    out.set(key, valueAt(raw, { file, line: firstLine + i, keyPath: `[${section}] ${line.slice(0, eq).trim()}` }, `[${section}] ${key.slice(section.length + 1)}`));
  }
  return out;
}

/** What the settings decide: the destinations, each with the place it is reported at and why. */
function egressOf(layers: Layer[], anchor: Place, subject: string, push: (at: Place, value: string, note: string, unknown?: boolean) => void): void {
  /** The setting as Grafana resolves it: the last layer that sets it wins (env over grafana.ini). */
  const get = (key: string): { v?: Value; unseen?: string } => {
    let unseen: string | undefined;
    for (let i = layers.length - 1; i >= 0; i--) {
      const got = layers[i].settings.get(key);
      if (got) return { v: got, ...(unseen ? { unseen } : {}) };
      unseen ??= layers[i].anyFrom;
    }
    return unseen ? { unseen } : {};
  };
  const how = (key: string, r: { v?: Value; unseen?: string }, dflt: string) =>
    r.v
      ? 'value' in r.v
        ? `${r.v.at.keyPath} = ${clip(r.v.value)} (${r.v.at.file}:${r.v.at.line})${r.unseen ? `, unless ${r.unseen} sets ${envName(key)}` : ''}`
        : r.v.unknown
      : `unknown/default: ${envName(key)} is not set${r.unseen ? ` here, though ${r.unseen} may set it` : ''}, and [${key.slice(0, key.lastIndexOf('.'))}] ${key.slice(key.lastIndexOf('.') + 1)} defaults to ${dflt}`;
  /** on: true, false, or undefined (unknown; `why` says so). */
  const bool = (key: string, dflt: boolean) => {
    const r = get(key);
    if (!r.v) return { on: dflt, why: how(key, r, String(dflt)), at: anchor };
    if (!('value' in r.v)) return { on: undefined, why: r.v.unknown, at: r.v.at };
    const s = r.v.value.toLowerCase();
    const on = ['true', '1', 't'].includes(s) ? true : ['false', '0', 'f'].includes(s) ? false : undefined;
    return { on, why: on === undefined ? `${how(key, r, String(dflt))}, which is no boolean Grafana reads: unknown` : how(key, r, String(dflt)), at: r.v.at };
  };
  /** A destination setting: written, unknown, or its default. */
  const dest = (key: string, dflt?: string) => {
    const r = get(key);
    if (r.v && 'value' in r.v && r.v.value) return { url: r.v.value, why: how(key, r, dflt ?? '""'), at: r.v.at, written: true };
    if (r.v && !('value' in r.v)) return { why: r.v.unknown, at: r.v.at };
    return dflt ? { url: dflt, why: how(key, r, dflt), at: anchor, written: false } : { why: how(key, r, '""'), at: anchor };
  };
  const report = (what: string, gate: ReturnType<typeof bool>, d: ReturnType<typeof dest>, onWhen = true) => {
    if (gate.on === !onWhen) return;
    const cond = gate.on === undefined ? `whether it is on is unknown (${gate.why})` : gate.why;
    if (d.url) pushUrl(push, gate.on === undefined ? gate.at : d.written ? d.at : gate.at, d.url, `${subject}: ${what}; ${cond}${d.written ? `; to ${d.why}` : ''}`);
    else push(d.at, d.at.keyPath, `${subject}: ${what}; ${cond}; where it goes is unknown: ${d.why} (${SOURCE})`, true);
  };
  const comUrl = dest('grafana_com.url', 'https://grafana.com');
  const api = get('grafana_com.api_url').v ? dest('grafana_com.api_url') : comUrl.url ? { ...comUrl, url: `${comUrl.url.replace(/\/+$/, '')}/api` } : comUrl;
  report('usage statistics sent every 24 hours to stats.grafana.org', bool('analytics.reporting_enabled', true), { url: 'https://stats.grafana.org', why: '', at: anchor, written: false });
  // The version check: pkg/services/updatechecker/grafana.go GETs https://grafana.com/api/grafana/versions/stable;
  // releases whose conf/defaults.ini says so (10.x) GET https://raw.githubusercontent.com/grafana/grafana/main/latest.json.
  report('the Grafana version check (GET /api/grafana/versions/stable on grafana.com; releases whose conf/defaults.ini says so GET raw.githubusercontent.com/grafana/grafana/main/latest.json instead)', bool('analytics.check_for_updates', true), { url: 'https://grafana.com', why: '', at: anchor, written: false });
  report('the plugin update check (the [grafana_com] API)', bool('analytics.check_for_plugin_updates', true), api);
  report('plugin signature public keys fetched every 10 days (the [grafana_com] API)', bool('plugins.public_key_retrieval_disabled', false), api, false);
  report('external dashboard snapshots, sent when a user publishes one', bool('snapshots.external_enabled', true), dest('snapshots.external_snapshot_url', 'https://snapshots.raintank.io'));
  for (const [p, defaults] of Object.entries(OAUTH_DEFAULTS)) {
    const gate = bool(`auth.${p}.enabled`, false);
    if (gate.on === false) continue;
    for (const k of ['auth_url', 'token_url', 'api_url']) {
      const d = dest(`auth.${p}.${k}`, defaults[k]);
      // A URL written is found as written; a default or an unknown one is what this adds.
      if (d.written) continue;
      const tenant = TENANT_HOSTED[p];
      if (tenant && !get(`auth.${p}.${k}`).v) {
        const cond = gate.on === undefined ? `whether it is on is unknown (${gate.why})` : gate.why;
        push(gate.at, `[auth.${p}] ${k}`, `${subject}: [auth.${p}] ${k} (OAuth login) is not written; its default, ${tenant}…, names the tenant in the host: unknown destination, write the URL or declare it; ${cond} (${SOURCE})`, true);
        continue;
      }
      if (!d.url && !get(`auth.${p}.${k}`).v && !defaults[k]) continue;
      report(`[auth.${p}] ${k} (OAuth login${p === 'azuread' ? '; the tenant is in the default URL\'s path, https://login.microsoftonline.com/<tenant-id>/oauth2/v2.0/…' : ''})`, gate, d);
    }
  }
  if (bool('auth.grafana_com.enabled', false).on !== false) report('[auth.grafana_com] OAuth login at grafana.com', bool('auth.grafana_com.enabled', false), comUrl);
  // A remote database, SMTP server, remote cache or image store: their hosts as set; unknown ones named.
  const type = get('database.type');
  const dbType = type.v && 'value' in type.v ? type.v.value.toLowerCase() : undefined;
  if (dbType === 'mysql' || dbType === 'postgres' || (type.v && !('value' in type.v))) {
    const url = get('database.url');
    const host = get('database.host');
    const unknownOne = [url, host].find((r) => r.v && !('value' in r.v));
    if (unknownOne && !(url.v && 'value' in url.v && url.v.value)) push(unknownOne.v!.at, unknownOne.v!.at.keyPath, `${subject}: the database Grafana connects to (${dbType ?? 'type unknown'}): ${(unknownOne.v as { unknown: string }).unknown} (${SOURCE})`, true);
    else if (host.v && 'value' in host.v && !(url.v && 'value' in url.v && url.v.value)) pushHost(push, host.v.at, host.v.value, `${subject}: the ${dbType ?? 'unknown-type'} database Grafana connects to ([database] host)`);
  }
  const smtp = bool('smtp.enabled', false);
  if (smtp.on !== false) {
    const host = get('smtp.host');
    if (host.v && !('value' in host.v)) push(host.v.at, host.v.at.keyPath, `${subject}: the SMTP server Grafana sends mail through; ${smtp.why}; ${host.v.unknown} (${SOURCE})`, true);
    else if (host.v && 'value' in host.v) pushHost(push, host.v.at, host.v.value, `${subject}: the SMTP server Grafana sends mail through ([smtp] host; ${smtp.why})`);
  }
  const cache = get('remote_cache.type');
  const cacheType = cache.v && 'value' in cache.v ? cache.v.value.toLowerCase() : undefined;
  if (cacheType === 'redis' || cacheType === 'memcached') {
    const conn = get('remote_cache.connstr');
    if (conn.v && !('value' in conn.v)) push(conn.v.at, conn.v.at.keyPath, `${subject}: the ${cacheType} remote cache: ${conn.v.unknown} (${SOURCE})`, true);
    else if (conn.v && 'value' in conn.v) {
      const addr = cacheType === 'redis' ? /(?:^|,)\s*addr=([^,\s]+)/.exec(conn.v.value)?.[1] : conn.v.value.split(/[\s,;]+/)[0];
      if (addr) pushHost(push, conn.v.at, addr, `${subject}: the ${cacheType} remote cache ([remote_cache] connstr)`);
    }
  }
  const provider = get('external_image_storage.provider');
  const store = provider.v && 'value' in provider.v ? provider.v.value.toLowerCase() : undefined;
  const storeAt = provider.v?.at ?? anchor;
  const what = `${subject}: alert and share images uploaded to the external image store ([external_image_storage] provider = ${store ?? '?'})`;
  if (provider.v && !('value' in provider.v)) push(storeAt, storeAt.keyPath, `${subject}: the external image store: ${provider.v.unknown} (${SOURCE})`, true);
  else if (store === 's3') {
    const [bucketUrl, endpoint, region] = ['bucket_url', 'endpoint', 'region'].map((k) => get(`external_image_storage.s3.${k}`));
    const written = [bucketUrl, endpoint].some((r) => r.v && 'value' in r.v && r.v.value);
    const unknown = [bucketUrl, endpoint, region].find((r) => r.v && !('value' in r.v));
    if (!written && unknown) push(unknown.v!.at, unknown.v!.at.keyPath, `${what}: ${(unknown.v as { unknown: string }).unknown} (${SOURCE})`, true);
    else if (!written) {
      const r = region.v && 'value' in region.v ? region.v.value : '';
      if (/^[a-z]{2}(?:-[a-z]+)+-\d$/.test(r)) push(region.v!.at, `https://s3.${r}.amazonaws.com`, `${what}: AWS S3 in region ${r}, no endpoint or bucket_url written (${SOURCE})`);
      else push(storeAt, '[external_image_storage.s3] region', `${what}: AWS S3 in a region ${r ? `"${clip(r)}" that is no AWS region` : 'not written'}: unknown destination here, declare it (${SOURCE})`, true);
    }
  } else if (store === 'gcs') push(storeAt, 'https://storage.googleapis.com', `${what}: Google Cloud Storage (${SOURCE})`);
  else if (store === 'azure_blob') {
    const account = get('external_image_storage.azure_blob.account_name');
    if (account.v && 'value' in account.v && /^[a-z0-9]{3,24}$/.test(account.v.value)) push(account.v.at, `https://${account.v.value}.blob.core.windows.net`, `${what}: Azure Blob storage of account ${account.v.value} (${SOURCE})`);
    else push(account.v?.at ?? storeAt, '[external_image_storage.azure_blob] account_name', `${what}: Azure Blob storage of an account ${account.v && !('value' in account.v) ? account.v.unknown : 'not read here'}: unknown destination here (${SOURCE})`, true);
  }
  writtenEgress(get, anchor, subject, push);
}

/**
 * Settings that name a destination as written (a URL, or `host:port`): the remote image renderer
 * Grafana calls (`[rendering] server_url`) and the Grafana URL that renderer calls back
 * (`callback_url`); the trace exporters (`[tracing.opentelemetry.otlp] address`, gRPC `host:port`;
 * `[tracing.opentelemetry.jaeger] address`, a URL; `[tracing.jaeger] address`, the agent's
 * `host:port`); Grafana Live's HA engine (`[live] ha_engine = redis`, `ha_engine_address`, default
 * 127.0.0.1:6379). Empty by default in conf/defaults.ini (nothing goes out), so only a written or
 * unknown value is reported. Source: conf/defaults.ini [rendering], [tracing.*], [live];
 * grafana.com/docs/grafana/latest/setup-grafana/image-rendering ("remote rendering service").
 */
const WRITTEN_DESTINATIONS: Array<[key: string, what: string]> = [
  ['rendering.server_url', 'the remote image renderer Grafana sends render requests to ([rendering] server_url)'],
  ['rendering.callback_url', 'the Grafana URL the remote image renderer calls back ([rendering] callback_url)'],
  ['tracing.opentelemetry.otlp.address', 'the OTLP (gRPC) collector Grafana exports its traces to ([tracing.opentelemetry.otlp] address)'],
  ['tracing.opentelemetry.jaeger.address', 'the Jaeger collector Grafana exports its traces to ([tracing.opentelemetry.jaeger] address)'],
  ['tracing.jaeger.address', 'the Jaeger agent Grafana sends its traces to ([tracing.jaeger] address)'],
];

/** The settings of WRITTEN_DESTINATIONS, Live's redis HA engine and the news feed (see egressOf). */
function writtenEgress(get: (key: string) => { v?: Value; unseen?: string }, anchor: Place, subject: string, push: (at: Place, value: string, note: string, unknown?: boolean) => void): void {
  const asWritten = (key: string, what: string) => {
    const r = get(key);
    if (!r.v) return;
    if (!('value' in r.v)) return push(r.v.at, r.v.at.keyPath, `${subject}: ${what}: ${r.v.unknown} (${SOURCE})`, true);
    const v = r.v.value;
    const unless = r.unseen ? `, unless ${r.unseen} sets ${envName(key)}` : '';
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(v)) pushUrl(push, r.v.at, v, `${subject}: ${what}${unless}`);
    else if (v) pushHost(push, r.v.at, v, `${subject}: ${what}${unless}`);
  };
  for (const [key, what] of WRITTEN_DESTINATIONS) asWritten(key, what);
  const engine = get('live.ha_engine').v;
  if (engine && (!('value' in engine) || engine.value.toLowerCase() === 'redis')) asWritten('live.ha_engine_address', `the redis server of Grafana Live's HA engine ([live] ha_engine_address; ha_engine is ${'value' in engine ? engine.value : 'unknown'})`);
  // The news feed: the users' browsers fetch it, not the server. [news] news_feed_enabled's default differs between
  // releases (false in 10.0's conf/defaults.ini, which names the feed https://grafana.com/blog/news.xml): unset is unknown.
  const on = get('news.news_feed_enabled');
  const feed = get('news.news_feed_url');
  const onText = on.v && 'value' in on.v ? on.v.value.toLowerCase() : undefined;
  if (onText === 'false' || onText === '0' || onText === 'f') return;
  const known = onText === 'true' || onText === '1' || onText === 't';
  const cond = known
    ? `[news] news_feed_enabled = ${on.v && 'value' in on.v ? on.v.value : ''} (${on.v!.at.file}:${on.v!.at.line})`
    : on.v && !('value' in on.v)
      ? `whether it is on is unknown: ${on.v.unknown}`
      : `whether it is on is unknown: ${envName('news.news_feed_enabled')} and [news] news_feed_enabled are not set here${on.unseen ? `, though ${on.unseen} may set it` : ''}, and the default differs between Grafana releases`;
  const at = known || (on.v && !('value' in on.v)) ? on.v!.at : anchor;
  if (feed.v && !('value' in feed.v)) return push(feed.v.at, feed.v.at.keyPath, `${subject}: the news feed, fetched by the users' browsers; ${cond}; ${feed.v.unknown} (${SOURCE})`, true);
  const url = feed.v && 'value' in feed.v && feed.v.value ? feed.v.value : 'https://grafana.com/blog/news.xml';
  pushUrl(push, feed.v && 'value' in feed.v && feed.v.value ? feed.v.at : at, url, `${subject}: the news feed (${url === 'https://grafana.com/blog/news.xml' ? '[news] news_feed_url defaults to it' : '[news] news_feed_url'}), fetched by the users' browsers, not the server; ${cond}`);
}

/** `host[:port]` as a host finding, unless it is this machine's or a socket path. */
function pushHost(push: (at: Place, value: string, note: string, unknown?: boolean) => void, at: Place, raw: string, note: string, source = SOURCE): void {
  const t = raw.trim();
  const host = /^\[[^\]]+\](?::\d+)?$/.test(t) ? t.replace(/^\[([^\]]+)\](?::\d+)?$/, '$1') : isIP(t) === 6 ? t : t.replace(/:\d+$/, '');
  if (!host || host.startsWith('/') || /^(?:localhost|127\.\d+\.\d+\.\d+|::1)$/i.test(host)) return;
  // A value that is no host name (`...`, `a b`, control characters) is not reported as one: where it goes is unknown.
  if (!isHostName(host)) return push(at, at.keyPath, `${note}; ${JSON.stringify(clip(raw))} is no host name: where it goes is unknown (${source})`, true);
  push(at, host, `${note} (${source})`);
}

/** A Grafana container's env: its GF_ settings, what is unknown, and its grafana.ini path (GF_PATHS_CONFIG). */
function containerEnv(c: Obj, file: string, place: (at: Array<string | number>) => Place, at: Array<string | number>): Layer {
  const settings = new Map<string, Value>();
  const env = Array.isArray(c.env) ? c.env : [];
  env.forEach((e, i) => {
    if (!isObj(e) || typeof e.name !== 'string') return;
    const key = ENV_KEYS.get(e.name);
    if (!key) return;
    const p = { ...place([...at, 'env', i, 'value']), keyPath: `env ${e.name}` };
    const v = scalarText(e.value);
    if (v !== undefined) return void settings.set(key, valueAt(v, p, e.name));
    const from = isObj(e.valueFrom) ? e.valueFrom : {};
    const ref = (isObj(from.secretKeyRef) && ['Secret', from.secretKeyRef]) || (isObj(from.configMapKeyRef) && ['ConfigMap', from.configMapKeyRef]) || undefined;
    const r = ref ? (ref[1] as Obj) : undefined;
    settings.set(key, { unknown: `${e.name} comes from ${ref ? `${ref[0]} ${clip(scalarText(r!.name) ?? '?')} key ${clip(scalarText(r!.key) ?? '?')}` : 'valueFrom'}, not read here: unknown`, at: { ...place([...at, 'env', i]), keyPath: `env ${e.name}` } });
  });
  const from = (Array.isArray(c.envFrom) ? c.envFrom : []).flatMap((f) => {
    if (!isObj(f)) return [];
    const s = isObj(f.secretRef) ? `Secret ${clip(scalarText(f.secretRef.name) ?? '?')}` : isObj(f.configMapRef) ? `ConfigMap ${clip(scalarText(f.configMapRef.name) ?? '?')}` : undefined;
    return s ? [`${s}${scalarText(f.prefix) ? ` (prefix ${clip(scalarText(f.prefix)!)})` : ''}`] : [];
  });
  void file;
  return { settings, ...(from.length ? { anyFrom: `the container's envFrom ${from.slice(0, 3).join(', ')}` } : {}) };
}

/** A ConfigMap's `.ini` data key (a candidate grafana.ini), its settings kept. */
interface IniKey {
  namespace?: string;
  name: string;
  key: string;
  file: string;
  line: number;
  settings: Map<string, Value>;
  usedBy: number;
}

/** A Grafana container, to be evaluated once the scan's ConfigMaps are known. */
interface GrafanaContainer {
  file: string;
  namespace?: string;
  subject: string;
  anchor: Place;
  env: Layer;
  /** GF_PATHS_CONFIG's value, if written; undefined: the image's /etc/grafana/grafana.ini. */
  configPath?: string;
  mounts: Array<{ mountPath: string; subPath?: string; source: { kind: 'configMap' | 'secret' | 'other'; name?: string; items?: Array<{ key: string; path: string }> } }>;
}

/** What a scan collects for Grafana before the end (ConfigMaps and containers may be in any file). */
export interface GrafanaCollected {
  containers: GrafanaContainer[];
  iniKeys: IniKey[];
  /** Compose services running a Grafana image, evaluated with the grafana.ini file they mount. */
  services: ComposeGrafana[];
  /** The scan's grafana.ini files by path (a Compose service may mount one); the rest are read alone. */
  iniFiles: Map<string, { settings: Map<string, Value>; usedBy: number }>;
  /** Values maps and grafana.ini files are evaluated at once; their findings wait here. */
  refs: Reference[];
  over: boolean;
  /** Where a bound fell (configurations, data sources, nesting): each an unknown finding, so --fail-on fails on it. */
  cuts: Array<{ at: Place; why: string }>;
  cutKeys: Set<string>;
}

/** A bound that fell, said once for each place and reason (the first 256 of a scan). */
function cutAt(g: GrafanaCollected, at: Place, why: string): void {
  const k = `${at.file}\n${why}`;
  if (g.cuts.length < 256 && !g.cutKeys.has(k)) {
    g.cutKeys.add(k);
    g.cuts.push({ at, why });
  }
}

export const newGrafanaCollected = (): GrafanaCollected => ({ containers: [], iniKeys: [], services: [], iniFiles: new Map(), refs: [], over: false, cuts: [], cutKeys: new Set() });

/** A Compose service running Grafana: its `environment:` GF_ settings and the grafana.ini path it bind-mounts. */
interface ComposeGrafana {
  subject: string;
  anchor: Place;
  env: Layer;
  /** The mounted grafana.ini as a path of the scan (the Compose file's directory joined), or why it is not read. */
  ini?: { file: string } | { unknown: string };
}

const pushTo = (refs: Reference[]) => (at: Place, value: string, note: string, unknown?: boolean) =>
  void refs.push({ file: at.file, line: at.line, keyPath: at.keyPath, kind: unknown ? 'host' : /^[a-z]+:\/\//i.test(value) ? 'url' : 'host', value, implied: { note, ...(unknown ? { unknown: true as const } : {}) } });

/**
 * A grafana.ini file of the scan: kept for a Compose service that mounts it (applyGrafana); without
 * a collection (or past the cap), read alone at once, env unseen.
 */
export function grafanaIniFile(rel: string, text: string, refs: Reference[], g?: GrafanaCollected): void {
  if (path.posix.basename(rel) !== 'grafana.ini') return;
  const settings = grafanaIniSettings(text, rel);
  if (g && g.iniFiles.size < MAX_GRAFANA_CONFIGS) return void g.iniFiles.set(rel, { settings, usedBy: 0 });
  const found: Reference[] = [];
  iniAlone(rel, settings, pushTo(found));
  mergeFindings(found, refs);
}

const iniAlone = (rel: string, settings: Map<string, Value>, push: ReturnType<typeof pushTo>) =>
  egressOf([{ settings, anyFrom: 'a GF_ environment variable of the process reading it' }], { file: rel, line: 1, keyPath: '(grafana.ini)' }, `Grafana (${rel})`, push);

/** Collects a YAML document's Grafana containers, `.ini` ConfigMap keys and Helm values `grafana.ini` maps. */
export function collectGrafana(g: GrafanaCollected, file: string, doc: Document, text: string, lineOf: (n: Node | null | undefined) => number): void {
  const json = mentioningJson(doc, text, /grafana|\.ini|datasources/i);
  if (!json) return;
  const nodeAt = placeIn(doc);
  const place = (at: Array<string | number>, keyPath = joinPath(at)): Place => ({ file, line: lineOf(nodeAt(at) ?? (doc.contents as Node)), keyPath });
  const meta = isObj(json.metadata) ? json.metadata : {};
  const namespace = scalarText(meta.namespace) || undefined;
  if (json.kind === 'ConfigMap' && isObj(json.data)) {
    const dataNode = doc.getIn(['data'], true);
    // The data's pairs by key, made once (a search of the map for each key was quadratic).
    const pairs = new Map<unknown, { key: unknown; value?: unknown }>();
    if (isMap(dataNode)) for (const p of dataNode.items) if (isScalar(p.key) && !pairs.has(p.key.value)) pairs.set(p.key.value, p);
    for (const [key, v] of Object.entries(json.data)) {
      if (/\.ya?ml$/i.test(key) && typeof v === 'string' && /^\s*datasources\s*:/m.test(v)) {
        const pair = pairs.get(key);
        const valueNode = pair?.value as (Node & { type?: string }) | undefined;
        const literal = isScalar(valueNode) && (valueNode.type === 'BLOCK_LITERAL' || valueNode.type === 'BLOCK_FOLDED');
        embeddedDatasources(g, file, v, literal ? lineOf(valueNode) + 1 : undefined, lineOf(pair?.key as Node), `data.${key}`, `ConfigMap ${clip(scalarText(meta.name) ?? '?')} key ${clip(key)}`);
        continue;
      }
      if (!key.endsWith('.ini') || typeof v !== 'string') continue;
      const pair = pairs.get(key);
      if (g.iniKeys.length >= MAX_GRAFANA_CONFIGS) return void cutAt(g, { file, line: lineOf(pair?.key as Node), keyPath: `data.${key}` }, `more than ${MAX_GRAFANA_CONFIGS} .ini ConfigMap keys in this scan: this one and those after it are not read as grafana.ini (what they set is unknown)`);
      const valueNode = pair?.value as (Node & { type?: string }) | undefined;
      const first = lineOf(valueNode) + (isScalar(valueNode) && (valueNode.type === 'BLOCK_LITERAL' || valueNode.type === 'BLOCK_FOLDED') ? 1 : 0);
      g.iniKeys.push({ ...(namespace ? { namespace } : {}), name: scalarText(meta.name) ?? '?', key, file, line: lineOf(pair?.key as Node), settings: grafanaIniSettings(v, file, first), usedBy: 0 });
    }
    return;
  }
  walkPodSpecs(json, [], undefined, (spec, parent, specPath) => {
    const volumes = new Map<string, GrafanaContainer['mounts'][number]['source']>();
    for (const v of Array.isArray(spec.volumes) ? spec.volumes : []) {
      if (!isObj(v) || typeof v.name !== 'string') continue;
      const cm = isObj(v.configMap) ? v.configMap : undefined;
      const items = (src: Obj) => (Array.isArray(src.items) ? src.items.flatMap((it) => (isObj(it) && typeof it.key === 'string' && typeof it.path === 'string' ? [{ key: it.key, path: it.path }] : [])) : undefined);
      volumes.set(v.name, cm ? { kind: 'configMap', name: scalarText(cm.name), ...(items(cm) ? { items: items(cm) } : {}) } : isObj(v.secret) ? { kind: 'secret', name: scalarText(v.secret.secretName) } : { kind: 'other' });
    }
    void parent;
    for (const list of CONTAINER_LISTS) {
      const cs = spec[list];
      if (!Array.isArray(cs)) continue;
      cs.forEach((c, i) => {
        if (!isObj(c) || !isGrafanaImage(c.image)) return;
        const at = [...specPath, list, i];
        if (g.containers.length >= MAX_GRAFANA_CONFIGS) return void cutAt(g, place([...at, 'image']), `more than ${MAX_GRAFANA_CONFIGS} Grafana containers in this scan: this one and those after it are not read (their settings and the destinations they decide are unknown)`);
        const env = containerEnv(c, file, (p) => place(p), at);
        const configPath = env.settings.get('paths.config');
        const mounts = (Array.isArray(c.volumeMounts) ? c.volumeMounts : []).flatMap((m) => {
          if (!isObj(m) || typeof m.name !== 'string' || typeof m.mountPath !== 'string') return [];
          const source = volumes.get(m.name) ?? { kind: 'other' as const };
          return [{ mountPath: m.mountPath.replace(/\/+$/, ''), ...(typeof m.subPath === 'string' && m.subPath ? { subPath: m.subPath } : {}), source }];
        });
        const kind = scalarText(json.kind) ?? 'pod';
        g.containers.push({
          file,
          ...(namespace ? { namespace } : {}),
          subject: `Grafana container ${clip(scalarText(c.name) ?? '?')} of ${clip(kind)} ${clip(scalarText(meta.name) ?? '?')}`,
          anchor: place([...at, 'image']),
          env,
          ...(configPath && 'value' in configPath ? { configPath: configPath.value } : {}),
          mounts,
        });
      });
    }
  });
  if (isObj(json.services)) composeServices(g, file, json.services, place);
  valuesMaps(g, json, place);
  provisionedDatasources(g, json, place, file);
}

/**
 * Compose services whose image is Grafana's: `environment:` (a map or `KEY=value` items) read for
 * GF_ settings, and a bind mount at its config path (`./grafana.ini:/etc/grafana/grafana.ini`, or a
 * directory holding it) tied to that grafana.ini file of the scan, relative to the Compose file's
 * directory. An absolute host path, a named volume or an `env_file:` is named, not read.
 */
function composeServices(g: GrafanaCollected, file: string, services: Obj, place: (at: Array<string | number>, keyPath?: string) => Place): void {
  for (const [name, svc] of Object.entries(services)) {
    if (!isObj(svc) || !isGrafanaImage(svc.image)) continue;
    const at = ['services', name];
    if (g.services.length >= MAX_GRAFANA_CONFIGS) return void cutAt(g, place([...at, 'image'], `services.${name}.image`), `more than ${MAX_GRAFANA_CONFIGS} Compose services running Grafana in this scan: this one and those after it are not read (the destinations their settings decide are unknown)`);
    const settings = new Map<string, Value>();
    const setEnv = (k: string, v: unknown, p: Array<string | number>) => {
      const key = ENV_KEYS.get(k.trim());
      if (!key) return;
      const s = v === null || v === undefined ? undefined : scalarText(v);
      const where = place(p, `services.${name}.environment.${k.trim()}`);
      const interpolated = s === undefined ? undefined : /\$(?:\{[^}]*\}|[A-Za-z_][A-Za-z0-9_]*)/.exec(s)?.[0];
      settings.set(
        key,
        s === undefined
          ? { unknown: `${k.trim()} is passed from the shell running Compose (no value written): unknown`, at: where }
          : interpolated
            ? { unknown: `${k.trim()} is ${clip(s)}, which Compose fills in (${clip(interpolated)}) from the shell or .env: unknown here`, at: where }
            : valueAt(s, where, k.trim()),
      );
    };
    const env = svc.environment;
    if (isObj(env)) for (const [k, v] of Object.entries(env)) setEnv(k, v, [...at, 'environment', k]);
    else if (Array.isArray(env)) {
      if (env.length > 4096) cutAt(g, place([...at, 'environment', 4096], `services.${name}.environment[4096]`), `more than 4096 environment: items: those past them are not read (a GF_ setting among them is unknown here)`);
      env.slice(0, 4096).forEach((item, i) => {
        if (typeof item !== 'string') return;
        const eq = item.indexOf('=');
        setEnv(eq < 0 ? item : item.slice(0, eq), eq < 0 ? undefined : item.slice(eq + 1), [...at, 'environment', i]);
      });
    }
    const envFiles = svc.env_file === undefined ? [] : Array.isArray(svc.env_file) ? svc.env_file : [svc.env_file];
    const configPath = (() => {
      const c = settings.get('paths.config');
      return (c && 'value' in c ? c.value : '/etc/grafana/grafana.ini').replace(/\/+$/, '');
    })();
    let ini: ComposeGrafana['ini'];
    if (Array.isArray(svc.volumes) && svc.volumes.length > 1024) cutAt(g, place([...at, 'volumes', 1024], `services.${name}.volumes[1024]`), `more than 1024 volumes: those past them are not read (a grafana.ini mounted by one of them is unknown here)`);
    for (const v of Array.isArray(svc.volumes) ? svc.volumes.slice(0, 1024) : []) {
      let source: string | undefined;
      let target: string | undefined;
      if (typeof v === 'string') {
        const parts = v.split(':');
        if (parts.length < 2) continue;
        [source, target] = parts;
      } else if (isObj(v)) {
        source = scalarText(v.source);
        target = scalarText(v.target);
      }
      if (!source || !target) continue;
      target = target.replace(/\/+$/, '');
      const rest = target === configPath ? '' : configPath.startsWith(`${target}/`) ? configPath.slice(target.length + 1) : undefined;
      if (rest === undefined) continue;
      if (source.startsWith('.') || (!source.startsWith('/') && !source.startsWith('~') && source.includes('/'))) {
        const rel = path.posix.normalize(path.posix.join(path.posix.dirname(file), source, rest));
        ini = rel.startsWith('../') ? { unknown: `its grafana.ini (${configPath}) is mounted from ${clip(source)}, outside the scanned tree: not read` } : { file: rel };
      } else ini = { unknown: `its grafana.ini (${configPath}) is mounted from ${source.startsWith('/') || source.startsWith('~') ? `the host path ${clip(source)}` : `the volume ${clip(source)}`}, not read here` };
    }
    const anyFrom = envFiles.length ? `the service's env_file ${clip(envFiles.map((f) => scalarText(isObj(f) ? f.path : f) ?? '?').join(', '))}` : undefined;
    g.services.push({ subject: `Grafana (Compose service ${clip(name)})`, anchor: place([...at, 'image'], `services.${name}.image`), env: { settings, ...(anyFrom ? { anyFrom } : {}) }, ...(ini ? { ini } : {}) });
  }
}

/**
 * Grafana data source provisioning (grafana.com/docs/grafana/latest/administration/provisioning,
 * "Data sources"): a map with `apiVersion` and a `datasources:` list, wherever it sits in a document
 * (a provisioning file, the grafana chart's `datasources: {datasources.yaml: {...}}` values, a
 * sidecar ConfigMap key: embeddedDatasources). Each item's `url` is where Grafana's server connects
 * (`access: proxy`, the default) or the users' browsers (`access: direct`); a `host:port` without a
 * scheme (the SQL data sources) is a host; `$VAR`/`${VAR}` is expanded by Grafana from its
 * environment when it provisions (same page, "Using environment variables"): unknown, named.
 * `jsonData` fields are not URLs Grafana connects to (`tracesToLogsV2.datasourceUid` names another
 * data source, `httpHeaderName1` a header): only `url` is read; a type whose endpoint is implied
 * (CloudWatch, Azure Monitor, Google Cloud Monitoring without `url`) is not read (README Known limits).
 */
function provisionedDatasources(g: GrafanaCollected, json: Obj, place: (at: Array<string | number>, keyPath?: string) => Place, file: string, subjectOf = (at: Array<string | number>) => `${file}${at.length ? ` ${joinPath(at)}` : ''}`): void {
  let budget = MAX_WALK_NODES;
  const push = pushTo(g.refs);
  const walk = (node: unknown, at: Array<string | number>) => {
    if (budget < 0) return;
    if (--budget < 0 || at.length > MAX_WALK_DEPTH) return void walkCut(g, place(at), budget < 0, 'Grafana data source provisioning');
    if (Array.isArray(node)) return node.forEach((x, i) => walk(x, [...at, i]));
    if (!isObj(node)) return;
    if ('apiVersion' in node && Array.isArray(node.datasources)) {
      if (node.datasources.length > MAX_DATASOURCES) cutAt(g, place([...at, 'datasources', MAX_DATASOURCES]), `more than ${MAX_DATASOURCES} data sources in one list: those past them are not read (where they connect is unknown)`);
      node.datasources.slice(0, MAX_DATASOURCES).forEach((ds, i) => {
        if (!isObj(ds)) return;
        if (g.refs.length >= MAX_GRAFANA_CONFIGS * 16) return void cutAt(g, place([...at, 'datasources', i]), `more than ${MAX_GRAFANA_CONFIGS * 16} Grafana findings in this scan: this data source and those after it are not read (where they connect is unknown)`);
        const url = scalarText(ds.url);
        if (!url) return void impliedDatasource(ds, push, place([...at, 'datasources', i, 'type']), `Grafana data source "${clip(scalarText(ds.name) ?? '?')}" (type ${clip(scalarText(ds.type) ?? '?')}, ${subjectOf(at)})`);
        const p = [...at, 'datasources', i, 'url'];
        const where = place(p);
        const name = clip(scalarText(ds.name) ?? '?');
        const who = scalarText(ds.access)?.toLowerCase() === 'direct' ? "the users' browsers connect to it directly (access: direct)" : 'the Grafana server connects to it (access: proxy)';
        const what = `Grafana data source "${name}" (type ${clip(scalarText(ds.type) ?? '?')}, ${subjectOf(at)}): ${who}`;
        const note = `${what} (${PROVISIONING})`;
        const variable = /\$(?:\{[^}]*\}|[A-Za-z_][A-Za-z0-9_]*)/.exec(url)?.[0];
        if (variable) push(where, where.keyPath, `${note}; its url is ${clip(url)}: Grafana fills in ${clip(variable)} from its environment when it provisions the data source, unknown here`, true);
        else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) pushUrl(push, where, url, what, PROVISIONING);
        else pushHost(push, where, url.split('/')[0], what, PROVISIONING);
      });
    }
    for (const [k, v] of Object.entries(node)) if (typeof v === 'object' && v !== null) walk(v, [...at, k]);
  };
  walk(json, []);
}

const CLOUDWATCH = 'grafana.com/docs/plugins/cloudwatch/latest/configure (jsonData.defaultRegion, endpoint; the AWS SDK\'s regional endpoints)';
const AZURE_MONITOR = 'grafana/grafana pkg/tsdb/azuremonitor/routes.go and azmoncredentials (jsonData.cloudName; Entra ID tokens from the cloud\'s login host)';
const GOOGLE_MONITORING = 'grafana/grafana pkg/tsdb/cloud-monitoring/httpclient.go (monitoring. and cloudresourcemanager. + jsonData.universeDomain, default googleapis.com; a JWT key\'s tokenUri)';
/** Azure Monitor's `jsonData.cloudName` → the Azure Resource Manager, Log Analytics and Entra ID hosts of that cloud (routes.go). */
const AZURE_CLOUDS = new Map<string, string[]>([
  ['azuremonitor', ['https://management.azure.com', 'https://api.loganalytics.io', 'https://login.microsoftonline.com']],
  ['govazuremonitor', ['https://management.usgovcloudapi.net', 'https://api.loganalytics.us', 'https://login.microsoftonline.us']],
  ['chinaazuremonitor', ['https://management.chinacloudapi.cn', 'https://api.loganalytics.azure.cn', 'https://login.chinacloudapi.cn']],
  ['germanyazuremonitor', ['https://management.microsoftazure.de', 'https://login.microsoftonline.de']],
]);
/** An AWS region name as the SDK takes it (`eu-west-2`, `us-gov-west-1`, `cn-north-1`). */
const AWS_REGION = /^[a-z]{2}(?:-[a-z]+)+-\d{1,2}$/;

/**
 * A provisioned data source without `url` whose type has the cloud API it calls built in (README
 * Audit, "Grafana"): CloudWatch (the region's monitoring and logs endpoints, or `jsonData.endpoint`),
 * Azure Monitor (its cloud's hosts by `jsonData.cloudName`) and Google Cloud Monitoring
 * (`jsonData.universeDomain`, the JWT's token URI). What the file does not settle (an AWS region
 * from Grafana's environment, a customised Azure cloud) is a finding with host unknown; another type
 * without `url` is not reported (its endpoint is not known here).
 */
function impliedDatasource(ds: Obj, push: (at: Place, value: string, note: string, unknown?: boolean) => void, where: Place, what: string): void {
  const type = scalarText(ds.type)?.toLowerCase();
  const json = isObj(ds.jsonData) ? ds.jsonData : {};
  const text = (k: string) => {
    const v = scalarText(json[k]);
    return v && !expanded(v) && !/^\$[A-Za-z_]/.test(v) ? v : undefined;
  };
  const unknown = (why: string, source: string) => push(where, where.keyPath, `${what}: ${why}, unknown here (${source})`, true);
  if (type === 'cloudwatch') {
    const endpoint = text('endpoint');
    if (endpoint && /^[a-z][a-z0-9+.-]*:\/\//i.test(endpoint)) return pushUrl(push, where, endpoint, `${what}: the Grafana server calls the CloudWatch API at its jsonData.endpoint`, CLOUDWATCH);
    const region = text('defaultRegion');
    if (!region || region === 'default' || !AWS_REGION.test(region)) return unknown(`the Grafana server calls CloudWatch and CloudWatch Logs in ${region ? `the region "${clip(region)}"` : 'the default region'} of its AWS environment (AWS_REGION, ~/.aws/config)`, CLOUDWATCH);
    const domain = region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com';
    for (const svc of ['monitoring', 'logs']) push(where, `https://${svc}.${region}.${domain}`, `${what}: the Grafana server calls the CloudWatch ${svc === 'logs' ? 'Logs ' : ''}API of ${region} (the query editor also lists EC2 and tag APIs of the region; an assumed role calls STS) (${CLOUDWATCH})`);
    return;
  }
  if (type === 'grafana-azure-monitor-datasource') {
    const cloud = (text('cloudName') ?? text('azureCloud') ?? 'azuremonitor').toLowerCase();
    const hosts = AZURE_CLOUDS.get(cloud);
    if (!hosts) return unknown(`the Grafana server calls the Azure cloud "${clip(text('cloudName') ?? text('azureCloud') ?? '')}" (a customised cloud's hosts are in Grafana's settings)`, AZURE_MONITOR);
    const given = text('cloudName') ?? text('azureCloud');
    for (const h of hosts) push(where, h, `${what}: the Grafana server calls ${h.includes('login.') ? 'Microsoft Entra ID for its tokens' : h.includes('loganalytics') ? 'Azure Monitor Logs' : 'Azure Resource Manager (metrics, Resource Graph)'} in ${given ? `the cloud ${clip(given)}` : "Azure's public cloud (no cloudName: Grafana's default cloud, unless its [azure] cloud setting names another)"} (${AZURE_MONITOR})`);
    return;
  }
  if (type === 'stackdriver' || type === 'grafana-googlecloudmonitoring-datasource') {
    const domain = text('universeDomain') ?? 'googleapis.com';
    if (!DNS_NAME.test(domain)) return unknown(`the Grafana server calls Google Cloud Monitoring in the universe "${clip(domain)}"`, GOOGLE_MONITORING);
    for (const svc of ['monitoring', 'cloudresourcemanager']) push(where, `https://${svc}.${domain}`, `${what}: the Grafana server calls ${svc === 'monitoring' ? 'the Cloud Monitoring API' : 'the Resource Manager API (its project list)'} (${GOOGLE_MONITORING})`);
    const auth = (text('authenticationType') ?? 'jwt').toLowerCase();
    if (auth === 'jwt') {
      const tokenUri = text('tokenUri') ?? 'https://oauth2.googleapis.com/token';
      if (/^[a-z][a-z0-9+.-]*:\/\//i.test(tokenUri)) pushUrl(push, where, tokenUri, `${what}: the Grafana server gets its tokens there with the service account key`, GOOGLE_MONITORING);
    }
  }
}

/** A ConfigMap key holding a provisioning file as text: parsed (a literal block's lines counted from `firstLine`). */
function embeddedDatasources(g: GrafanaCollected, file: string, text: string, firstLine: number | undefined, keyLine: number, keyPath: string, subject: string): void {
  const lc = new LineCounter();
  if (text.length > 4 * 1024 * 1024) return cutAt(g, { file, line: keyLine, keyPath }, `a data source provisioning file longer than 4 MiB: not read (where its data sources connect is unknown)`);
  const doc = parseHostileDocument(text, { lineCounter: lc, duplicates: 'last-wins' });
  if (doc.errors.length) return;
  const json = (() => {
    try {
      return doc.toJSON() as unknown;
    } catch {
      return undefined;
    }
  })();
  if (!isObj(json)) return;
  const nodeAt = placeIn(doc);
  const place = (at: Array<string | number>): Place => {
    const n = nodeAt(at);
    return { file, line: firstLine !== undefined && n?.range ? firstLine + lc.linePos(n.range[0]).line - 1 : keyLine, keyPath: `${keyPath}.${joinPath(at)}` };
  };
  provisionedDatasources(g, json, place, file, () => subject);
}

function isGrafanaImage(image: unknown): boolean {
  const s = scalarText(image) ?? '';
  const name = (s.split('@')[0].split('/').pop() ?? '').split(':')[0].toLowerCase();
  return name === 'grafana' || name === 'grafana-oss' || name === 'grafana-enterprise';
}

/** Helm values holding `grafana.ini:` as a map (the grafana chart's, or under a parent chart's `grafana:`). */
function valuesMaps(g: GrafanaCollected, json: Obj, place: (at: Array<string | number>, keyPath?: string) => Place): void {
  let budget = MAX_WALK_NODES;
  const walk = (node: unknown, at: Array<string | number>) => {
    if (budget < 0) return;
    if (--budget < 0 || at.length > MAX_WALK_DEPTH) return void walkCut(g, place(at), budget < 0, 'Helm values grafana.ini maps');
    if (Array.isArray(node)) return node.forEach((x, i) => walk(x, [...at, i]));
    if (!isObj(node)) return;
    if (isObj(node['grafana.ini'])) {
      if (g.refs.length >= MAX_GRAFANA_CONFIGS * 16) return void cutAt(g, place([...at, 'grafana.ini']), `more than ${MAX_GRAFANA_CONFIGS * 16} Grafana findings in this scan: this grafana.ini map and those after it are not read (the destinations they decide are unknown)`);
      valuesMap(g, node, at, place);
    }
    for (const [k, v] of Object.entries(node)) if (typeof v === 'object' && v !== null && k !== 'grafana.ini') walk(v, [...at, k]);
  };
  walk(json, []);
}

function valuesMap(g: GrafanaCollected, scope: Obj, at: Array<string | number>, place: (at: Array<string | number>, keyPath?: string) => Place): void {
  const prefix = at.length ? `${at.join('.')}.` : '';
  const ini = new Map<string, Value>();
  for (const [section, keys] of Object.entries(scope['grafana.ini'] as Obj)) {
    if (!isObj(keys)) continue;
    for (const [k, v] of Object.entries(keys)) {
      const key = `${section.toLowerCase()}.${k.toLowerCase()}`;
      const s = scalarText(v);
      if (!KEYS.has(key) || s === undefined) continue;
      ini.set(key, valueAt(s, place([...at, 'grafana.ini', section, k], `${prefix}grafana.ini.${section}.${k}`), `grafana.ini [${section}] ${k}`));
    }
  }
  const env = new Map<string, Value>();
  for (const field of ['env', 'envRenderSecret'] as const) {
    const m = scope[field];
    if (!isObj(m)) continue;
    for (const [name, v] of Object.entries(m)) {
      const key = ENV_KEYS.get(name);
      const s = scalarText(v);
      if (key && s !== undefined) env.set(key, valueAt(s, place([...at, field, name], `${prefix}${field}.${name}`), name));
    }
  }
  if (isObj(scope.envValueFrom))
    for (const name of Object.keys(scope.envValueFrom)) {
      const key = ENV_KEYS.get(name);
      if (key) env.set(key, { unknown: `${name} comes from envValueFrom (a Secret or ConfigMap key), not read here: unknown`, at: place([...at, 'envValueFrom', name], `${prefix}envValueFrom.${name}`) });
    }
  const from = [scalarText(scope.envFromSecret) ? `envFromSecret ${clip(scalarText(scope.envFromSecret)!)}` : '', Array.isArray(scope.envFromSecrets) && scope.envFromSecrets.length ? 'envFromSecrets' : '', Array.isArray(scope.envFromConfigMaps) && scope.envFromConfigMaps.length ? 'envFromConfigMaps' : ''].filter(Boolean);
  const subject = `Grafana (Helm values ${prefix}grafana.ini)`;
  egressOf([{ settings: ini }, { settings: env, ...(from.length ? { anyFrom: `the values' ${from.join(', ')}` } : {}) }], place([...at, 'grafana.ini'], `${prefix}grafana.ini`), subject, pushTo(g.refs));
}

/**
 * The containers evaluated with the grafana.ini each mounts (a ConfigMap key of the scan, matched
 * by name and namespace), then every `.ini` key no container reads that looks like Grafana's (it
 * sets a key of KEYS), read alone. Returns the findings.
 */
export function applyGrafana(g: GrafanaCollected, references: Reference[]): void {
  const refs = [...g.refs];
  const push = pushTo(refs);
  const byName = new Map<string, IniKey[]>();
  for (const k of g.iniKeys) {
    const list = byName.get(k.name) ?? [];
    if (list.length < 64) list.push(k);
    byName.set(k.name, list);
  }
  for (const c of g.containers) {
    const configPath = (c.configPath ?? '/etc/grafana/grafana.ini').replace(/\/+$/, '');
    const layers: Layer[] = [];
    let note = '';
    // The mount giving the config path: the last one wins, as the kubelet stacks them.
    for (const m of c.mounts) {
      let key: string | undefined;
      if (m.subPath !== undefined && m.mountPath === configPath) key = m.source.items ? m.source.items.find((it) => it.path === m.subPath)?.key : m.subPath;
      else if (m.subPath === undefined && configPath.startsWith(`${m.mountPath}/`)) {
        const rest = configPath.slice(m.mountPath.length + 1);
        key = m.source.items ? m.source.items.find((it) => it.path === rest)?.key : rest;
      } else continue;
      layers.length = 0;
      note = '';
      if (m.source.kind !== 'configMap' || !key) {
        note = `its grafana.ini (${configPath}) is mounted from ${m.source.kind === 'secret' ? `Secret ${clip(m.source.name ?? '?')}` : 'a volume'}, not read here`;
        layers.push({ settings: new Map(), anyFrom: note });
        continue;
      }
      const found = (byName.get(m.source.name ?? '') ?? []).filter((k) => k.key === key && (k.namespace === c.namespace || !k.namespace || !c.namespace));
      const exact = found.filter((k) => k.namespace === c.namespace);
      const pick = exact.length === 1 ? exact : found;
      if (pick.length === 1) {
        pick[0].usedBy++;
        layers.push({ settings: pick[0].settings });
      } else {
        note = `its grafana.ini (${configPath}) is ConfigMap ${clip(m.source.name ?? '?')} key ${clip(key)}, ${pick.length ? `which ${pick.length} ConfigMaps of the scan could be` : 'not in the scan'}: not read`;
        for (const k of pick) k.usedBy++;
        layers.push({ settings: new Map(), anyFrom: note });
      }
    }
    layers.push(c.env);
    egressOf(layers, c.anchor, c.subject, push);
  }
  for (const svc of g.services) {
    const ini = svc.ini && 'file' in svc.ini ? g.iniFiles.get(svc.ini.file) : undefined;
    if (ini) ini.usedBy++;
    const note = svc.ini && 'unknown' in svc.ini ? svc.ini.unknown : svc.ini && !ini ? `its grafana.ini (${svc.ini.file}) is not in the scan: not read` : undefined;
    egressOf([ini ? { settings: ini.settings } : { settings: new Map(), ...(note ? { anyFrom: note } : {}) }, svc.env], svc.anchor, svc.subject, push);
  }
  for (const [rel, f] of g.iniFiles) if (!f.usedBy) iniAlone(rel, f.settings, push);
  for (const k of g.iniKeys) {
    if (k.usedBy || k.key !== 'grafana.ini') continue;
    egressOf([{ settings: k.settings, anyFrom: 'the GF_ environment of the container mounting it (none in the scan)' }], { file: k.file, line: k.line, keyPath: `data.${k.key}` }, `Grafana (ConfigMap ${clip(k.name)} key ${clip(k.key)}, mounted by no Grafana container of the scan)`, push);
  }
  for (const c of g.cuts) push(c.at, c.at.keyPath, `Grafana: ${c.why}`, true);
  mergeFindings(refs, references);
}

/**
 * The findings added to `references`, except a host the text patterns already found at the same
 * line (`host = db.corp.example:3306`): that finding is given the note instead (one finding, not two).
 */
function mergeFindings(found: readonly Reference[], references: Reference[]): void {
  const at = new Map<string, Reference[]>();
  const same = (x: Reference, r: Reference) =>
    r.kind === 'host' ? x.kind === 'host' && x.value.replace(/:\d+$/, '').toLowerCase() === r.value.toLowerCase() : x.kind === 'url' && x.value.replace(/\/+$/, '').toLowerCase() === r.value.replace(/\/+$/, '').toLowerCase();
  for (const r of references) {
    if ((r.kind !== 'host' && r.kind !== 'url') || r.implied) continue;
    const k = `${r.file}\n${r.line}`;
    const list = at.get(k) ?? [];
    list.push(r);
    at.set(k, list);
  }
  for (const r of found) {
    const written = (r.kind === 'host' || r.kind === 'url') && !r.implied?.unknown ? at.get(`${r.file}\n${r.line}`)?.find((x) => same(x, r)) : undefined;
    if (written) written.implied = r.implied;
    else references.push(r);
  }
}
