// Data for scripts/bench/rewrite.sh: `node gen-rewrite-data.mjs DIR OBJECTS FILES IMAGES`
//   DIR/big/big.yaml          one rendered install: OBJECTS objects as `helm template` prints them
//                             (`# Source:` comments, Deployments, StatefulSets, DaemonSets, Jobs with
//                             init containers, Services, ConfigMaps, ServiceAccounts), IMAGES images
//   DIR/tree/<app>/*.yaml     a GitOps repository: FILES files of 1–4 objects each, same images
//   DIR/kz-{big,tree}/kustomization.yaml   the same rewrite for `kubectl kustomize` (with
//                             --load-restrictor LoadRestrictionsNone): the files as resources, an
//                             `images:` override per image (name → the mirror's newName)
//   DIR/m.yaml, m.lock.json, t.yaml     ferry's manifest, offline lock and nested site target
// Deterministic: the same arguments write the same bytes.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const [dir, objArg, filesArg, imgArg] = process.argv.slice(2);
const objects = Number(objArg ?? 3000);
const files = Number(filesArg ?? 2000);
const imageCount = Number(imgArg ?? 60);
const registries = ['quay.io/prometheus', 'registry.k8s.io', 'ghcr.io/acme', 'docker.io/bitnami', 'quay.io/argoproj', 'docker.io/grafana'];
const images = Array.from({ length: imageCount }, (_, i) => ({ name: `${registries[i % registries.length]}/component-${i}`, tag: `v1.${i}.${i % 7}` }));
const ref = (i) => `${images[i % images.length].name}:${images[i % images.length].tag}`;
const mirror = 'registry.site.internal/ferry';

function labels(name, pad) {
  return `${pad}labels:\n${pad}  app.kubernetes.io/name: ${name}\n${pad}  app.kubernetes.io/instance: bench\n${pad}  app.kubernetes.io/managed-by: Helm\n${pad}  helm.sh/chart: bench-1.0.0\n`;
}

function container(name, i, pad, init = false) {
  return `${pad}- name: ${name}
${pad}  image: "${ref(i)}"
${pad}  imagePullPolicy: IfNotPresent
${pad}  args:
${pad}    - --config.file=/etc/${name}/config.yaml  # the mounted config
${pad}    - --log.level=info
${pad}  ${init ? 'command: ["/bin/sh", "-c", "until nslookup db; do sleep 2; done"]' : 'ports:\n' + pad + '    - name: http\n' + pad + '      containerPort: 8080\n' + pad + '      protocol: TCP'}
${pad}  resources:
${pad}    limits: { cpu: 500m, memory: 512Mi }
${pad}    requests: { cpu: 100m, memory: 128Mi }
${pad}  securityContext:
${pad}    runAsNonRoot: true
${pad}    readOnlyRootFilesystem: true
${pad}  volumeMounts:
${pad}    - name: config
${pad}      mountPath: /etc/${name}
`;
}

function podSpec(name, i, pad) {
  return `${pad}serviceAccountName: ${name}
${pad}# init containers wait for the database
${pad}initContainers:
${container(`${name}-init`, i + 1, `${pad}  `, true)}${pad}containers:
${container(name, i, `${pad}  `)}${container(`${name}-sidecar`, i + 2, `${pad}  `)}${pad}volumes:
${pad}  - name: config
${pad}    configMap:
${pad}      name: ${name}
`;
}

function object(i) {
  const name = `bench-c${i}`;
  const meta = (kind, api) => `apiVersion: ${api}\nkind: ${kind}\nmetadata:\n  name: ${name}\n  namespace: monitoring\n${labels(name, '  ')}`;
  switch (i % 8) {
    case 0:
    case 1:
      return `${meta('Deployment', 'apps/v1')}spec:\n  replicas: 2\n  selector:\n    matchLabels:\n      app.kubernetes.io/name: ${name}\n  template:\n    metadata:\n${labels(name, '      ')}    spec:\n${podSpec(name, i, '      ')}`;
    case 2:
      return `${meta('StatefulSet', 'apps/v1')}spec:\n  serviceName: ${name}\n  selector:\n    matchLabels:\n      app.kubernetes.io/name: ${name}\n  template:\n    metadata:\n${labels(name, '      ')}    spec:\n${podSpec(name, i, '      ')}`;
    case 3:
      return `${meta('DaemonSet', 'apps/v1')}spec:\n  selector:\n    matchLabels:\n      app.kubernetes.io/name: ${name}\n  template:\n    metadata:\n${labels(name, '      ')}    spec:\n${podSpec(name, i, '      ')}`;
    case 4:
      return `${meta('CronJob', 'batch/v1')}spec:\n  schedule: "*/5 * * * *"\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          restartPolicy: OnFailure\n${podSpec(name, i, '          ')}`;
    case 5:
      return `${meta('Service', 'v1')}spec:\n  type: ClusterIP\n  ports:\n    - port: 80\n      targetPort: http\n      name: http\n  selector:\n    app.kubernetes.io/name: ${name}\n`;
    case 6:
      return `${meta('ConfigMap', 'v1')}data:\n  config.yaml: |\n    global:\n      scrape_interval: 30s\n    rule_files:\n      - /etc/rules/*.yaml\n    # a comment inside the block\n    scrape_configs:\n      - job_name: ${name}\n        static_configs:\n          - targets: ['${name}:8080']\n`;
    default:
      return `${meta('ServiceAccount', 'v1')}automountServiceAccountToken: false\n`;
  }
}

const doc = (i, template) => `---\n# Source: bench/templates/${template}-${i}.yaml\n${object(i)}`;
const kustomization = (resources) =>
  `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n${resources.map((r) => `  - ${r}`).join('\n')}\nimages:\n${images.map((im) => `  - name: ${im.name}\n    newName: ${mirror}/${im.name}`).join('\n')}\n`;

mkdirSync(path.join(dir, 'big'), { recursive: true });
let big = '';
for (let i = 0; i < objects; i++) big += doc(i, 'object');
writeFileSync(path.join(dir, 'big', 'big.yaml'), big);
mkdirSync(path.join(dir, 'kz-big'), { recursive: true });
writeFileSync(path.join(dir, 'kz-big', 'kustomization.yaml'), kustomization(['../big/big.yaml']));

const listed = [];
let n = 0;
for (let f = 0; f < files; f++) {
  const app = `app${String(Math.floor(f / 20)).padStart(3, '0')}`;
  mkdirSync(path.join(dir, 'tree', app), { recursive: true });
  const rel = `${app}/f${String(f).padStart(4, '0')}.yaml`;
  let text = '';
  for (let k = 0; k < 1 + (f % 4); k++) text += doc(n++, `f${f}`);
  writeFileSync(path.join(dir, 'tree', rel), text);
  listed.push(rel);
}
mkdirSync(path.join(dir, 'kz-tree'), { recursive: true });
writeFileSync(path.join(dir, 'kz-tree', 'kustomization.yaml'), kustomization(listed.map((r) => `../tree/${r}`)));

const refs = images.map((im) => `${im.name}:${im.tag}`);
const digest = `sha256:${'a'.repeat(64)}`;
writeFileSync(path.join(dir, 'm.yaml'), `apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: bench }\nimages:\n${refs.map((r) => `  - ref: ${r}`).join('\n')}\n`);
writeFileSync(
  path.join(dir, 'm.lock.json'),
  JSON.stringify({ apiVersion: 'ferry/v1alpha1', kind: 'Lock', manifest: { name: 'bench', digest }, images: refs.map((r) => ({ source: r, ref: r, digest, mediaType: 'application/vnd.oci.image.index.v1+json', size: 1, manifests: [], blobs: [] })) }),
);
writeFileSync(path.join(dir, 't.yaml'), `apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: site }\nregistry:\n  url: https://registry.site.internal\n  prefix: ferry\n  layout: nested\n`);
