import { mkdtemp, readFile, symlink } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { validateManifest } from '../../src/kinds/schema.js';
import { runFerry } from '../support/cli.js';
import { ACTIVE_TERMINAL, aliasBombLevels, manifestChecker, writeTree, type ManifestChecker } from '../support/convert-output.js';

/**
 * `ferry convert oc-mirror` (an ImageSetConfiguration, mirror.openshift.io/v2alpha1 and v1alpha2)
 * and Zarf's `import: { path }` followed inside the package's tree. Fixtures are written here,
 * shaped after openshift/oc-mirror docs/image-set-examples, v1/docs/imageset-config-ref.yaml,
 * tests/integration/testdata/imagesetconfigs and zarf-dev/zarf src/pkg/packager/load/testdata
 * (not copied). The manifest written is checked by ferry's loader and by the JSON Schema
 * `ferry schema manifest` prints.
 */

let work: string;
let check: ManifestChecker;
const schemaCheck = (data: unknown) => check.schemaCheck(data);

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-newuser44-'));
  check = await manifestChecker();
});

const dirWith = (name: string, files: Record<string, string>) => writeTree(path.join(work, name), files);
const accepted = (file: string) => check.accepted(file);
const aliasBomb = () => aliasBombLevels('x:1');

/** The leading comment's line that names `place` and holds every one of `words`. */
function noted(text: string, place: string, ...words: string[]): string | undefined {
  return text.split('\n').find((l) => l.startsWith('#') && l.includes(`${place}: `) && words.every((w) => l.includes(w)));
}

const ISC = `kind: ImageSetConfiguration
apiVersion: mirror.openshift.io/v2alpha1
archiveSize: 4
mirror:
  platform:
    channels:
      - name: stable-4.18
        minVersion: 4.18.1
        maxVersion: 4.18.3
    graph: true
  operators:
    - catalog: registry.redhat.io/redhat/redhat-operator-index:v4.18
      targetCatalog: mirrored/redhat-index
      packages:
        - name: aws-load-balancer-operator
          channels:
            - name: stable-v1
        - name: 3scale-operator
          minVersion: 0.11.0
    - catalog: oci:///home/me/catalogs/my-index
      packages:
        - name: mine
  additionalImages:
    - name: registry.redhat.io/ubi9/ubi:latest
    - name: docker://quay.io/acme/tools:1.2
      platforms:
        - os: linux
          architecture: amd64
        - os: linux
          architecture: arm64
    - name: quay.io/acme/app@sha256:61b8f5e1a3b5dbd9e2c35fd448dc5106337d7a299873dd3a6f0cd8d4891ecc27
      targetRepo: apps/app
    - name: docker.io/library/redis:7
    - name: oci:///home/me/images/local-thing
    - name: quay.io/acme/untagged
    - name: registry.blocked.example/team/x:1
  blockedImages:
    - name: redis
    - name: ^registry\\.blocked\\.example/
    - name: ^quay.io/(acme|other)/nothing$
  helm:
    repositories:
      - name: podinfo
        url: https://stefanprodan.github.io/podinfo
        charts:
          - name: podinfo
            version: 6.7.0
          - name: podinfo-latest
            imagePaths:
              - "{.spec.template.spec.containers[*].image}"
      - name: everything
        url: https://charts.acme.example/stable
    local:
      - name: mychart
        path: /home/me/charts/mychart-1.0.0.tgz
  samples:
    - name: ruby
`;

describe('ferry convert oc-mirror', () => {
  it('carries additional images, Helm repository charts and catalog images; names releases, packages, local content and blocked images', async () => {
    const dir = await dirWith('isc', { 'oc/imageset-config.yaml': ISC });
    const out = path.join(dir, 'out', 'manifest.yaml');
    const r = await runFerry(['convert', 'oc-mirror', 'oc/imageset-config.yaml', '-o', out], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const m = await accepted(out);
    expect(m.metadata).toEqual({ name: 'imageset-config' });
    // redis and registry.blocked.example are blocked, the oci:// ones are on disk, the untagged one oc-mirror refuses.
    expect(m.images).toEqual([
      { ref: 'quay.io/acme/app@sha256:61b8f5e1a3b5dbd9e2c35fd448dc5106337d7a299873dd3a6f0cd8d4891ecc27' },
      { ref: 'quay.io/acme/tools:1.2', platforms: ['linux/amd64', 'linux/arm64'] },
      { ref: 'registry.redhat.io/redhat/redhat-operator-index:v4.18' },
      { ref: 'registry.redhat.io/ubi9/ubi:latest' },
    ]);
    expect(m.charts).toEqual([
      { name: 'podinfo', repo: 'https://stefanprodan.github.io/podinfo', version: '6.7.0' },
      { name: 'podinfo-latest', repo: 'https://stefanprodan.github.io/podinfo', version: '*', imagePaths: ['{.spec.template.spec.containers[*].image}'] },
    ]);
    const text = await readFile(out, 'utf8');
    const f = 'oc/imageset-config.yaml';
    const expected: Array<[number, string[]]> = [
      [3, ['archiveSize: 4', '--split-size 4G']],
      [7, ['platform channel stable-4.18 4.18.1–4.18.3', 'update graph', 'oc adm release info']],
      [10, ['platform graph: true']],
      [15, ['operator package aws-load-balancer-operator (channels stable-v1)', 'NOT carried', 'opm render registry.redhat.io/redhat/redhat-operator-index:v4.18']],
      [18, ['operator package 3scale-operator 0.11.0–', 'NOT carried']],
      [20, ['operators catalog: oci:///home/me/catalogs/my-index', 'on disk']],
      [22, ['operator package mine', 'here not even that']],
      [33, ['additionalImages: docker.io/library/redis:7', 'matches blockedImages redis']],
      [34, ['additionalImages: oci:///home/me/images/local-thing', 'on disk']],
      [35, ['additionalImages: quay.io/acme/untagged', 'neither a tag nor a digest']],
      [36, ['additionalImages: registry.blocked.example/team/x:1', 'matches blockedImages ^registry\\.blocked\\.example/']],
      [38, ['blockedImages: redis', 'not checked against it']],
      [40, ['blockedImages: ^quay.io/(acme|other)/nothing$', 'does not evaluate']],
      [51, ['helm repository everything (https://charts.acme.example/stable): every chart', 'List the charts']],
      [54, ['helm local: mychart', 'nothing at /home/me/charts/mychart-1.0.0.tgz']],
      [57, ['samples']],
    ];
    for (const [line, words] of expected) {
      expect(noted(text, `${f}:${line}`, ...words), `${f}:${line} ${words.join(' | ')}`).toBeTruthy();
      expect(r.stderr.split('\n').some((l) => l.includes(`${f}:${line}: `) && l.includes(words[0])), `stderr ${f}:${line}`).toBe(true);
    }
    // Carried differently: the version "*", the target names oc-mirror would push under.
    expect(noted(text, `${f}:13`, 'targetCatalog: mirrored/redhat-index', 'unfiltered')).toBeTruthy();
    expect(noted(text, `${f}:32`, 'targetRepo: apps/app')).toBeTruthy();
    expect(noted(text, `${f}:48`, 'podinfo-latest', 'version "*"')).toBeTruthy();
    expect(r.stdout).toContain(`wrote ${out} (4 images, 2 charts, 0 files; `);
  });

  it('reads v1alpha2 (storageConfig, architectures) and refuses a file with no ImageSetConfiguration', async () => {
    const dir = await dirWith('isc-v1', {
      'isc.yaml': `---
apiVersion: mirror.openshift.io/v1alpha2
kind: ImageSetConfiguration
storageConfig:
  local:
    path: ./metadata
mirror:
  platform:
    architectures: [s390x]
    channels:
      - name: stable-4.12
  additionalImages:
    - name: registry.redhat.io/ubi8/ubi:8.9
`,
      'delete.yaml': 'apiVersion: mirror.openshift.io/v2alpha1\nkind: DeleteImageSetConfiguration\ndelete:\n  additionalImages:\n    - name: a:1\n',
    });
    const r = await runFerry(['convert', 'oc-mirror', 'isc.yaml', '--json'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    validateManifest(j.manifest, 'json');
    expect(schemaCheck(j.manifest)).toBe(true);
    expect(j.manifest.images).toEqual([{ ref: 'registry.redhat.io/ubi8/ubi:8.9' }]);
    expect(j.notCarried.find((n: { line: number }) => n.line === 5)).toMatchObject({ file: 'isc.yaml', item: 'storageConfig: {local}' });
    expect(j.notCarried.find((n: { line: number }) => n.line === 11).item).toBe('platform channel stable-4.12 for linux/s390x');
    const d = await runFerry(['convert', 'oc-mirror', 'delete.yaml', '-o', 'out.yaml'], { cwd: dir });
    expect(d.code).toBe(2);
    expect(d.stderr).toContain('delete.yaml: no ImageSetConfiguration (mirror.openshift.io/v1alpha2 or v2alpha1) in it');
    expect(existsSync(path.join(dir, 'out.yaml'))).toBe(false);
  });

  it('never runs a blocked-image pattern on a backtracking engine, and echoes no control bytes', { timeout: 60_000 }, async () => {
    const long = 'a'.repeat(60);
    const evil = `apiVersion: mirror.openshift.io/v2alpha1
kind: ImageSetConfiguration
mirror:
  additionalImages:
    - name: "docker.io/library/${long}:1"
    - name: "quay.io/acme/ok:1"
    - name: "quay.io/acme/x:1\\e]0;pwned\\a"
  blockedImages:
    - name: "^(a+)+$"
    - name: "${'.*'.repeat(100)}zzz"
    - name: "\\e[2Jq"
`;
    const dir = await dirWith('isc-evil', { 'isc.yaml': evil });
    const r = await runFerry(['convert', 'oc-mirror', 'isc.yaml', '-o', 'out.yaml'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const active = ACTIVE_TERMINAL;
    expect(r.stderr).not.toMatch(active);
    const text = await readFile(path.join(dir, 'out.yaml'), 'utf8');
    expect(text).not.toMatch(active);
    const m = await accepted(path.join(dir, 'out.yaml'));
    expect(m.images).toEqual([{ ref: `docker.io/library/${long}:1` }, { ref: 'quay.io/acme/ok:1' }]);
    expect(noted(text, 'isc.yaml:9', '^(a+)+$', 'does not evaluate')).toBeTruthy();
    expect(noted(text, 'isc.yaml:7', 'holds control characters')).toBeTruthy();
  });

  it('refuses a YAML alias bomb as the manifest reader does, writing nothing', { timeout: 60_000 }, async () => {
    const levels = aliasBomb();
    const dir = await dirWith('isc-bomb', { 'isc.yaml': `apiVersion: mirror.openshift.io/v2alpha1\nkind: ImageSetConfiguration\n${levels.join('\n')}\nmirror:\n  additionalImages: *i\n` });
    const r = await runFerry(['convert', 'oc-mirror', 'isc.yaml', '-o', 'out.yaml'], { cwd: dir });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/expands to more than 100000 nodes through aliases/);
    expect(existsSync(path.join(dir, 'out.yaml'))).toBe(false);
  });
});

const zarf = (name: string, components: string) => `kind: ZarfPackageConfig\nmetadata:\n  name: ${name}\ncomponents:\n${components}`;

describe('ferry convert zarf: import: { path }', () => {
  it('follows a local import inside the package tree, naming the imported file\'s lines; not one outside it, nor a URL', async () => {
    const dir = await dirWith('zarf-import', {
      'pkg/zarf.yaml': zarf(
        'top',
        `  - name: web
    import:
      path: components/web
    images:
      - ghcr.io/acme/web-extra:1
  - name: db
    import:
      path: components/db.yaml
      name: postgres
  - name: far
    import:
      path: ../elsewhere
  - name: remote
    import:
      url: oci://ghcr.io/acme/packages/thing:1.0.0
`,
      ),
      'pkg/components/web/zarf.yaml': zarf(
        'web',
        `  - name: other
    images:
      - ghcr.io/acme/not-this:1
  - name: web
    images:
      - ghcr.io/acme/web:2
    charts:
      - name: web
        url: https://charts.acme.example/stable
        version: 1.0.0
        valuesFiles:
          - values.yaml
    repos:
      - https://github.com/acme/web.git
`,
      ),
      'pkg/components/web/values.yaml': 'x: 1\n',
      'pkg/components/db.yaml': zarf('db', '  - name: postgres\n    images:\n      - docker.io/library/postgres:16\n'),
      'elsewhere/zarf.yaml': zarf('far', '  - name: far\n    images:\n      - ghcr.io/acme/far:1\n'),
    });
    const out = path.join(dir, 'manifest.yaml');
    const r = await runFerry(['convert', 'zarf', 'pkg/zarf.yaml', '-o', out], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const m = await accepted(out);
    expect(m.images).toEqual([{ ref: 'docker.io/library/postgres:16' }, { ref: 'ghcr.io/acme/web-extra:1' }, { ref: 'ghcr.io/acme/web:2' }]);
    // The imported chart's values file is relative to the imported package, as Zarf fixes its paths.
    expect(m.charts).toEqual([{ name: 'web', repo: 'https://charts.acme.example/stable', version: '1.0.0', values: ['pkg/components/web/values.yaml'] }]);
    const text = await readFile(out, 'utf8');
    expect(noted(text, 'pkg/components/web/zarf.yaml:18 (component web, imported by pkg/zarf.yaml:7)', 'repos: https://github.com/acme/web.git')).toBeTruthy();
    expect(noted(text, 'pkg/zarf.yaml:16 (component far)', 'import: ../elsewhere', 'outside the package\'s directory', 'ferry convert zarf elsewhere/zarf.yaml pkg/zarf.yaml')).toBeTruthy();
    expect(noted(text, 'pkg/zarf.yaml:19 (component remote)', 'import: oci://ghcr.io/acme/packages/thing:1.0.0', 'remote')).toBeTruthy();
    expect(text).not.toContain('far:1');
  });

  it('names a cycle, a symlink out of the tree and a chain deeper than the bound, and follows none of them', { timeout: 60_000 }, async () => {
    const chain: Record<string, string> = {};
    for (let i = 0; i < 12; i++) chain[`pkg/deep/${i}/zarf.yaml`] = zarf(`d${i}`, `  - name: deep\n    import:\n      path: ../${i + 1}\n    images:\n      - ghcr.io/acme/deep-${i}:1\n`);
    const dir = await dirWith('zarf-cycle', {
      ...chain,
      'pkg/zarf.yaml': zarf(
        'top',
        `  - name: loop
    import:
      path: a
  - name: link
    import:
      path: out
  - name: deep
    import:
      path: deep/0
`,
      ),
      'pkg/a/zarf.yaml': zarf('a', '  - name: loop\n    import:\n      path: ../b\n    images:\n      - ghcr.io/acme/a:1\n'),
      'pkg/b/zarf.yaml': zarf('b', '  - name: loop\n    import:\n      path: ../a\n    images:\n      - ghcr.io/acme/b:1\n'),
      'secret/zarf.yaml': zarf('secret', '  - name: link\n    images:\n      - ghcr.io/acme/secret:1\n'),
    });
    await symlink(path.join(dir, 'secret'), path.join(dir, 'pkg', 'out'));
    const r = await runFerry(['convert', 'zarf', 'pkg/zarf.yaml', '--json'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    validateManifest(j.manifest, 'json');
    const refs = j.manifest.images.map((i: { ref: string }) => i.ref);
    // a and b are each converted once; the cycle back to a is named, not followed.
    expect(refs).toContain('ghcr.io/acme/a:1');
    expect(refs).toContain('ghcr.io/acme/b:1');
    expect(refs).not.toContain('ghcr.io/acme/secret:1');
    const notes = j.notCarried as Array<{ file: string; line: number; item: string; why: string }>;
    expect(notes.find((n) => n.file === 'pkg/b/zarf.yaml' && n.line === 7)?.why).toContain('a cycle');
    expect(notes.find((n) => n.file === 'pkg/zarf.yaml' && n.line === 10)?.why).toContain('outside the package\'s directory');
    // Eight imports deep are followed (deep/0 … deep/7), the ninth is named.
    expect(refs.filter((x: string) => x.includes('/deep-'))).toHaveLength(8);
    expect(notes.find((n) => n.file === 'pkg/deep/7/zarf.yaml')?.why).toContain('nested more than 8 imports deep');
  });

  it('reads an imported file with the manifest reader\'s bounds: an alias bomb there is refused, naming it, and nothing is written', { timeout: 60_000 }, async () => {
    const levels = aliasBomb();
    const dir = await dirWith('zarf-import-bomb', {
      'pkg/zarf.yaml': zarf('top', '  - name: c\n    import:\n      path: sub\n'),
      'pkg/sub/zarf.yaml': `kind: ZarfPackageConfig\nmetadata: { name: sub }\n${levels.join('\n')}\ncomponents:\n  - name: c\n    images: *i\n`,
    });
    const r = await runFerry(['convert', 'zarf', 'pkg/zarf.yaml', '-o', 'out.yaml'], { cwd: dir });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/expands to more than 100000 nodes through aliases/);
    expect(r.stderr).toContain('pkg/sub/zarf.yaml');
    expect(existsSync(path.join(dir, 'out.yaml'))).toBe(false);
  });

  // Zarf 1.0 writes zarf.dev/v1beta1 (convert48 reads it); an apiVersion Zarf does not define is refused, saying which are read.
  it('refuses an apiVersion Zarf does not define, saying why', async () => {
    const dir = await dirWith('zarf-beta', { 'zarf.yaml': 'apiVersion: zarf.dev/v2\nkind: ZarfPackageConfig\nmetadata: { name: b }\ncomponents:\n  - name: c\n    images:\n      - name: nginx:1\n' });
    const r = await runFerry(['convert', 'zarf', 'zarf.yaml'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('apiVersion "zarf.dev/v2" is not read; ferry converts zarf.dev/v1alpha1 and zarf.dev/v1beta1');
  });
});
