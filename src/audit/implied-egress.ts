import { isMap, isScalar, isSeq, type Document, type Node, type Pair } from 'yaml';
import { CONTAINER_LISTS, walkPodSpecs } from '../kinds/chart/discover/rendered.js';
import type { Reference } from './scan.js';

/**
 * Destinations a deployment's own configuration implies without writing them: a DNS provider
 * named by a flag or a solver key (its cloud API), a notifier or telemetry a product sends to by
 * default, an object store named by its bucket and region. Each host comes from a small table
 * whose source is cited beside its entry; a name the table lacks is a finding with host unknown,
 * saying why, never a guessed host. Only what the scanned document shows is reported (a product's
 * default only where its own config or container is in the file).
 */

/** One cloud API a provider name stands for: its hosts and the document that says so. */
interface CloudApi {
  what: string;
  urls: string[];
  source: string;
}

const AWS_ROUTE53: CloudApi = { what: 'the AWS Route 53 API', urls: ['https://route53.amazonaws.com'], source: 'docs.aws.amazon.com/general/latest/gr/r53.html (aws partition; China and GovCloud differ)' };
const GOOGLE_DNS: CloudApi = { what: 'the Google Cloud DNS API', urls: ['https://dns.googleapis.com'], source: 'cloud.google.com/dns/docs/reference/rest/v1' };
const AZURE_DNS: CloudApi = {
  what: 'Azure Resource Manager and Microsoft Entra ID (tokens)',
  urls: ['https://management.azure.com', 'https://login.microsoftonline.com'],
  source: 'learn.microsoft.com/rest/api/dns (Azure public cloud; sovereign clouds differ)',
};
const CLOUDFLARE: CloudApi = { what: 'the Cloudflare API', urls: ['https://api.cloudflare.com'], source: 'developers.cloudflare.com/api' };
const DIGITALOCEAN: CloudApi = { what: 'the DigitalOcean API', urls: ['https://api.digitalocean.com'], source: 'docs.digitalocean.com/reference/api' };

/** external-dns `--provider=<name>` (kubernetes-sigs/external-dns docs/tutorials/<name>.md): the API it calls. */
const EXTERNAL_DNS_PROVIDERS = new Map<string, CloudApi>([
  ['aws', AWS_ROUTE53],
  ['google', GOOGLE_DNS],
  ['azure', AZURE_DNS],
  ['azure-private-dns', AZURE_DNS],
  ['cloudflare', CLOUDFLARE],
  ['digitalocean', DIGITALOCEAN],
]);

/** cert-manager ACME `dns01.<solver>` (cert-manager.io/docs/configuration/acme/dns01/<solver>): the API it calls. */
const CERT_MANAGER_SOLVERS = new Map<string, CloudApi>([
  ['route53', AWS_ROUTE53],
  ['cloudDNS', GOOGLE_DNS],
  ['azureDNS', AZURE_DNS],
  ['cloudflare', CLOUDFLARE],
  ['digitalocean', DIGITALOCEAN],
]);
/** Solvers whose destination is a field of their own, found by its key (acmeDNS `host`, rfc2136 `nameserver`, akamai `serviceConsumerDomain`); a webhook solver's is another program's: unknown. */
const SOLVER_OWN_DESTINATION = new Set(['acmeDNS', 'rfc2136', 'akamai']);

/**
 * Alertmanager receivers whose API has a default (prometheus.io/docs/alerting/latest/configuration,
 * `global:`): `<type>_configs[]` without its own URL key and without the global one sends there.
 */
const ALERTMANAGER_DEFAULTS: Array<{ configs: string; own: string; global?: string; url: string }> = [
  { configs: 'pagerduty_configs', own: 'url', global: 'pagerduty_url', url: 'https://events.pagerduty.com/v2/enqueue' },
  { configs: 'opsgenie_configs', own: 'api_url', global: 'opsgenie_api_url', url: 'https://api.opsgenie.com/' },
  { configs: 'victorops_configs', own: 'api_url', global: 'victorops_api_url', url: 'https://alert.victorops.com/integrations/generic/20131114/alert/' },
  { configs: 'wechat_configs', own: 'api_url', global: 'wechat_api_url', url: 'https://qyapi.weixin.qq.com/cgi-bin/' },
  { configs: 'telegram_configs', own: 'api_url', global: 'telegram_api_url', url: 'https://api.telegram.org' },
  { configs: 'webex_configs', own: 'api_url', global: 'webex_api_url', url: 'https://webexapis.com/v1/messages' },
];

/** Words a file holds when one of the rules below may apply: other files are not converted to JSON. */
const MENTIONS = /external-dns|dns01|receivers|grafana|gcs|s3|BackupStorageLocation|azure/i;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
/** A value written in the file, cut to 120 characters: notes quote what the (hostile) file says, bounded. */
const clip = (s: string): string => (s.length > 120 ? `${s.slice(0, 120)}…` : s);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() ? clip(v.trim()) : typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined);
export const joinPath = (parts: Array<string | number>) => parts.map((p, i) => (typeof p === 'number' ? `[${p}]` : i ? `.${p}` : p)).join('');

/** At most this many nodes of one document are walked for object-storage maps. */
const MAX_WALK_NODES = 200_000;
const MAX_WALK_DEPTH = 64;

/** Pushes the destinations this document implies (see the module comment). */
export function impliedEgress(file: string, doc: Document, text: string, refs: Reference[], before: number, lineOf: (n: Node | null | undefined) => number): void {
  externalNameService(file, doc, refs, before, lineOf);
  const json = mentioningJson(doc, text, MENTIONS);
  if (!json) return;
  const nodeAt = placeIn(doc);
  const push = (at: Array<string | number>, value: string, implied: string, unknown = false) => {
    const node = nodeAt(at);
    refs.push({ file, line: lineOf(node), keyPath: joinPath(at) || '(top level)', kind: unknown ? 'host' : 'url', value, implied: { note: implied, ...(unknown ? { unknown: true as const } : {}) } });
  };
  const api = (at: Array<string | number>, a: CloudApi, by: string) => {
    for (const url of a.urls) push(at, url, `${by} calls ${a.what} (${a.source})`);
  };
  containers(json, push, api);
  certManagerSolvers(json, push, api);
  alertmanagerDefaults(json, push);
  objectStores(json, push);
}

/** The document as JSON when its own text matches `mentions` (else, or past the aliases the yaml library expands, undefined). */
export function mentioningJson(doc: Document, text: string, mentions: RegExp): Obj | undefined {
  // The document's own text: the file's, tested for each of its documents, was quadratic (100 000 `---` documents: 88 s).
  if (!mentions.test(doc.range ? text.slice(doc.range[0], doc.range[2]) : text)) return undefined;
  try {
    const json: unknown = doc.toJSON();
    return isObj(json) ? json : undefined;
  } catch {
    // more aliases than the yaml library expands: the document's other passes read it as written
    return undefined;
  }
}

/**
 * The node a finding at `at` (a path into the document's JSON) is placed at: a map's entry at its
 * key's line (`route53:`), an item at the item's. Each map's pairs are indexed once (`doc.getIn`
 * and a scan of the parent for each finding were quadratic: 30 000 Alertmanager receivers, 112 s).
 */
export function placeIn(doc: Document): (at: Array<string | number>) => Node | undefined {
  const index = new WeakMap<object, Map<unknown, Pair>>();
  const pairOf = (map: { items: Pair[] }, key: unknown) => {
    let byKey = index.get(map);
    if (!byKey) {
      byKey = new Map();
      for (const p of map.items) if (isScalar(p.key) && !byKey.has(p.key.value)) byKey.set(p.key.value, p);
      index.set(map, byKey);
    }
    return byKey.get(key);
  };
  return (at) => {
    let node: unknown = doc.contents;
    let key: unknown;
    for (const k of at) {
      key = undefined;
      if (isMap(node)) {
        const pair = pairOf(node, k);
        key = pair?.key;
        node = pair?.value;
      } else if (isSeq(node) && typeof k === 'number') node = node.items[k];
      else return undefined;
    }
    return (key ?? node ?? undefined) as Node | undefined;
  };
}

/**
 * A Service of type ExternalName: the cluster DNS answers its name with a CNAME to
 * `spec.externalName`, so pods connect there. The field holds a DNS name by definition, so any
 * name is a host (`db.vendor.internal`, which the text patterns would not take for one).
 */
function externalNameService(file: string, doc: Document, refs: Reference[], before: number, lineOf: (n: Node | null | undefined) => number): void {
  if (!isMap(doc.contents) || doc.contents.get('kind') !== 'Service' || doc.getIn(['spec', 'type']) !== 'ExternalName') return;
  const node = doc.getIn(['spec', 'externalName'], true);
  const name = isScalar(node) && typeof node.value === 'string' ? node.value.trim().replace(/\.$/, '').toLowerCase() : '';
  // A DNS name (RFC 1123) of at most 253 characters; the bound comes before the pattern.
  if (name.length > 253 || !/^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*$/.test(name)) return;
  const service = doc.getIn(['metadata', 'name']);
  const note = `ExternalName Service ${typeof service === 'string' ? clip(service) : '?'}: the cluster DNS answers its name with a CNAME to ${name}, and pods connect there`;
  const found = refs.slice(before).filter((r) => r.keyPath === 'spec.externalName');
  for (const r of found) r.implied ??= { note };
  if (!found.length && name.includes('.')) refs.push({ file, line: lineOf(node as Node), keyPath: 'spec.externalName', kind: 'host', value: name, implied: { note } });
}

type Push = (at: Array<string | number>, value: string, implied: string, unknown?: boolean) => void;
type Api = (at: Array<string | number>, a: CloudApi, by: string) => void;

/** The image's repository's last path component, without tag or digest (`grafana/grafana:11` → `grafana`). */
function imageName(image: unknown): string {
  const s = str(image) ?? '';
  const noDigest = s.split('@')[0];
  const last = noDigest.split('/').pop() ?? '';
  return last.split(':')[0].toLowerCase();
}

/** A container's env as written (`value` only; `valueFrom` is unknown here). */
function envOf(c: Obj): Map<string, { value?: string; index: number }> {
  const out = new Map<string, { value?: string; index: number }>();
  const env = Array.isArray(c.env) ? c.env : [];
  env.forEach((e, index) => {
    if (isObj(e) && typeof e.name === 'string') out.set(e.name, { value: str(e.value), index });
  });
  return out;
}

function containers(json: Obj, push: Push, api: Api): void {
  walkPodSpecs(json, [], undefined, (spec, _parent, specPath) => {
    for (const list of CONTAINER_LISTS) {
      const cs = spec[list];
      if (!Array.isArray(cs)) continue;
      cs.forEach((c, i) => {
        if (!isObj(c)) return;
        const at = [...specPath, list, i];
        const name = imageName(c.image);
        if (name === 'external-dns') externalDns(c, at, push, api);
        if (name === 'grafana' || name === 'grafana-oss' || name === 'grafana-enterprise') grafana(c, at, push);
      });
    }
  });
}

/** external-dns's `--provider=<name>` (or `--provider <name>`) in its args or command. */
function externalDns(c: Obj, at: Array<string | number>, push: Push, api: Api): void {
  for (const field of ['args', 'command'] as const) {
    const list = c[field];
    if (!Array.isArray(list)) continue;
    list.forEach((a, j) => {
      const s = str(a);
      const m = s && /^--provider(?:=(.*))?$/.exec(s);
      if (!m) return;
      const provider = (m[1] ?? str(list[j + 1]) ?? '').trim();
      if (!provider) return;
      const where = [...at, field, m[1] === undefined ? j + 1 : j];
      const known = EXTERNAL_DNS_PROVIDERS.get(provider);
      if (known) return api(where, known, `external-dns --provider=${provider}`);
      if (provider === 'inmemory') return;
      push(
        where,
        `--provider=${provider}`,
        `external-dns --provider=${provider}: the API this provider calls is not in ferry's table of provider hosts (aws, google, azure, azure-private-dns, cloudflare, digitalocean); unknown destination here: it is set by the provider's own flags or environment (see external-dns docs/tutorials/${provider}.md), declare it`,
        true,
      );
    });
  }
}

/**
 * Grafana's plugin downloads named in its container's env. Its telemetry, update checks and other
 * settings are read with the grafana.ini it mounts (audit/grafana.ts).
 */
function grafana(c: Obj, at: Array<string | number>, push: Push): void {
  const env = envOf(c);
  const setting = (name: string) => env.get(name);
  const source = 'grafana.com/docs/grafana/latest/setup-grafana/configure-grafana (conf/defaults.ini)';
  // Plugins named by id (not by URL, which is found as written) download from grafana.com.
  for (const name of ['GF_INSTALL_PLUGINS', 'GF_PLUGINS_PREINSTALL', 'GF_PLUGINS_PREINSTALL_SYNC']) {
    const e = setting(name);
    if (!e?.value) continue;
    const ids = e.value
      .split(',')
      .map((p) => p.trim())
      .filter((p) => p && !/^[a-z][a-z0-9+.-]*:\/\//i.test(p));
    if (!ids.length) continue;
    push([...at, 'env', e.index, 'value'], 'https://grafana.com/api/plugins', `${name} installs ${ids.slice(0, 5).join(', ')}${ids.length > 5 ? ` and ${ids.length - 5} more` : ''} from the grafana.com plugin catalog at start-up (${source}, [plugins]; grafana_com_url defaults to https://grafana.com)`);
  }
}

/** cert-manager Issuer / ClusterIssuer `spec.acme.solvers[].dns01.<solver>`. */
function certManagerSolvers(json: Obj, push: Push, api: Api): void {
  if ((json.kind !== 'Issuer' && json.kind !== 'ClusterIssuer') || typeof json.apiVersion !== 'string' || !json.apiVersion.startsWith('cert-manager.io/')) return;
  const solvers = (json.spec as Obj | undefined)?.acme;
  const list = isObj(solvers) && Array.isArray(solvers.solvers) ? solvers.solvers : [];
  const selfCheck = "; cert-manager then checks the record by asking the zone's authoritative nameservers over DNS (port 53) unless --dns01-recursive-nameservers-only is set";
  list.forEach((s, i) => {
    const dns01 = isObj(s) ? s.dns01 : undefined;
    if (!isObj(dns01)) return;
    for (const solver of Object.keys(dns01)) {
      if (solver === 'cnameStrategy') continue;
      const at = ['spec', 'acme', 'solvers', i, 'dns01', solver];
      const by = `${String(json.kind)} ${str((json.metadata as Obj | undefined)?.name) ?? '?'}'s ACME DNS01 solver ${clip(solver)}`;
      const known = CERT_MANAGER_SOLVERS.get(solver);
      const azureElsewhere = solver === 'azureDNS' && isObj(dns01[solver]) && str((dns01[solver] as Obj).environment) && str((dns01[solver] as Obj).environment) !== 'AzurePublicCloud';
      if (known && !azureElsewhere) {
        for (const url of known.urls) push(at, url, `${by} calls ${known.what} (${known.source})${selfCheck}`);
        continue;
      }
      if (SOLVER_OWN_DESTINATION.has(solver)) continue;
      const webhook = solver === 'webhook' ? ': a webhook solver hands the record to another program (its groupName and solverName), which calls a DNS API of its own' : '';
      push(at, `dns01.${clip(solver)}`, `${by}${webhook}: the API it calls is not in ferry's table of solver hosts (route53, cloudDNS, azureDNS in AzurePublicCloud, cloudflare, digitalocean); unknown destination here, declare it${selfCheck}`, true);
    }
  });
}

/** A document that is an Alertmanager configuration: `route` and a `receivers` list at its top. */
function alertmanagerDefaults(json: Obj, push: Push): void {
  if (!isObj(json.route) || !Array.isArray(json.receivers)) return;
  const global = isObj(json.global) ? json.global : {};
  json.receivers.forEach((r, i) => {
    if (!isObj(r)) return;
    for (const d of ALERTMANAGER_DEFAULTS) {
      const configs = r[d.configs];
      if (!Array.isArray(configs)) continue;
      configs.forEach((c, j) => {
        if (!isObj(c) || str(c[d.own]) || (d.global && str(global[d.global]))) return;
        push(['receivers', i, d.configs, j], d.url, `Alertmanager receiver ${str(r.name) ?? '?'}: ${d.configs} without ${d.own} (nor global ${d.global}) send to Alertmanager's default ${d.url} (prometheus.io/docs/alerting/latest/configuration)`);
      });
    }
  });
}

/**
 * Object stores named by bucket and region, not by endpoint: Loki/Tempo/Thanos/Mimir `gcs`
 * maps, Loki's `s3: s3://<region>/<bucket>`, and Velero's BackupStorageLocation.
 */
function objectStores(json: Obj, push: Push): void {
  if (json.kind === 'BackupStorageLocation' && typeof json.apiVersion === 'string' && json.apiVersion.startsWith('velero.io/')) return veleroLocation(json, push);
  let budget = MAX_WALK_NODES;
  const walk = (node: unknown, at: Array<string | number>) => {
    if (--budget < 0 || at.length > MAX_WALK_DEPTH) return;
    if (Array.isArray(node)) return node.forEach((x, i) => walk(x, [...at, i]));
    if (!isObj(node)) return;
    for (const [k, v] of Object.entries(node)) {
      if (k === 'gcs' && isObj(v) && (str(v.bucket_name) || str(v.bucket)) && !str(v.endpoint) && !str(v.endpoint_url)) {
        push([...at, k], 'https://storage.googleapis.com', `a gcs bucket (${str(v.bucket_name) ?? str(v.bucket)}) with no endpoint: Google Cloud Storage's JSON API (cloud.google.com/storage/docs/json_api)`);
      }
      // Loki's `s3: s3://<region>/<bucket>`: a region alone as the host is AWS S3's endpoint for it (grafana.com/docs/loki/latest/configure, aws.s3).
      const s3 = k === 's3' ? str(v) : undefined;
      const region = s3 && /^s3:\/\/(?:[^@/]*@)?([a-z]{2}(?:-[a-z]+)+-\d)\/[^/]/.exec(s3)?.[1];
      if (region) push([...at, k], `https://s3.${region}.amazonaws.com`, `${s3!.replace(/\/\/[^@/]*@/, '//…@')}: a region alone as the host is AWS S3's endpoint for that region (Loki storage_config.aws.s3)`);
      if (typeof v === 'object' && v !== null) walk(v, [...at, k]);
    }
  };
  walk(json, []);
}

/** velero-plugin-for-aws/gcp/azure: a location with no URL of its own is the cloud's store. */
function veleroLocation(json: Obj, push: Push): void {
  const spec = isObj(json.spec) ? json.spec : {};
  const config = isObj(spec.config) ? spec.config : {};
  const provider = (str(spec.provider) ?? '').replace(/^velero\.io\//, '');
  const name = str((json.metadata as Obj | undefined)?.name) ?? '?';
  const by = `Velero BackupStorageLocation ${name} (provider ${provider})`;
  if (provider === 'aws' && !str(config.s3Url)) {
    const region = str(config.region);
    if (region && /^[a-z]{2}(?:-[a-z]+)+-\d$/.test(region)) return push(['spec', 'config', 'region'], `https://s3.${region}.amazonaws.com`, `${by} with no s3Url: AWS S3 in region ${region} (github.com/vmware-tanzu/velero-plugin-for-aws: s3Url defaults to AWS S3)`);
    return push(['spec', 'provider'], `provider ${provider}`, `${by} with no s3Url: AWS S3, in a region ${region ? `"${region}" that is no AWS region` : 'not written (the plugin asks the bucket)'}: unknown destination here, declare it`, true);
  }
  if (provider === 'gcp') return push(['spec', 'provider'], 'https://storage.googleapis.com', `${by}: Google Cloud Storage (github.com/vmware-tanzu/velero-plugin-for-gcp)`);
  if (provider === 'azure') {
    const account = str(config.storageAccount);
    if (account && /^[a-z0-9]{3,24}$/.test(account)) return push(['spec', 'config', 'storageAccount'], `https://${account}.blob.core.windows.net`, `${by}: Azure Blob storage of account ${account} (github.com/vmware-tanzu/velero-plugin-for-microsoft-azure; public cloud)`);
  }
}

/** chrony's and ntpd's configuration files (chrony.conf(5): `server`, `pool`, `peer`; `.sources` files of sourcedir). */
const NTP_CONF = /(?:^|\/)(?:chrony\.conf|ntp\.conf|[^/]+\.sources)$/;
const NTP_CONF_LINE = /^\s*(server|pool|peer)\s+\S/;
/** systemd-timesyncd's (timesyncd.conf(5): `NTP=`, `FallbackNTP=`, in timesyncd.conf or a timesyncd.conf.d drop-in). */
const TIMESYNCD = /(?:^|\/)(?:timesyncd\.conf|timesyncd\.conf\.d\/[^/]+\.conf)$/;
const TIMESYNCD_LINE = /^\s*(NTP|FallbackNTP)\s*=/;

/**
 * The hosts and addresses of an NTP configuration's server lines (found by the text patterns from
 * `before` on) are NTP servers: said so, with the protocol a firewall must open (UDP 123).
 */
export function markNtpServers(rel: string, text: string, refs: Reference[], before: number): void {
  const conf = NTP_CONF.test(rel) ? NTP_CONF_LINE : TIMESYNCD.test(rel) ? TIMESYNCD_LINE : undefined;
  if (!conf || refs.length === before) return;
  const lines = text.split('\n');
  for (let i = before; i < refs.length; i++) {
    const r = refs[i];
    if (r.kind !== 'host' || r.implied) continue;
    const m = conf.exec(lines[r.line - 1] ?? '');
    if (m) r.implied = { note: `NTP server (${m[1]} in ${rel}): time is asked of it over UDP port 123` };
  }
}
