import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { convertJsonWith, type ConvertJson, aliasBombLevels, convertWorkspace } from '../support/convert-output.js';
import { runFerry } from '../support/cli.js';

/**
 * newuser47: what a Zarf or helmfile user still met in `ferry convert`: the package's
 * architecture (zarf package create --architecture, metadata.architecture, ###ZARF_PKG_ARCH###,
 * only.cluster.architecture), the one bounded include walk (Zarf imports, helmfile includes), and
 * a helmfile release with a local chart (its Chart.yaml dependencies), helmfile.lock and
 * missingFileHandler. Every manifest written is checked by the loader and the JSON Schema.
 */

const { dirWith, check: checker } = convertWorkspace('ferry-newuser47-');

type Result = ConvertJson;
const convertJson = convertJsonWith(checker);

const ZARF_ARCH = `kind: ZarfPackageConfig
metadata:
  name: tools
  architecture: amd64
components:
  - name: tool
    images:
      - ghcr.io/acme/tool:1.0-###ZARF_PKG_ARCH###
  - name: agent-amd64
    only:
      cluster:
        architecture: amd64
    images:
      - ghcr.io/acme/agent:1.0
  - name: agent-arm64
    only:
      cluster:
        architecture: arm64
    images:
      - ghcr.io/acme/agent-arm:1.0
  - name: shared
    import:
      path: common
`;

const COMMON = `kind: ZarfPackageConfig
metadata: {name: common}
components:
  - name: shared
    only: {cluster: {architecture: arm64}}
    images: [ghcr.io/acme/shared-arm:1]
  - name: shared
    only: {cluster: {architecture: amd64}}
    images: [ghcr.io/acme/shared-amd:1]
`;

describe('convert zarf: the package\'s architecture, as zarf package create takes it', () => {
  it('metadata.architecture: ###ZARF_PKG_ARCH### filled, images for linux/<arch>, components (and imports) of another architecture named', async () => {
    const dir = await dirWith('arch', { 'zarf.yaml': ZARF_ARCH, 'common/zarf.yaml': COMMON });
    const r = await convertJson(dir, ['zarf', 'zarf.yaml', '-o', 'manifest.yaml']);
    expect(r.manifest.images).toEqual([
      { ref: 'ghcr.io/acme/agent:1.0', platforms: ['linux/amd64'] },
      { ref: 'ghcr.io/acme/shared-amd:1', platforms: ['linux/amd64'] },
      { ref: 'ghcr.io/acme/tool:1.0-amd64', platforms: ['linux/amd64'] },
    ]);
    const arm = r.notCarried.find((n) => n.item === 'only.cluster.architecture: arm64');
    expect(arm?.place).toBe('zarf.yaml:18 (component agent-arm64)');
    expect(arm?.why).toContain('the package is converted for amd64');
    expect(arm?.todo).toContain('--arch arm64');
    await checker().accepted(path.join(dir, 'manifest.yaml'));
  });

  it('--arch wins over metadata.architecture (as zarf\'s --architecture does)', async () => {
    const dir = await dirWith('arch-flag', { 'zarf.yaml': ZARF_ARCH, 'common/zarf.yaml': COMMON });
    const r = await convertJson(dir, ['zarf', 'zarf.yaml', '--arch', 'arm64']);
    expect(r.manifest.images).toEqual([
      { ref: 'ghcr.io/acme/agent-arm:1.0', platforms: ['linux/arm64'] },
      { ref: 'ghcr.io/acme/shared-arm:1', platforms: ['linux/arm64'] },
      { ref: 'ghcr.io/acme/tool:1.0-arm64', platforms: ['linux/arm64'] },
    ]);
    expect(r.notCarried.map((n) => n.item)).toEqual(['only.cluster.architecture: amd64']);
  });

  it('no architecture known: ###ZARF_PKG_ARCH### named with --arch, components of every architecture carried and named; a bad --arch refused', async () => {
    const dir = await dirWith('arch-none', { 'zarf.yaml': ZARF_ARCH.replace('  architecture: amd64\n', ''), 'common/zarf.yaml': COMMON });
    const r = await convertJson(dir, ['zarf', 'zarf.yaml']);
    expect(r.manifest.images).toEqual([{ ref: 'ghcr.io/acme/agent-arm:1.0' }, { ref: 'ghcr.io/acme/agent:1.0' }]);
    // The import has a component for each architecture: which one zarf takes is not known here.
    const imp = r.notCarried.find((n) => n.item === 'import: common');
    expect(imp?.why).toContain('several components named shared');
    expect(imp?.todo).toContain('--arch <arch>');
    const tmpl = r.notCarried.find((n) => n.item.includes('###ZARF_PKG_ARCH###'));
    expect(tmpl?.todo).toContain('--arch <arch>');
    expect(r.changed.filter((n) => n.item.startsWith('only.cluster.architecture')).map((n) => n.place)).toEqual(['zarf.yaml:11 (component agent-amd64)', 'zarf.yaml:17 (component agent-arm64)']);
    const bad = await runFerry(['convert', 'zarf', 'zarf.yaml', '--arch', 'amd64/../x'], { cwd: dir });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('not an architecture name');
    const meta = await dirWith('arch-bad-meta', { 'zarf.yaml': ZARF_ARCH.replace('architecture: amd64\ncomponents', 'architecture: "amd64 linux"\ncomponents') });
    const m = await convertJson(meta, ['zarf', 'zarf.yaml']);
    expect(m.notCarried.find((n) => n.item.startsWith('metadata.architecture'))?.place).toBe('zarf.yaml:4');
  });
});

const HELMFILE = `repositories:
  - name: bitnami
    url: https://charts.bitnami.example/bitnami
  - name: ghcr
    url: ghcr.io/acme/charts
    oci: true
missingFileHandler: Warn
templates:
  common:
    namespace: apps
    version: ">=15.0.0 <16.0.0"
releases:
  - name: db
    chart: bitnami/postgresql
    inherit:
      - template: common
  - name: cache
    chart: ghcr/redis
    version: 19.x
    values:
      - values/cache.yaml
      - values/absent.yaml
  - name: app
    chart: ./charts/app
  - name: other
    chart: bitnami/nginx
    inherit:
      - template: nosuch
`;

const APP_CHART = `apiVersion: v2
name: app
version: 0.1.0
dependencies:
  - name: memcached
    version: 7.x
    repository: https://charts.bitnami.example/bitnami
  - name: queue
    version: 2.0.0
    repository: oci://registry.acme.example/charts
  - name: redis
    version: 19.x
    repository: "@ghcr"
  - name: lib
    version: 0.1.0
    repository: file://../lib
  - name: vendored
    version: 1.0.0
  - name: far
    version: 1.0.0
    repository: file://../../../elsewhere
`;

describe('convert helmfile: local charts, helmfile.lock, templates, missingFileHandler', () => {
  it('carries what a local chart\'s Chart.yaml fetches (file:// followed inside the tree, Chart.lock pins), pins versions from helmfile.lock, drops a missing values file helmfile skips', async () => {
    const dir = await dirWith('helmfile-local', {
      'site/helmfile.yaml': HELMFILE,
      'site/helmfile.lock': 'version: v1.1.0\ndependencies:\n  - name: postgresql\n    repository: https://charts.bitnami.example/bitnami\n    version: 15.5.2\n  - name: redis\n    repository: oci://ghcr.io/acme/charts\n    version: 19.6.4\ndigest: sha256:00\ngenerated: "2025-01-01T00:00:00Z"\n',
      'site/values/cache.yaml': 'replica: {replicaCount: 1}\n',
      'site/charts/app/Chart.yaml': APP_CHART,
      'site/charts/app/Chart.lock': 'dependencies:\n  - name: memcached\n    repository: https://charts.bitnami.example/bitnami\n    version: 7.4.1\ndigest: sha256:00\ngenerated: "2025-01-01T00:00:00Z"\n',
      'site/charts/lib/Chart.yaml': 'apiVersion: v2\nname: lib\nversion: 0.1.0\ndependencies:\n  - name: common\n    version: 2.x\n    repository: https://charts.bitnami.example/bitnami\n  - name: app\n    version: 0.1.0\n    repository: file://../app\n',
      'elsewhere/Chart.yaml': 'apiVersion: v2\nname: far\nversion: 1.0.0\ndependencies:\n  - name: secret\n    version: 1.0.0\n    repository: https://outside.example/charts\n',
    });
    const r = await convertJson(dir, ['helmfile', 'site/helmfile.yaml', '-o', 'manifest.yaml']);
    expect(r.manifest.charts).toEqual([
      { name: 'common', repo: 'https://charts.bitnami.example/bitnami', version: '2.x' },
      { name: 'memcached', repo: 'https://charts.bitnami.example/bitnami', version: '7.4.1' },
      { name: 'nginx', repo: 'https://charts.bitnami.example/bitnami', version: '*' },
      { name: 'postgresql', repo: 'https://charts.bitnami.example/bitnami', version: '15.5.2' },
      { name: 'queue', repo: 'oci://registry.acme.example/charts', version: '2.0.0' },
      { name: 'redis', repo: 'oci://ghcr.io/acme/charts', version: '19.6.4', values: ['site/values/cache.yaml'] },
      { name: 'redis', repo: 'oci://ghcr.io/acme/charts', version: '19.x' },
    ]);
    await checker().accepted(path.join(dir, 'manifest.yaml'));
    const all = [...r.notCarried, ...r.changed];
    const said = (place: string, ...words: string[]) => all.some((n) => n.place === place && words.every((w) => `${n.item} ${n.why} ${n.todo}`.includes(w)));
    expect(said('site/helmfile.yaml:13 (release db)', 'version 15.5.2', 'site/helmfile.lock pins it')).toBe(true);
    expect(said('site/helmfile.yaml:17 (release cache)', 'version 19.6.4')).toBe(true);
    expect(said('site/helmfile.yaml:25 (release other)', 'pins no version of nginx', 'helmfile deps')).toBe(true);
    expect(said('site/helmfile.yaml:28', 'inherit: nosuch', 'no template named nosuch')).toBe(true);
    expect(said('site/helmfile.yaml:22 (release cache)', 'values: values/absent.yaml', 'missingFileHandler: Warn', 'left out')).toBe(true);
    expect(said('site/helmfile.yaml:24 (release app)', 'a local chart', 'the 4 charts its Chart.yaml depends on are carried')).toBe(true);
    expect(said('site/charts/app/Chart.yaml:5 (release app)', 'version 7.4.1', 'Chart.lock pins it')).toBe(true);
    // The cycle back to app and the dependency outside the tree are named, not followed.
    expect(said('site/charts/lib/Chart.yaml:8 (release app)', 'chart site/charts/app', 'a cycle')).toBe(true);
    expect(said('site/charts/app/Chart.yaml:19 (release app)', 'chart elsewhere', 'leads outside the top helmfile\'s directory')).toBe(true);
    expect(JSON.stringify(r.manifest)).not.toContain('outside.example');
  });
});

describe('convert helmfile: a hostile local chart', () => {
  it('an alias bomb in a local chart\'s Chart.yaml and in helmfile.lock is named, not expanded', { timeout: 60_000 }, async () => {
    const bomb = `${aliasBombLevels().join('\n')}\nname: x\nversion: 1.0.0\ndependencies: *i\n`;
    const dir = await dirWith('helmfile-bomb', {
      'helmfile.yaml': 'repositories: [{name: r, url: "https://r.example/charts"}]\nreleases:\n  - {name: a, chart: ./chart}\n  - {name: b, chart: r/b, version: 1.0.0}\n',
      'chart/Chart.yaml': bomb,
      'helmfile.lock': `${aliasBombLevels().join('\n')}\ndependencies: *i\n`,
    });
    const r = await convertJson(dir, ['helmfile', 'helmfile.yaml']);
    expect(r.manifest.charts).toEqual([{ name: 'b', repo: 'https://r.example/charts', version: '1.0.0' }]);
    expect(r.notCarried.find((n) => n.item === 'chart chart')?.why).toMatch(/alias/i);
    expect(r.notCarried.find((n) => n.item === 'lock file helmfile.lock')?.why).toMatch(/alias/i);
  });
});
