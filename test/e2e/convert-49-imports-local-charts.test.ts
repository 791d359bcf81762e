import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { convertJsonWith, type ConvertJson, convertWorkspace, writeTree } from '../support/convert-output.js';

/**
 * convert49: an oc-mirror `mirror.helm.local` chart (path relative to where oc-mirror runs) is
 * rendered for its images, its `imagePaths` (Kubernetes JSONPath, as in oc-mirror's docs and its
 * e2e case 83849) read in what it renders; a Zarf zarf.dev/v1beta1 component's `import.local`
 * (a ZarfComponentConfig, as zarf-dev/zarf src/pkg/packager/load/testdata/import-v1beta1) is
 * followed and merged as Zarf merges it, a cycle and a remote (OCI) import named.
 */

const { dirWith, check } = convertWorkspace('ferry-convert49-');
const convertJson = convertJsonWith(check);
const said = (r: ConvertJson, ...words: string[]) => [...r.notCarried, ...r.changed].some((n) => words.every((w) => `${n.place} ${n.item} ${n.why} ${n.todo}`.includes(w)));
const refs = (r: ConvertJson) => ((r.manifest.images ?? []) as Array<{ ref: string }>).map((i) => i.ref);

/** An operator-like chart: the manager's image in the container, the images it deploys handed over in env values whose names do not say image. */
async function operatorChart(dir: string): Promise<void> {
  const src = path.join(dir, '.src');
  await writeTree(path.join(src, 'test-mirror-helm'), {
    'Chart.yaml': 'apiVersion: v2\nname: test-mirror-helm\nversion: 0.3.0\n',
    'values.yaml': 'manager: quay.io/acme/manager:2.1.0\nagent: quay.io/acme/agent:2.1.0\nweb: ghcr.io/acme/web-console:5.0.1\n',
    'templates/deployment.yaml':
      'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: manager\nspec:\n  template:\n    spec:\n      containers:\n        - name: manager\n          image: {{ .Values.manager }}\n          env:\n            - name: AGENT_REF\n              value: {{ .Values.agent }}\n            - name: LOG_LEVEL\n              value: debug\n',
    'templates/console.yaml': 'apiVersion: v1\nkind: Service\nmetadata:\n  name: console\n  annotations:\n    acme.io/console: {{ .Values.web }}\nspec:\n  ports:\n    - port: 80\n',
  });
  execFileSync('tar', ['czf', path.join(dir, 'test-mirror-helm-0.3.0.tgz'), '-C', src, 'test-mirror-helm']);
}

describe('convert oc-mirror: helm.local charts', () => {
  it('renders a local chart for its images and reads its imagePaths in what it renders', async () => {
    const dir = await dirWith('oc-local', {
      'imageset-config.yaml': `kind: ImageSetConfiguration
apiVersion: mirror.openshift.io/v2alpha1
mirror:
  helm:
    local:
      - name: test-mirror-helm
        path: test-mirror-helm-0.3.0.tgz
        imagePaths:
          - "{.spec.template.spec.containers[?(@.name=='manager')].env[*].value}"
      - name: console
        path: test-mirror-helm-0.3.0.tgz
        platforms:
          - os: linux
            architecture: arm64
        imagepaths:
          - "{.metadata.annotations['acme.io/console']}"
          - "{range .spec.template.spec.containers[*]}{.image}{end}"
      - name: elsewhere
        path: /opt/charts/elsewhere-1.0.0.tgz
    repositories:
      - name: podinfo
        url: https://stefanprodan.github.io/podinfo
        charts:
          - name: podinfo
            version: 6.7.0
            imagePaths:
              - "{.spec.template.spec.custom[*].image}"
`,
    });
    await operatorChart(dir);
    const r = await convertJson(dir, ['oc-mirror', 'imageset-config.yaml']);
    const images = r.manifest.images as Array<{ ref: string; platforms?: string[] }>;
    // The container image, rendered; the agent only the first chart's imagePaths name (its env name does not say image).
    expect(images).toContainEqual({ ref: 'quay.io/acme/manager:2.1.0' });
    expect(images).toContainEqual({ ref: 'quay.io/acme/agent:2.1.0' });
    // The second entry: the web console only its (lower-case, as oc-mirror's JSON decoding takes it) imagepaths names, for linux/arm64.
    expect(images).toContainEqual({ ref: 'ghcr.io/acme/web-console:5.0.1', platforms: ['linux/arm64'] });
    expect(said(r, 'helm local: console images platforms: linux/arm64')).toBe(true);
    // LOG_LEVEL's "debug" is no image anyone means: named, not carried as docker.io/library/debug:latest.
    expect(refs(r)).not.toContain('docker.io/library/debug:latest');
    expect(said(r, 'helm local: test-mirror-helm imagePaths', 'debug', 'not carried')).toBe(true);
    expect(said(r, 'helm local: test-mirror-helm', 'test-mirror-helm 0.3.0', 'carried under images:')).toBe(true);
    expect(said(r, 'helm local: console imagePaths: {range', 'not evaluated')).toBe(true);
    expect(said(r, 'helm local: elsewhere', 'nothing at /opt/charts/elsewhere-1.0.0.tgz')).toBe(true);
    // A repository chart's imagePaths: on the chart entry, read by `ferry lock` in the chart it renders (convert-50).
    expect(r.manifest.charts).toEqual([{ name: 'podinfo', repo: 'https://stefanprodan.github.io/podinfo', version: '6.7.0', imagePaths: ['{.spec.template.spec.custom[*].image}'] }]);
  });

  it('does not read a local chart outside the directory it runs in', async () => {
    const dir = await dirWith('oc-outside/run', {
      'isc.yaml': 'kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  helm:\n    local:\n      - name: up\n        path: ../test-mirror-helm-0.3.0.tgz\n',
    });
    await operatorChart(path.dirname(dir));
    const r = await convertJson(dir, ['oc-mirror', 'isc.yaml']);
    expect(r.manifest.images).toBeUndefined();
    expect(said(r, 'helm local: up', 'outside')).toBe(true);
  });
});

const BETA_PKG = `apiVersion: zarf.dev/v1beta1
kind: ZarfPackageConfig
metadata:
  name: merge-import
components:
  - name: app
    images:
      - name: redis:7
        source: daemon
      - name: ghcr.io/acme/sidecar:1.0.0
    charts:
      - name: app
        releaseName: custom-release
        valuesFiles:
          - path: site-values.yaml
    import:
      local:
        - path: components/app.yaml
  - name: web
    import:
      local:
        - path: components/web-apache.yaml
        - path: components/web-nginx.yaml
`;

describe('convert zarf: zarf.dev/v1beta1 import.local', () => {
  it('merges the imported component config as zarf package create does', async () => {
    const dir = await dirWith('beta-merge', {
      'zarf.yaml': BETA_PKG,
      'site-values.yaml': 'enabled: true\n',
      'components/app.yaml': `apiVersion: zarf.dev/v1beta1
kind: ZarfComponentConfig
metadata:
  name: app
component:
  images:
    - name: redis:7
      source: registry
    - name: nginx:1.27
  charts:
    - name: app
      namespace: app
      local:
        path: app-chart
  files:
    - source: https://github.com/acme/tool/releases/download/v1.2.0/tool
      destination: /usr/local/bin/tool
  repositories:
    - url: https://github.com/acme/config.git
values:
  files:
    - app-values.yaml
`,
      'components/app-chart/Chart.yaml': 'apiVersion: v2\nname: app-chart\nversion: 1.0.0\n',
      'components/app-chart/values.yaml': 'enabled: false\nimage: quay.io/acme/app:3.2.1\n',
      'components/app-chart/templates/d.yaml': '{{- if .Values.enabled }}\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: {{ .Values.image }}\n{{- end }}\n',
      'components/web-apache.yaml': 'apiVersion: zarf.dev/v1beta1\nkind: ZarfComponentConfig\nmetadata:\n  name: web\ncomponent:\n  selector:\n    flavor: apache\n  images:\n    - name: httpd:2.4\n',
      'components/web-nginx.yaml': 'apiVersion: zarf.dev/v1beta1\nkind: ZarfComponentConfig\nmetadata:\n  name: web\ncomponent:\n  selector:\n    flavor: nginx\n  images:\n    - name: nginx:1.27-alpine\n',
    });
    const r = await convertJson(dir, ['zarf', 'zarf.yaml', '--flavor', 'nginx']);
    const got = refs(r);
    // Imported images and this component's; redis:7 comes from the daemon by this component's source: (Zarf merges by name).
    expect(got).toContain('docker.io/library/nginx:1.27');
    expect(got).toContain('ghcr.io/acme/sidecar:1.0.0');
    expect(got).not.toContain('docker.io/library/redis:7');
    expect(said(r, 'images: redis:7', 'daemon')).toBe(true);
    // The imported local chart (relative to its own file), rendered with this component's values file appended: enabled.
    expect(got).toContain('quay.io/acme/app:3.2.1');
    expect(said(r, 'components/app-chart', 'app-chart 1.0.0', 'site-values.yaml')).toBe(true);
    expect(r.manifest.files).toEqual([{ name: 'tool', url: 'https://github.com/acme/tool/releases/download/v1.2.0/tool' }]);
    // Named at the imported file's lines.
    expect(r.notCarried.some((n) => n.file === path.join('components', 'app.yaml') && n.item.includes('repositories: https://github.com/acme/config.git') && n.line === 19)).toBe(true);
    expect(said(r, 'components/app.yaml', 'values.files')).toBe(true);
    // Variants: the nginx flavor's one, not apache's.
    expect(got).toContain('docker.io/library/nginx:1.27-alpine');
    expect(got).not.toContain('docker.io/library/httpd:2.4');
  });

  it('names variants none of which fits, a cycle, a path outside the package and a remote import', async () => {
    const dir = await dirWith('beta-refused', {
      'pkg/zarf.yaml': `${BETA_PKG}  - name: loop
    import:
      local:
        - path: components/a.yaml
  - name: out
    import:
      local:
        - path: ../shared/out.yaml
  - name: published
    images:
      - name: busybox:1.36
    import:
      remote:
        - url: oci://ghcr.io/acme/components/logging:1.0.0
`,
      'pkg/components/app.yaml': 'apiVersion: zarf.dev/v1beta1\nkind: ZarfComponentConfig\nmetadata:\n  name: app\ncomponent:\n  images:\n    - name: nginx:1.27\n',
      'pkg/components/web-apache.yaml': 'apiVersion: zarf.dev/v1beta1\nkind: ZarfComponentConfig\nmetadata:\n  name: web\ncomponent:\n  selector:\n    flavor: apache\n  images:\n    - name: httpd:2.4\n',
      'pkg/components/web-nginx.yaml': 'apiVersion: zarf.dev/v1beta1\nkind: ZarfComponentConfig\nmetadata:\n  name: web\ncomponent:\n  selector:\n    flavor: nginx\n  images:\n    - name: nginx:1.27-alpine\n',
      'pkg/components/a.yaml': 'apiVersion: zarf.dev/v1beta1\nkind: ZarfComponentConfig\nmetadata:\n  name: a\ncomponent:\n  images:\n    - name: quay.io/acme/a:1\n  import:\n    local:\n      - path: b.yaml\n',
      'pkg/components/b.yaml': 'apiVersion: zarf.dev/v1beta1\nkind: ZarfComponentConfig\nmetadata:\n  name: b\ncomponent:\n  images:\n    - name: quay.io/acme/b:1\n  import:\n    local:\n      - path: a.yaml\n',
      'shared/out.yaml': 'apiVersion: zarf.dev/v1beta1\nkind: ZarfComponentConfig\nmetadata:\n  name: out\ncomponent:\n  images:\n    - name: quay.io/acme/out:1\n',
    });
    const r = await convertJson(path.join(dir, 'pkg'), ['zarf', 'zarf.yaml']);
    const got = refs(r);
    expect(said(r, 'component web', 'no imported component variants', 'fit (no --flavor, no --arch)')).toBe(true);
    expect(got).not.toContain('docker.io/library/httpd:2.4');
    // a → b → a: a and b are read, the step back to a is named as a cycle.
    expect(got).toEqual(expect.arrayContaining(['quay.io/acme/a:1', 'quay.io/acme/b:1']));
    expect(said(r, 'import.local: a.yaml', 'a cycle')).toBe(true);
    expect(said(r, 'import.local: ../shared/out.yaml', 'outside')).toBe(true);
    expect(got).not.toContain('quay.io/acme/out:1');
    expect(said(r, 'import.remote: oci://ghcr.io/acme/components/logging:1.0.0', 'oras pull ghcr.io/acme/components/logging:1.0.0')).toBe(true);
    expect(got).toContain('docker.io/library/busybox:1.36');
  });
});
