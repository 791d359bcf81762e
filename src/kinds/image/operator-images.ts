/**
 * Where an operator's custom resource names the images its operator runs without writing one
 * reference: a repository prefix in one field and the names and tag elsewhere (Istio's
 * `spec.hub` + `spec.tag`, Tigera's `spec.registry` + `spec.imagePath`), or no image field at all
 * (the operator's built-in default). Audit reads both as the images they mean; `rewrite
 * manifests` moves a prefix field to the mirror only when every image it composes lands on the
 * mirror under one common prefix.
 *
 * The general rule is the composition `<prefix>[/]<path/><namePrefix><name>[:<tag>]`; what is
 * per operator (which fields, which names, which defaults) is this one table, each row as the
 * operator's documentation states it.
 */

type Obj = Record<string, unknown>;

/** A field that holds a repository prefix the operator composes image references from. */
export interface ComposedImages {
  /** The prefix field (`['spec', 'hub']`) and what it says. */
  field: string[];
  prefix: string;
  /** Put between the prefix and each name (`calico/`), '' when the name follows the prefix. */
  path: string;
  /** Put before each name (Tigera's `imagePrefix`). */
  namePrefix: string;
  /** The names the operator composes with the prefix. */
  names: string[];
  /** The tag, when the resource says it (Istio's `spec.tag`); otherwise the operator's release picks it. */
  tag?: string;
  /** Fields that hold a bare name the operator puts behind the prefix (`spec.values.global.proxy.image: proxyv2`). */
  nameFields: string[][];
  /** How the operator composes it, in words (for notes). */
  rule: string;
}

/** An image the operator pulls by default, the resource naming none. */
export interface DefaultImage {
  /** The field that would name it (`spec.image`). */
  field: string;
  /** The default image (no tag: the operator's release decides it). */
  image: string;
  note: string;
  /**
   * Pulled by the nodes' container runtime at the tag the release pins (a mirror config sends it to
   * the mirror), not set in the resource to be moved: `rewrite manifests` says nothing when the lock
   * carries the repository.
   */
  carriedByRepository?: true;
}

interface Row {
  group: string;
  kind: string;
  composed?: (spec: Obj) => ComposedImages[];
  defaults?: (spec: Obj) => DefaultImage[];
}

const obj = (v: unknown): Obj => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {});
const str = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() ? v.trim() : typeof v === 'number' ? String(v) : undefined);
const at = (o: unknown, p: string[]): unknown => p.reduce<unknown>((a, k) => obj(a)[k], o);

/** A default image: the field, the image with the resource's version if it says one, and why. */
function byDefault(spec: Obj, field: string[], image: string, operator: string, version?: string[], tagOf: (v: string) => string = (v) => v): DefaultImage[] {
  if (str(at(spec, field)) !== undefined) return [];
  const v = version ? str(at(spec, version)) : undefined;
  const ref = v ? `${image}:${tagOf(v)}` : image;
  const tagWord = v ? `spec.${version!.join('.')} ${v}` : 'the tag its own release pins';
  return [{ field: `spec.${field.join('.')}`, image: ref, note: `no spec.${field.join('.')}: the ${operator} pulls its default image ${image} (${tagWord}) unless it runs with another default (its flags or environment); list it in the manifest and set spec.${field.join('.')} to the mirror` }];
}

const ISTIO_NAME_FIELDS = [
  ['values', 'global', 'proxy', 'image'],
  ['values', 'global', 'proxy_init', 'image'],
  ['values', 'pilot', 'image'],
];

const OTEL_LANGUAGES: Array<[string, string]> = [
  ['java', 'autoinstrumentation-java'],
  ['nodejs', 'autoinstrumentation-nodejs'],
  ['python', 'autoinstrumentation-python'],
  ['dotnet', 'autoinstrumentation-dotnet'],
  ['go', 'autoinstrumentation-go'],
];

const ROWS: Row[] = [
  {
    // istioctl: `hub` is the "root for docker image paths" and `tag` the version; pilot and proxyv2
    // are `<hub>/<name>:<tag>`, a values image without a `/` is a name behind the hub too; a
    // component may set its own hub/tag.
    group: 'install.istio.io',
    kind: 'IstioOperator',
    composed(spec) {
      const out: ComposedImages[] = [];
      const hub = str(spec.hub);
      const tag = str(spec.tag);
      const names = new Set(['pilot', 'proxyv2']);
      for (const f of ISTIO_NAME_FIELDS) {
        const n = str(at(spec, f));
        if (n && !n.includes('/')) names.add(n);
      }
      if (hub) out.push({ field: ['spec', 'hub'], prefix: hub, path: '', namePrefix: '', names: [...names].sort(), tag, nameFields: ISTIO_NAME_FIELDS.map((f) => ['spec', ...f]), rule: `istioctl pulls <spec.hub>/<name>:<spec.tag>` });
      const comps = obj(spec.components);
      for (const [c, name] of [['pilot', 'pilot']] as const) {
        const h = str(obj(comps[c]).hub);
        if (h) out.push({ field: ['spec', 'components', c, 'hub'], prefix: h, path: '', namePrefix: '', names: [name], tag: str(obj(comps[c]).tag) ?? tag, nameFields: [], rule: `istioctl pulls <spec.components.${c}.hub>/${name}:<tag>` });
      }
      return out;
    },
  },
  {
    // Tigera operator: `<registry><imagePath>/<imagePrefix><name>:<its release's version>`; the
    // registry ends with `/`, imagePath replaces the path part (calico for Calico Open Source).
    group: 'operator.tigera.io',
    kind: 'Installation',
    composed(spec) {
      const registry = str(spec.registry);
      if (!registry || registry === 'UseDefault') return [];
      const imagePath = str(spec.imagePath);
      const path = imagePath && imagePath !== 'UseDefault' ? imagePath : 'calico';
      const namePrefix = str(spec.imagePrefix) && spec.imagePrefix !== 'UseDefault' ? str(spec.imagePrefix)! : '';
      const names = ['apiserver', 'cni', 'csi', 'kube-controllers', 'node', 'node-driver-registrar', 'pod2daemon-flexvol', 'typha'];
      return [{ field: ['spec', 'registry'], prefix: registry, path: `${path}/`, namePrefix, names, nameFields: [], rule: `the Tigera operator pulls <spec.registry><spec.imagePath>/<spec.imagePrefix><name>:<its release's version>` }];
    },
  },
  { group: 'elasticsearch.k8s.elastic.co', kind: 'Elasticsearch', defaults: (s) => byDefault(s, ['image'], 'docker.elastic.co/elasticsearch/elasticsearch', 'Elastic operator (ECK)', ['version']) },
  { group: 'kibana.k8s.elastic.co', kind: 'Kibana', defaults: (s) => byDefault(s, ['image'], 'docker.elastic.co/kibana/kibana', 'Elastic operator (ECK)', ['version']) },
  { group: 'monitoring.coreos.com', kind: 'Prometheus', defaults: (s) => byDefault(s, ['image'], 'quay.io/prometheus/prometheus', 'Prometheus Operator', ['version']) },
  { group: 'monitoring.coreos.com', kind: 'Alertmanager', defaults: (s) => byDefault(s, ['image'], 'quay.io/prometheus/alertmanager', 'Prometheus Operator', ['version']) },
  { group: 'monitoring.coreos.com', kind: 'ThanosRuler', defaults: (s) => byDefault(s, ['image'], 'quay.io/thanos/thanos', 'Prometheus Operator', ['version']) },
  { group: 'postgresql.cnpg.io', kind: 'Cluster', defaults: (s) => (s.imageCatalogRef ? [] : byDefault(s, ['imageName'], 'ghcr.io/cloudnative-pg/postgresql', 'CloudNativePG operator')) },
  {
    // Strimzi: the Kafka image comes from the operator's STRIMZI_KAFKA_IMAGES (`<kafka version>=<image>`).
    group: 'kafka.strimzi.io',
    kind: 'Kafka',
    defaults(s) {
      if (str(at(s, ['kafka', 'image']))) return [];
      const v = str(at(s, ['kafka', 'version']));
      return [{ field: 'spec.kafka.image', image: 'quay.io/strimzi/kafka', note: `no spec.kafka.image: the Strimzi operator pulls the image its STRIMZI_KAFKA_IMAGES environment variable names for Kafka ${v ?? '(its default version)'} (quay.io/strimzi/kafka:<strimzi version>-kafka-${v ?? '<version>'}); list it in the manifest and set spec.kafka.image, or that variable, to the mirror` }];
    },
  },
  {
    // Grafana's Alloy Operator installs the Alloy Helm chart with the resource's spec as its values:
    // an `image` or `configReloader.image` map without `repository` is the Alloy chart's default
    // image, under `global.image.registry` or the map's `registry` when set.
    group: 'collectors.grafana.com',
    kind: 'Alloy',
    defaults(s) {
      const out: DefaultImage[] = [];
      const global = str(at(s, ['global', 'image', 'registry']));
      const one = (field: string[], registry: string, repository: string) => {
        const repo = str(at(s, [...field, 'repository']));
        const tag = str(at(s, [...field, 'tag']));
        const digest = str(at(s, [...field, 'digest']));
        // a whole reference in the resource is an image like any other
        if (repo && (tag || digest)) return;
        const image = `${global ?? str(at(s, [...field, 'registry'])) ?? registry}/${repo ?? repository}`;
        const f = `spec.${field.join('.')}`;
        const ref = `${image}${tag ? `:${tag}` : ''}${digest ? `@${digest}` : ''}`;
        const pin = digest ? `${f}.digest ${digest}` : tag ? `${f}.tag ${tag}` : 'the tag its own release pins';
        const what = repo ? `${f} names no tag or digest: the Alloy Operator pulls ${image}` : `no ${f}.repository: the Alloy Operator pulls the Alloy chart's default image ${image}`;
        out.push({ field: f, image: ref, note: `${what} (${pin}) unless it runs with another default (its flags or environment); list it in the manifest and set ${f} to the mirror` });
      };
      one(['image'], 'docker.io', 'grafana/alloy');
      if (at(s, ['configReloader', 'enabled']) !== false) one(['configReloader', 'image'], 'quay.io', 'prometheus-operator/prometheus-config-reloader');
      return out;
    },
  },
  {
    // k3s/RKE2's helm-controller runs every HelmChart's install Job (helm install, upgrade, delete)
    // with its default job image unless spec.jobImage names one; k3s and RKE2 set that default to
    // their release's rancher/klipper-helm, behind system-default-registry when set.
    group: 'helm.cattle.io',
    kind: 'HelmChart',
    defaults(s) {
      if (str(s.jobImage)) return [];
      return [
        {
          field: 'spec.jobImage',
          image: 'docker.io/rancher/klipper-helm',
          carriedByRepository: true,
          note: "no spec.jobImage: the k3s/RKE2 helm-controller runs this HelmChart's install Job with its default image docker.io/rancher/klipper-helm, at the tag the k3s/RKE2 release pins (<system-default-registry>/rancher/klipper-helm when that is set): a system image the site must carry (k3s-images.txt, rke2-images*.txt of the release list it), pulled through the node's registries.yaml like any other",
        },
      ];
    },
  },
  { group: 'opentelemetry.io', kind: 'OpenTelemetryCollector', defaults: (s) => byDefault(s, ['image'], 'ghcr.io/open-telemetry/opentelemetry-collector-releases/opentelemetry-collector', 'OpenTelemetry operator') },
  {
    group: 'opentelemetry.io',
    kind: 'Instrumentation',
    defaults: (s) => OTEL_LANGUAGES.flatMap(([lang, name]) => byDefault(s, [lang, 'image'], `ghcr.io/open-telemetry/opentelemetry-operator/${name}`, 'OpenTelemetry operator (for pods that ask for this language)')),
  },
];

function rowOf(resource: unknown): { row: Row; spec: Obj } | undefined {
  const r = obj(resource);
  const api = str(r.apiVersion);
  const kind = str(r.kind);
  if (!api || !kind) return undefined;
  const group = api.includes('/') ? api.split('/')[0] : '';
  const row = ROWS.find((x) => x.group === group && x.kind === kind);
  return row ? { row, spec: obj(r.spec) } : undefined;
}

/** The prefix fields of an operator's resource and the images each composes. */
export function composedImagesOf(resource: unknown): ComposedImages[] {
  const m = rowOf(resource);
  return m?.row.composed ? m.row.composed(m.spec) : [];
}

/** The images an operator's resource leaves to the operator's defaults. */
export function defaultImagesOf(resource: unknown): DefaultImage[] {
  const m = rowOf(resource);
  return m?.row.defaults ? m.row.defaults(m.spec) : [];
}

/** One composed image: `<prefix>[/]<path><namePrefix><name>[:<tag>]`. */
export function composeImage(c: ComposedImages, name: string): string {
  const head = c.prefix.endsWith('/') ? c.prefix : `${c.prefix}/`;
  return `${head}${c.path}${c.namePrefix}${name}${c.tag ? `:${c.tag}` : ''}`;
}

const KINDS = new Set(ROWS.map((r) => r.kind));

/** Whether a document's `kind` is one the table knows (read the resource only then). */
export function isOperatorKind(kind: unknown): boolean {
  return typeof kind === 'string' && KINDS.has(kind);
}
