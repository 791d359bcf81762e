/**
 * Names that look like hosts but are defined to be something else: Kubernetes qualified names (an
 * API group, a label or annotation key's prefix, a finalizer, a controller or CSI driver name, an
 * admission webhook's name) and script or library file names (`install.sh`, `lib.so`). Each is
 * decided by the field or the syntax it is written in, never by a list of domains: the same name
 * under a destination key, in a URL or as an image stays a finding.
 */

/** A DNS subdomain (RFC 1123, what Kubernetes checks a qualified name's prefix and an API group against). */
const SUBDOMAIN = '[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?(?:\\.[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?)+';
/** A qualified name's name part (`[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`, at most 63 characters). */
const NAME = '[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?';
/** The whole value is one qualified name (`prefix/name`), an API group or a dotted name, as these fields hold. */
const QUALIFIED_VALUE = new RegExp(`^(?:${SUBDOMAIN}(?:/${NAME})?|${NAME}|\\*)$`, 'i');

/**
 * Fields defined to hold such a name, by their last key (a list's items are the key's):
 * `rules[].apiGroups[]`, `roleRef.apiGroup`, `metadata.finalizers[]`, `topologyKey`,
 * `matchLabelKeys[]`, GatewayClass `controllerName`, ingress-nginx's `controllerValue` (what becomes
 * the IngressClass's `spec.controller`), a CSR's `signerName`, a Service's `loadBalancerClass`, a
 * ServiceMonitor's `jobLabel` and `targetLabels`/`podTargetLabels` (label keys).
 */
const FIELD_BY_KEY = /^(?:apiGroups?|finalizers|topologyKey|(?:mis)?matchLabelKeys|controllerName|controllerValue|signerNames?|approveSignerNames|loadBalancerClass|jobLabel|(?:pod)?targetLabels)$/;
/** A flag naming a controller, class or signer (`--controller-class=k8s.io/ingress-nginx`, ingress-nginx's): its value. */
const CLASS_FLAG = /^--?(?:[a-z]+-)?(?:controller-class|ingress-class|gateway-class|controller-name|signer-name)=(.+)$/;
/** Fields whose item's `key` is a label or taint key: `matchExpressions[].key`, `tolerations[].key`. */
const KEY_OF_LIST = /^(?:matchExpressions|tolerations)$/;
/** Fields of one kind: their key alone (`name`, `group`, `provisioner`) says nothing. */
const FIELD_BY_KIND: Record<string, RegExp> = {
  CustomResourceDefinition: /^(?:metadata\.name|spec\.group)$/,
  APIService: /^(?:metadata\.name|spec\.group)$/,
  CSIDriver: /^metadata\.name$/,
  StorageClass: /^provisioner$/,
  VolumeSnapshotClass: /^driver$/,
  IngressClass: /^spec\.controller$/,
  GatewayClass: /^spec\.controllerName$/,
  // A webhook configuration is named as its webhooks are (`policy.vendor.io`); where it calls is `clientConfig`.
  ValidatingWebhookConfiguration: /^(?:metadata\.name|webhooks\[\d+\]\.name)$/,
  MutatingWebhookConfiguration: /^(?:metadata\.name|webhooks\[\d+\]\.name)$/,
  ValidatingAdmissionPolicy: /^spec\.matchConstraints\.resourceRules\[\d+\]\.apiGroups\[\d+\]$/,
  Secret: /^type$/,
};

/**
 * Whether this key path (of a document of this `kind`) is a field defined to hold a qualified name
 * that is no network destination, and the value written there is one (a value of another shape,
 * `see api.vendor.io`, is read as any other).
 */
export function qualifiedNameField(keyPath: string, value: string, kind?: string): boolean {
  const keys = keyPath.split('.');
  const last = keys[keys.length - 1].replace(/(?:\[\d+\])+$/, '');
  // An RBAC rule's `resourceNames[]` names objects (`issuers.cert-manager.io/*`, a signer name with a wildcard).
  if (last === 'resourceNames' && keys.length > 1 && /^rules\[\d+\]$/.test(keys[keys.length - 2])) return true;
  // A container's `--controller-class=k8s.io/ingress-nginx`: a controller's or class's name, as the field would hold.
  const flag = /^(?:args|command)$/.test(last) ? CLASS_FLAG.exec(value.trim()) : null;
  if (flag) return QUALIFIED_VALUE.test(flag[1]);
  if (!QUALIFIED_VALUE.test(value.trim())) return false;
  if (FIELD_BY_KEY.test(last)) return true;
  // A CSI volume's or persistent volume's `csi.driver`.
  if (last === 'driver' && keys[keys.length - 2] === 'csi') return true;
  if (last === 'key' && keys.length > 1 && KEY_OF_LIST.test(keys[keys.length - 2].replace(/(?:\[\d+\])+$/, ''))) return true;
  return kind !== undefined && Object.hasOwn(FIELD_BY_KIND, kind) && FIELD_BY_KIND[kind].test(keyPath);
}

/**
 * Common file extensions that are also top-level domains the text patterns know: a name of two
 * labels under one (`install.sh`, `lib.so`, `main.cc`, `subprocess.run`) is a file or code in free
 * text; three labels or more (`get.vendor.sh`) is still a host, and so is any of them under a
 * destination key, in a URL or in an image.
 */
const FILE_EXTENSION_TLDS = new Set(['sh', 'so', 'cc', 'run']);

/** A host the text patterns found that is a file name (`install.sh`): two labels, the last a file extension. */
export function fileNameLike(host: string): boolean {
  const labels = host.replace(/:\d+$/, '').split('.');
  return labels.length === 2 && FILE_EXTENSION_TLDS.has(labels[1].toLowerCase());
}

/**
 * A label or annotation key at a line's key position (`app.kubernetes.io/name:`, `"helm.sh/hook":`,
 * `> kubernetes.io/os: linux` in a README, `{"kubernetes.io/os":"linux"}`): its prefix.
 * `registry.example.com/app:1.2` is no key (unquoted, the `:` is not followed by a space or the line's end).
 */
const KEY_AT_LINE = new RegExp(`(^[\\s>#*-]*|[{,]\\s*)(?:(["'])(${SUBDOMAIN})/${NAME}\\2\\s*:|()(${SUBDOMAIN})/${NAME}:(?=\\s|$))`, 'gi');
/** `apiVersion: group/v1beta1` (YAML or JSON) and Helm's `.Capabilities.APIVersions.Has "group/v1"`: an API group. */
const API_VERSION = new RegExp(`((?:\\bapiVersion["']?\\s*:|\\.APIVersions\\.Has)\\s*["']?)(${SUBDOMAIN})/v\\d+(?:(?:alpha|beta)\\d+)?(?![\\w./-])`, 'gi');

/** A YAML key and its value on one line (`  - topologyKey: "kubernetes.io/hostname"`, `- apiGroups: ["cert-manager.io"]`). */
const KEY_LINE = /^(\s*)((?:-[ \t]+)*)(["']?)([A-Za-z_][\w.-]*)\3[ \t]*:(?=\s|$)/;
/** A block list item (`    - networking.k8s.io`). */
const ITEM_LINE = /^(\s*)-\s+(["']?)([^\s"'#]+)\2\s*(?:#.*)?$/;

/**
 * Reads YAML-like text line by line (a Helm template, which does not parse as YAML) keeping the
 * key path from the indentation and the document's `kind`, enough to tell the fields
 * `qualifiedNameField` names. Lines of Go template actions (`{{- if … }}`) and of block scalars
 * are read as no keys.
 */
export class YamlLineKeys {
  private stack: Array<{ indent: number; key: string }> = [];
  private kind: string | undefined;
  /** The indentation of a key whose block scalar (`description: |`) the following lines belong to. */
  private block: number | undefined;

  /** The spans (start, end) of `line` that are qualified names no finding should be made of. */
  masks(line: string, yaml: boolean): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    for (const m of line.matchAll(KEY_AT_LINE)) {
      const quote = m[2] ?? '';
      const prefix = m[3] ?? m[5];
      const at = (m.index ?? 0) + m[1].length + quote.length;
      out.push([at, at + prefix.length]);
    }
    for (const m of line.matchAll(API_VERSION)) {
      const at = (m.index ?? 0) + m[1].length;
      out.push([at, at + m[2].length]);
    }
    if (yaml) for (const s of this.fieldSpans(line)) out.push(s);
    return out;
  }

  private fieldSpans(line: string): Array<[number, number]> {
    if (/^---(\s|$)/.test(line)) {
      this.stack = [];
      this.kind = undefined;
      this.block = undefined;
      return [];
    }
    const indent = /^\s*/.exec(line)![0].length;
    if (line.trim() === '' || line.trim().startsWith('#')) return [];
    if (this.block !== undefined) {
      if (indent > this.block) return [];
      this.block = undefined;
    }
    if (/^\s*\{\{.*\}\}\s*$/.test(line)) return [];
    const m = KEY_LINE.exec(line);
    if (!m) {
      const item = ITEM_LINE.exec(line);
      if (!item) return [];
      // A list item closes the keys deeper than it; it is under the key last opened at its indentation or less.
      while (this.stack.length && this.stack[this.stack.length - 1].indent > indent) this.stack.pop();
      const parent = this.stack[this.stack.length - 1];
      if (!parent) return [];
      const at = line.indexOf(item[3], item[1].length + 1);
      return qualifiedNameField(`${this.keyPath(parent)}[0]`, item[3], this.kind) ? [[at, at + item[3].length]] : [];
    }
    // Each `- ` is one more level (a list item's first key).
    const depth = indent + m[2].length;
    while (this.stack.length && this.stack[this.stack.length - 1].indent >= depth) this.stack.pop();
    const key = m[4] + (m[2] ? '[0]' : '');
    this.stack.push({ indent: depth, key });
    const rest = line.slice(m[0].length);
    const hash = rest.search(/\s#/);
    const value = (hash >= 0 ? rest.slice(0, hash) : rest).trim();
    if (depth === 0 && m[4] === 'kind') this.kind = value.replace(/^(["'])(.*)\1$/, '$2');
    if (/^[|>][-+0-9]*(\s+#.*)?$/.test(value)) this.block = depth;
    if (!value) return [];
    const keyPath = this.keyPath(this.stack[this.stack.length - 1]);
    const valueAt = line.indexOf(value, m[0].length);
    // A flow list of names (`apiGroups: ["cert-manager.io", "acme.cert-manager.io"]`): each item.
    const flow = /^\[(.*)\]$/.exec(value);
    const items = flow ? flow[1].split(',') : [value];
    const out: Array<[number, number]> = [];
    let from = valueAt;
    for (const raw of items) {
      const name = raw.trim().replace(/^(["'])(.*)\1$/, '$2');
      const at = line.indexOf(name, from);
      if (!name || at < 0) continue;
      from = at + name.length;
      if (qualifiedNameField(flow ? `${keyPath}[0]` : keyPath, name, this.kind)) out.push([at, at + name.length]);
    }
    return out;
  }

  private keyPath(last: { indent: number; key: string }): string {
    const upTo = this.stack.indexOf(last);
    return this.stack
      .slice(0, upTo + 1)
      .map((s) => s.key)
      .join('.');
  }
}

/** `line` with these spans blanked (same length: what is found elsewhere on the line keeps its place); one pass, however many spans. */
export function blanked(line: string, spans: ReadonlyArray<[number, number]>): string {
  if (!spans.length) return line;
  const sorted = [...spans].sort((a, b) => a[0] - b[0]);
  const parts: string[] = [];
  let at = 0;
  for (const [a, b] of sorted) {
    if (b <= at) continue;
    const from = Math.max(a, at);
    parts.push(line.slice(at, from), ' '.repeat(b - from));
    at = b;
  }
  parts.push(line.slice(at));
  return parts.join('');
}
