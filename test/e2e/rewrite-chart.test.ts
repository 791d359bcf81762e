import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ROOT, runFerry } from '../support/cli.js';

/**
 * `ferry rewrite chart` as a user runs it, on a real chart with a subchart (the corpus'
 * keycloak + postgresql): the images come from `ferry charts images`, the lock pins them, the
 * override moves every one of them to the mirror with keys scoped as Helm scopes subcharts.
 */
const CHART = path.resolve(ROOT, '../shared/corpus/charts/keycloak');
const sha = (s: string) => 'sha256:' + createHash('sha256').update(s).digest('hex');
let work: string;
let target: string;
let images: string[];

async function writeLock(file: string, refs: string[]): Promise<void> {
  const lock = {
    apiVersion: 'ferry/v1alpha1',
    kind: 'Lock',
    manifest: { name: 'kc', digest: sha('kc') },
    images: refs.map((ref) => ({ source: ref, ref, digest: sha(ref), mediaType: 'application/vnd.oci.image.index.v1+json', size: 1, manifests: [], blobs: [] })),
    charts: [],
    files: [],
    apt: [],
  };
  await writeFile(file, JSON.stringify(lock, null, 2));
}

beforeAll(async () => {
  expect(existsSync(CHART), `corpus chart missing at ${CHART}`).toBe(true);
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-rewrite-chart-'));
  target = path.join(work, 'target.yaml');
  await writeFile(target, 'apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: site }\nregistry:\n  url: https://registry.site.example\n  prefix: mirror\n');
  const r = await runFerry(['charts', 'images', CHART, '--json']);
  expect(r.code, r.stderr).toBe(0);
  const report = JSON.parse(r.stdout) as { charts: Array<{ images: Array<{ ref: string; certainty: string }> }> };
  images = report.charts[0].images.filter((i) => i.certainty === 'certain').map((i) => i.ref);
  expect(images).toContain('docker.io/bitnami/postgresql:17.6.0-debian-12-r4');
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('rewrite chart', () => {
  it('writes one override for the chart and its subchart; each report line names file:line old → new', async () => {
    const lock = path.join(work, 'lock.json');
    await writeLock(lock, images);
    const out = path.join(work, 'override.yaml');
    const r = await runFerry(['rewrite', 'chart', CHART, '-t', target, '--lock', lock, '-o', out]);
    expect(r.code, r.stderr).toBe(0);
    const o = parse(await readFile(out, 'utf8'));
    expect(o.image.registry).toBe('registry.site.example/mirror/docker.io');
    expect(o.postgresql.image.registry).toBe('registry.site.example/mirror/docker.io');
    expect(o.global).toEqual({ security: { allowInsecureImages: true } });
    expect(r.stdout).toMatch(/keycloak\/values\.yaml:\d+ {2}docker\.io → registry\.site\.example\/mirror\/docker\.io/);
    expect(r.stdout).toMatch(/charts\/postgresql\/values\.yaml:\d+ {2}docker\.io → /);
    expect(r.stdout).toMatch(/keycloak\/values\.yaml:21 {2}false → true/);
    expect(r.stdout).toContain('dependency postgresql of keycloak: oci://registry-1.docker.io/bitnamicharts → oci://registry.site.example/mirror/docker.io/bitnamicharts (vendored in charts/, nothing to fetch)');
    // Twice: the same bytes.
    const first = await readFile(out, 'utf8');
    const again = await runFerry(['rewrite', 'chart', CHART, '-t', target, '--lock', lock, '-o', out, '--dry-run', '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout).diff).toBe('');
    expect(await readFile(out, 'utf8')).toBe(first);
  });

  it('an image the lock lacks fails the command (exit 1) naming it; nothing is written', async () => {
    const lock = path.join(work, 'partial.json');
    await writeLock(lock, images.filter((i) => !i.includes('postgresql')));
    const out = path.join(work, 'partial-override.yaml');
    const r = await runFerry(['rewrite', 'chart', CHART, '-t', target, '--lock', lock, '-o', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('docker.io/bitnami/postgresql:17.6.0-debian-12-r4');
    expect(r.stderr).toContain('postgresql.image');
    expect(existsSync(out)).toBe(false);
  });
});

describe('rewrite chart renders as `charts images` does: --set, -n, --release-name, --kube-version', () => {
  const CONFIG_CLI = 'docker.io/bitnami/keycloak-config-cli:6.4.0-debian-12-r11';

  it('a --set switch that turns on an extra image makes rewrite cover it', async () => {
    // The mirror holds what the default release runs; keycloak-config-cli is only possible there.
    const lock = path.join(work, 'default-release.json');
    await writeLock(lock, images);
    expect(images).not.toContain(CONFIG_CLI);
    const plain = await runFerry(['rewrite', 'chart', CHART, '-t', target, '--lock', lock, '-o', path.join(work, 'plain.yaml')]);
    expect(plain.code, plain.stderr).toBe(0);
    expect(parse(await readFile(path.join(work, 'plain.yaml'), 'utf8')).keycloakConfigCli).toBeUndefined();

    // Switched on, its Job runs it: the mirror lacks it, so rewrite fails naming it and its key.
    const out = path.join(work, 'config-cli.yaml');
    const on = await runFerry(['rewrite', 'chart', CHART, '-t', target, '--lock', lock, '-o', out, '--set', 'keycloakConfigCli.enabled=true']);
    expect(on.code).toBe(1);
    expect(on.stderr).toContain(CONFIG_CLI);
    expect(on.stderr).toContain('keycloakConfigCli.image');
    expect(existsSync(out)).toBe(false);

    // With it on the mirror, the override moves it too.
    const full = path.join(work, 'with-config-cli.json');
    await writeLock(full, [...images, CONFIG_CLI]);
    const ok = await runFerry(['rewrite', 'chart', CHART, '-t', target, '--lock', full, '-o', out, '--set', 'keycloakConfigCli.enabled=true']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(parse(await readFile(out, 'utf8')).keycloakConfigCli).toEqual({ image: { registry: 'registry.site.example/mirror/docker.io' } });
    expect(ok.stdout).toMatch(/keycloak\/values\.yaml:\d+ {2}docker\.io → registry\.site\.example\/mirror\/docker\.io/);
  });

  it('the proof renders with the same flags: a --set the override cannot beat fails naming the resource in the given namespace and release', async () => {
    const lock = path.join(work, 'with-config-cli.json');
    await writeLock(lock, [...images, CONFIG_CLI]);
    const out = path.join(work, 'pinned.yaml');
    // helm applies --set after every -f file: an override cannot move a registry pinned so.
    const r = await runFerry([
      'rewrite', 'chart', CHART, '-t', target, '--lock', lock, '-o', out,
      '--set', 'keycloakConfigCli.enabled=true', '--set-string', 'global.imageRegistry=docker.io', '-n', 'identity', '--release-name', 'kc',
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/keycloak-config-cli-job\.yaml:\d+ {2}docker\.io\/bitnami\/keycloak-config-cli:6\.4\.0-debian-12-r11 {2}\(still points upstream in the render with the override/);
    expect(r.stderr).toContain('Job identity/kc-keycloak-keycloak-config-cli spec.template.spec.containers[0].image');
    expect(r.stderr).toContain('StatefulSet identity/kc-keycloak spec.template.spec.containers[0].image');
    expect(existsSync(out)).toBe(false);
  });

  it('--kube-version is checked as `charts images` checks it', async () => {
    const lock = path.join(work, 'lock.json');
    await writeLock(lock, images);
    const bad = await runFerry(['rewrite', 'chart', CHART, '-t', target, '--lock', lock, '--kube-version', 'banana']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--kube-version banana: expected v<major>.<minor>[.<patch>]');
    const ok = await runFerry(['rewrite', 'chart', CHART, '-t', target, '--lock', lock, '--kube-version', 'v1.31.0', '--api-versions', 'monitoring.coreos.com/v1', '-q']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(parse(ok.stdout).image.registry).toBe('registry.site.example/mirror/docker.io');
  });
});
