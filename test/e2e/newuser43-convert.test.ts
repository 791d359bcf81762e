import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateManifest } from '../../src/kinds/schema.js';
import { mustRunFerry, runFerry } from '../support/cli.js';
import { seedImages, skopeoDigest, type SeededImages } from '../support/images.js';
import { ferryEnv, startRegistry, type RunningRegistry } from '../support/registry.js';
import { ACTIVE_TERMINAL, aliasBombLevels, manifestChecker, writeTree, type ManifestChecker } from '../support/convert-output.js';

/**
 * `ferry convert zarf|hauler`: a Zarf package definition or Hauler manifests become a ferry
 * manifest that ferry's own schema accepts (checked twice: the loader, and the JSON Schema
 * `ferry schema manifest` prints, through Ajv), with every item not carried named with its
 * file:line and component, in the file's leading comment and on stderr. Fixtures are written
 * here (shaped after zarf-dev/zarf examples/ and hauler-dev/hauler testdata/, not copied).
 */

let work: string;
let accepted: ManifestChecker['accepted'];

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-newuser43-'));
  ({ accepted } = await manifestChecker());
});

const dirWith = (name: string, files: Record<string, string>) => writeTree(path.join(work, name), files);

const ZARF = `kind: ZarfPackageConfig
metadata:
  name: shop
  description: The shop, packaged with Zarf
  version: 1.2.0
components:
  - name: web
    required: true
    images:
      - nginx:1.27
      - docker.io/library/nginx:1.27
      - ghcr.io/acme/web:###ZARF_PKG_TMPL_WEB_TAG###
      - ghcr.io/acme/sidecar:###ZARF_VAR_SIDECAR_TAG###
    charts:
      - name: web
        url: https://charts.acme.example/stable
        repoName: acme-web
        version: 3.1.0
        namespace: web
        valuesFiles:
          - values/web.yaml
          - https://raw.example/values.yaml
        variables:
          - name: REPLICAS
            path: replicaCount
      - name: cache
        url: oci://registry.acme.example/charts/redis
        version: 19.0.1
      - name: tagged
        url: oci://registry.acme.example/charts/queue:2.0.0
      - name: from-git
        url: https://github.com/acme/charts.git@v1.0.0
        gitPath: charts/thing
        version: 1.0.0
      - name: local-one
        localPath: chart
    files:
      - source: https://downloads.acme.example/tool-1.0-linux-amd64.tar.gz
        shasum: AB0C1D2E3F4A5B6C7D8E9F0A1B2C3D4E5F6A7B8C9D0E1F2A3B4C5D6E7F8A9B0C
        target: /usr/local/bin/tool
        extractPath: tool
      - source: https://downloads.acme.example/cli
        target: /usr/local/bin/tool
      - source: scripts/setup.sh
        target: /opt/setup.sh
    repos:
      - https://github.com/acme/gitops.git
    manifests:
      - name: extras
        files: [extras.yaml]
    actions:
      onDeploy:
        after:
          - cmd: ./setup.sh
    dataInjections:
      - source: data/
        target: { namespace: web, selector: app=web, container: web, path: /data }
    frobnicate: true
  - name: shared
    import:
      path: ../common
  - name: rocky
    only:
      flavor: rocky
    images:
      - rockylinux:9
`;

describe('ferry convert zarf', () => {
  it('writes a manifest ferry accepts, sorted and merged, naming every item not carried with its place', async () => {
    const dir = await dirWith('zarf-shop', { 'pkg/zarf.yaml': ZARF, 'pkg/values/web.yaml': 'replicaCount: 2\n' });
    const out = path.join(dir, 'out', 'manifest.yaml');
    const r = await runFerry(['convert', 'zarf', 'pkg/zarf.yaml', '--set', 'web_tag=2.4.1', '-o', out], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const m = await accepted(out);
    expect(m.metadata).toEqual({ name: 'shop', description: 'The shop, packaged with Zarf' });
    // nginx twice (short and full) is one entry; the --set template filled in; sorted by reference.
    expect(m.images).toEqual([{ ref: 'docker.io/library/nginx:1.27' }, { ref: 'ghcr.io/acme/web:2.4.1' }]);
    expect(m.charts).toEqual([
      { name: 'acme-web', repo: 'https://charts.acme.example/stable', version: '3.1.0', values: ['../pkg/values/web.yaml'] },
      { name: 'queue', repo: 'oci://registry.acme.example/charts', version: '2.0.0' },
      { name: 'redis', repo: 'oci://registry.acme.example/charts', version: '19.0.1' },
    ]);
    // The archive Zarf extracts `tool` from is carried under its own name, and its shasum (the
    // extracted file's, as Zarf checks it) does not pin the archive.
    expect(m.files).toEqual([
      { name: 'tool', url: 'https://downloads.acme.example/cli' },
      { name: 'tool-1.0-linux-amd64.tar.gz', url: 'https://downloads.acme.example/tool-1.0-linux-amd64.tar.gz' },
    ]);
    const text = await readFile(out, 'utf8');
    const comment = text.split('\n').filter((l) => l.startsWith('#')).join('\n');
    const expected: Array<[number, string]> = [
      [13, 'ghcr.io/acme/sidecar:###ZARF_VAR_SIDECAR_TAG###'],
      [22, 'valuesFiles: https://raw.example/values.yaml'],
      [24, 'variables'],
      [31, 'from-git'],
      [35, 'local-one'],
      [44, 'scripts/setup.sh'],
      [47, 'repos: https://github.com/acme/gitops.git'],
      [49, 'manifests: extras'],
      [52, 'actions'],
      [56, 'dataInjections: data/'],
      [58, 'frobnicate'],
    ];
    for (const [line, item] of expected) {
      const at = `pkg/zarf.yaml:${line} (component web): `;
      expect(comment, `${at}${item}`).toContain(at);
      expect(comment.split('\n').find((l) => l.includes(at) && l.includes(item)), `${at}${item}`).toBeTruthy();
      expect(r.stderr.split('\n').find((l) => l.includes(`not carried: ${at}`) && l.includes(item)), `${at}${item} on stderr`).toBeTruthy();
    }
    expect(comment).toContain('pkg/zarf.yaml:61 (component shared): import: ../common');
    expect(comment).toContain('ferry convert zarf common/zarf.yaml pkg/zarf.yaml');
    expect(comment).toContain('pkg/zarf.yaml:64 (component rocky): only.flavor: rocky');
    expect(comment).toContain('--flavor rocky');
    // Carried, but not as Zarf has it: the version the OCI URL named, the archive Zarf extracts from.
    expect(comment).toMatch(/Carried differently \(1\):\n#   pkg\/zarf\.yaml:38 \(component web\): files: https:\/\/downloads\.acme\.example\/tool-1\.0-linux-amd64\.tar\.gz: carried whole/);
    expect(r.stdout).toContain(`wrote ${out} (2 images, 3 charts, 2 files; 13 not carried)`);

    // Deterministic: the same input again (with --force) gives the same bytes.
    await mustRunFerry(['convert', 'zarf', 'pkg/zarf.yaml', '--set', 'WEB_TAG=2.4.1', '-o', out, '--force'], { cwd: dir });
    expect(await readFile(out, 'utf8')).toBe(text);
  });

  it('converts the components of the flavor asked for, and a template without --set is named, not guessed', async () => {
    const dir = await dirWith('zarf-flavor', { 'zarf.yaml': ZARF });
    const r = await runFerry(['convert', 'zarf', 'zarf.yaml', '--flavor', 'rocky', '--json'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.manifest.images.map((i: { ref: string }) => i.ref)).toEqual(['docker.io/library/nginx:1.27', 'docker.io/library/rockylinux:9']);
    const web = j.notCarried.find((n: { item: string }) => n.item.includes('###ZARF_PKG_TMPL_WEB_TAG###'));
    expect(web).toMatchObject({ file: 'zarf.yaml', line: 12, component: 'component web' });
    expect(web.todo).toContain('--set WEB_TAG=<value>');
    validateManifest(j.manifest, 'json');
  });

  it('never replaces an existing file without --force, and leaves no temp file', async () => {
    const dir = await dirWith('zarf-exists', { 'zarf.yaml': ZARF, 'manifest.yaml': 'mine\n' });
    const r = await runFerry(['convert', 'zarf', 'zarf.yaml', '-o', 'manifest.yaml'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('manifest.yaml: exists; ferry convert does not replace a file');
    expect(r.stderr).toContain('--force');
    expect(await readFile(path.join(dir, 'manifest.yaml'), 'utf8')).toBe('mine\n');
    expect((await readdir(dir)).sort()).toEqual(['manifest.yaml', 'zarf.yaml']);
  });
});

const HAULER = `apiVersion: content.hauler.cattle.io/v1
kind: Images
metadata:
  name: site-images
spec:
  images:
    - name: busybox
    - name: docker.io/library/busybox:latest
      platform: linux/arm64
    - name: ghcr.io/acme/signed:1.0
      key: keys/cosign.pub
    - name: ghcr.io/acme/keyless:2.0
      certificate-identity-regexp: https://github.com/acme/.*
      certificate-oidc-issuer: https://token.actions.githubusercontent.com
    - name: ghcr.io/acme/quiet:3.0
      exclude-extras: true
    - name: from-my-laptop:dev
      local: true
---
apiVersion: content.hauler.cattle.io/v1
kind: Charts
metadata:
  name: site-charts
spec:
  charts:
    - name: rancher
      repoURL: https://releases.rancher.example/server-charts/stable
      version: 2.9.1
      valuesFiles: [values/rancher.yaml]
    - name: hauler-helm
      repoURL: oci://ghcr.io/hauler-dev
    - name: local-chart-1.0.0.tgz
      repoURL: testdata
---
apiVersion: content.hauler.cattle.io/v1
kind: Files
metadata:
  name: site-files
spec:
  files:
    - path: https://get.example.io/install.sh
      name: rke2-install.sh
    - path: https://get.example.io/install.sh
    - path: notes/readme.txt
---
apiVersion: collection.hauler.cattle.io/v1
kind: ThickCharts
metadata:
  name: thick
spec: {}
`;

describe('ferry convert hauler', () => {
  it('reads every document, carries Images, Charts and Files, and names the rest', async () => {
    const dir = await dirWith('hauler-site', { 'hauler/site.yaml': HAULER, 'hauler/values/rancher.yaml': 'x: 1\n', 'keys/cosign.pub': 'key\n' });
    const out = path.join(dir, 'ferry', 'manifest.yaml');
    const r = await runFerry(['convert', 'hauler', 'hauler/site.yaml', '-o', out], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const m = await accepted(out);
    expect(m.metadata).toEqual({ name: 'site-images' });
    // busybox listed for all platforms and for one: one entry, every platform.
    expect(m.images).toEqual([
      { ref: 'docker.io/library/busybox:latest' },
      { ref: 'ghcr.io/acme/keyless:2.0' },
      { ref: 'ghcr.io/acme/quiet:3.0', extras: false },
      { ref: 'ghcr.io/acme/signed:1.0', verify: { keys: ['../keys/cosign.pub'] } },
    ]);
    expect(m.charts).toEqual([
      { name: 'hauler-helm', repo: 'oci://ghcr.io/hauler-dev', version: '*' },
      { name: 'rancher', repo: 'https://releases.rancher.example/server-charts/stable', version: '2.9.1', values: ['../hauler/values/rancher.yaml'] },
    ]);
    expect(m.files).toEqual([{ name: 'rke2-install.sh', url: 'https://get.example.io/install.sh' }]);
    const comment = (await readFile(out, 'utf8')).split('\n').filter((l) => l.startsWith('#'));
    const find = (s: string) => comment.find((l) => l.includes(s));
    expect(find('hauler/site.yaml:13 (Images/site-images): images: ghcr.io/acme/keyless:2.0 certificate-identity-regexp')).toBeTruthy();
    expect(find('hauler/site.yaml:18 (Images/site-images): images: from-my-laptop:dev local: true')).toBeTruthy();
    expect(find('hauler/site.yaml:32 (Charts/site-charts): charts: local-chart-1.0.0.tgz (repoURL: testdata)')).toBeTruthy();
    expect(find('hauler/site.yaml:44 (Files/site-files): files: notes/readme.txt')).toBeTruthy();
    expect(find('hauler/site.yaml:46 (ThickCharts/thick): collection.hauler.cattle.io/v1 ThickCharts')).toBeTruthy();
    expect(find('hauler/site.yaml:30 (Charts/site-charts): charts: hauler-helm: no version')).toBeTruthy();
    expect(r.stderr).toContain('not carried: hauler/site.yaml:18 (Images/site-images): images: from-my-laptop:dev local: true');
  });

  it('refuses a file with no Hauler content manifest, naming it', async () => {
    const dir = await dirWith('hauler-none', { 'deploy.yaml': 'apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: x }\n' });
    const r = await runFerry(['convert', 'hauler', 'deploy.yaml'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('deploy.yaml: no Images, Charts or Files manifest');
  });
});

describe('ferry convert: hostile input', () => {
  it('refuses a YAML alias bomb as the manifest reader does, writing nothing', { timeout: 60_000 }, async () => {
    const levels = aliasBombLevels();
    const bomb = `kind: ZarfPackageConfig\nmetadata: { name: bomb }\n${levels.join('\n')}\ncomponents:\n  - name: c\n    images: *i\n`;
    const dir = await dirWith('bomb', { 'zarf.yaml': bomb, 'hauler.yaml': `apiVersion: content.hauler.cattle.io/v1\nkind: Images\n${levels.join('\n')}\nspec:\n  images: *i\n` });
    for (const [format, file] of [['zarf', 'zarf.yaml'], ['hauler', 'hauler.yaml']]) {
      const r = await runFerry(['convert', format, file, '-o', 'out.yaml'], { cwd: dir });
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/expands to more than 100000 nodes through aliases/);
      expect(existsSync(path.join(dir, 'out.yaml'))).toBe(false);
    }
  });

  it('refuses a file larger than the manifest reader reads', async () => {
    const dir = await dirWith('big', { 'zarf.yaml': `kind: ZarfPackageConfig\n# ${'x'.repeat(600 * 1024)}\n` });
    const r = await runFerry(['convert', 'zarf', 'zarf.yaml'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('is larger than the 512 KiB ferry reads');
  });

  it('echoes no terminal control bytes, and carries no entry that holds them', async () => {
    const evil = `kind: ZarfPackageConfig
metadata: { name: evil }
components:
  - name: "x\\e]0;pwned\\a"
    images:
      - "ghcr.io/acme/app:1\\e[2J"
      - ghcr.io/acme/ok:1
    files:
      - source: "https://h.example/a\\u202egpj.exe"
    repos:
      - "https://h.example/r.git\\e[31m\\nimages: [evil]"
`;
    const dir = await dirWith('evil', { 'zarf.yaml': evil });
    const r = await runFerry(['convert', 'zarf', 'zarf.yaml', '-o', 'out.yaml'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    // eslint-disable-next-line no-control-regex
    const active = ACTIVE_TERMINAL;
    expect(r.stderr).not.toMatch(active);
    expect(r.stdout).not.toMatch(active);
    expect(r.stderr).toContain('\\x1b]0;pwned');
    const text = await readFile(path.join(dir, 'out.yaml'), 'utf8');
    expect(text).not.toMatch(active);
    const m = await accepted(path.join(dir, 'out.yaml'));
    // The repos line's newline stays inside its comment: no "images: [evil]" key appears.
    expect(m.images).toEqual([{ ref: 'ghcr.io/acme/ok:1' }]);
    expect(m.files).toBeUndefined();
    expect(text).toContain('holds control characters');
  });
});

describe('ferry convert, then lock', () => {
  let reg: RunningRegistry;
  let seeded: SeededImages;
  beforeAll(async () => {
    reg = await startRegistry({ mode: 'http' });
    seeded = await seedImages(reg, { prefix: 'zarf' });
  });
  afterAll(async () => {
    await reg?.stop();
  });

  it('a converted Zarf package locks against a loopback registry, to the digests skopeo sees', async () => {
    const zarf = `kind: ZarfPackageConfig
metadata: { name: loopback }
components:
  - name: apps
    images:
      - ${seeded.refs.app}
      - ${seeded.refs.multi}
  - name: more
    images:
      - ${seeded.refs.app}
      - ${reg.host}/zarf/docker:###ZARF_PKG_TMPL_TAG###
`;
    const dir = await dirWith('lock', { 'zarf.yaml': zarf });
    await mustRunFerry(['convert', 'zarf', 'zarf.yaml', '--set', 'TAG=1', '-o', 'manifest.yaml'], { cwd: dir });
    await accepted(path.join(dir, 'manifest.yaml'));
    const l = await runFerry(['lock', 'manifest.yaml'], { cwd: dir, env: { ...ferryEnv(reg), FERRY_CACHE_DIR: path.join(dir, 'cache') } });
    expect(l.code, l.stderr).toBe(0);
    const lock = JSON.parse(await readFile(path.join(dir, 'loopback.lock.json'), 'utf8')) as { images: Array<{ ref: string; digest: string }> };
    const got = Object.fromEntries(lock.images.map((i) => [i.ref, i.digest]));
    expect(got).toEqual({
      [seeded.refs.app]: await skopeoDigest(reg, seeded.refs.app),
      [seeded.refs.docker]: await skopeoDigest(reg, seeded.refs.docker),
      [seeded.refs.multi]: await skopeoDigest(reg, seeded.refs.multi),
    });
  });
});
