import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify as stringifyYaml } from 'yaml';
import { runFerry } from '../support/cli.js';
import { imagesLock, imagesManifest, NESTED_SITE_TARGET, PLACEHOLDER_DIGEST } from '../support/offline-lock.js';
import type { AuditReport } from '../../src/audit/audit.js';

/**
 * Round 27 of crafted input, against the readers this session added: Istio's sidecar injector
 * configuration a chart renders (`data.values` JSON, `data.config` YAML), a lock's `injects`, and
 * Flux post-build variables joined with the ConfigMaps their Kustomizations name.
 */

let work: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-hostile-27-'));
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

/**
 * An istiod-like chart whose injector ConfigMap writes `field` as a double-quoted scalar: the
 * rendered document's own density count sees `\x2c` (a comma once unescaped) as no token.
 */
async function injectorChart(name: string, field: 'values' | 'config', tokens: number): Promise<string> {
  const dir = path.join(work, name);
  await mkdir(path.join(dir, 'templates'), { recursive: true });
  await writeFile(path.join(dir, 'Chart.yaml'), stringifyYaml({ apiVersion: 'v2', name: 'istiod', version: '1.0.0' }));
  await writeFile(path.join(dir, 'values.yaml'), stringifyYaml({ global: { hub: 'docker.io/istio', tag: '1.28.0', proxy: { image: 'proxyv2' } } }));
  const values =
    field === 'values'
      ? `"\\x7b\\"global\\"\\x3a\\x7b\\"hub\\"\\x3a\\"docker.io/istio\\"\\x2c\\"tag\\"\\x3a\\"1.28.0\\"\\x2c\\"proxy\\"\\x3a\\x7b\\"image\\"\\x3a\\"proxyv2\\"\\x7d\\x7d\\x2c\\"z\\"\\x3a\\x5b{{ repeat ${tokens} \`\\x7b\\x7d\\x2c\` }}0\\x5d\\x7d"`
      : `{{ pick .Values "global" | toJson | quote }}`;
  const config =
    field === 'config'
      ? `"templates\\x3a \\x7bsidecar\\x3a \\"{{\`{{ .ProxyImage }}\`}}\\"\\x7d\\nz\\x3a \\x5b{{ repeat ${tokens} \`a\\x2c\` }}\\x5d"`
      : `"templates: {sidecar: '{{\`{{ .ProxyImage }}\`}}'}"`;
  await writeFile(path.join(dir, 'templates', 'injector.yaml'), `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: istio-sidecar-injector\ndata:\n  values: ${values}\n  config: ${config}\n`);
  return dir;
}

describe("Istio's injector configuration, as a crafted chart renders it", () => {
  it('a small one is read: the proxy image it injects', async () => {
    const r = await runFerry(['charts', 'images', await injectorChart('small', 'config', 10), '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { charts: Array<{ injects?: string[] }> }).charts[0].injects).toEqual(['docker.io/istio/proxyv2:1.28.0']);
  }, 60_000);

  // Before: parsed whole (2 M tokens of data.config: 24 s, 2.2 GB; 5 M empty objects of
  // data.values: 1.8 GB), and the image reported as found.
  for (const field of ['config', 'values'] as const)
    it(`data.${field} denser than 1 000 000 tokens once unescaped is refused before it is parsed, naming the document`, async () => {
      const r = await runFerry(['charts', 'images', await injectorChart(`dense-${field}`, field, 1_100_000), '--json']);
      expect(r.code, r.stdout).toBe(2);
      expect(r.stderr).toContain(`templates/injector.yaml: ConfigMap istio-sidecar-injector (Istio's sidecar injector) data.${field} has more than 1,000,000`);
      expect(r.stderr).toContain('the image it injects is unknown');
    }, 120_000);
});

describe("a lock's injects list (a lock arrives in a bundle)", () => {
  it('an entry that is no image reference among the chart\'s images is not reported as the injected image: the placeholder stays unknown', async () => {
    const dir = path.join(work, 'injects');
    await mkdir(path.join(dir, 'apps'), { recursive: true });
    const proxy = 'docker.io/istio/proxyv2:1.28.0';
    const crafted = ['=cmd|x', `${proxy}\u001b]0;PWNED\u0007\n| forged | row |`, 'a'.repeat(100_000), 'docker.io/istio/other:1'];
    const lock = JSON.parse(imagesLock('m', [proxy])) as Record<string, unknown>;
    lock.charts = [{ name: 'istiod', repo: 'https://charts.example', version: '1.28.0', requested: '1.28.0', source: 'http', digest: PLACEHOLDER_DIGEST, size: 1, images: [proxy], injects: [proxy, ...crafted] }];
    await writeFile(path.join(dir, 'm.lock.json'), JSON.stringify(lock));
    await writeFile(path.join(dir, 'm.yaml'), imagesManifest('m', [proxy]));
    await writeFile(path.join(dir, 'apps', 'ns.yaml'), 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  labels:\n    istio-injection: enabled\n');
    const r = await runFerry(['audit', 'apps', '--manifest', 'm.yaml', '--format', 'json'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const findings = (JSON.parse(r.stdout) as AuditReport).findings.filter((f) => f.file.endsWith('ns.yaml'));
    expect(findings.map((f) => f.value).sort()).toEqual([proxy, 'auto', 'auto', 'auto', 'auto'].sort());
    for (const f of findings.filter((x) => x.value === 'auto')) expect(f.note).toContain('which proxy image is unknown');
    expect(JSON.stringify(findings)).not.toContain('a'.repeat(200));
  }, 60_000);
});

describe('Flux variables joined with the ConfigMaps their Kustomizations name', () => {
  it('more than 100 000 settings in all is refused naming the files, not expanded (200 Kustomizations x 50 000 values took 3.4 GB)', async () => {
    const dir = path.join(work, 'flux');
    await mkdir(path.join(dir, 'r', 'apps'), { recursive: true });
    await mkdir(path.join(dir, 'r', 'clusters'), { recursive: true });
    const ref = 'ghcr.io/stefanprodan/podinfo:6.5.0';
    await writeFile(path.join(dir, 'm.yaml'), imagesManifest('fleet', [ref]));
    await writeFile(path.join(dir, 'm.lock.json'), imagesLock('fleet', [ref]));
    await writeFile(path.join(dir, 't.yaml'), NESTED_SITE_TARGET);
    const values = Array.from({ length: 40_000 }, (_, i) => `  V${i}: x\n`).join('');
    await writeFile(path.join(dir, 'r', 'clusters', 'cm.yaml'), `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: s, namespace: flux-system }\ndata:\n${values}`);
    const ks = (i: number) => `---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: { name: k${i}, namespace: flux-system }\nspec:\n  path: ./apps\n  postBuild:\n    substituteFrom: [{ kind: ConfigMap, name: s }]\n`;
    await writeFile(path.join(dir, 'r', 'clusters', 'ks.yaml'), [0, 1, 2].map(ks).join(''));
    await writeFile(path.join(dir, 'r', 'apps', 'pod.yaml'), 'apiVersion: v1\nkind: Pod\nmetadata: { name: p }\nspec:\n  containers:\n    - name: a\n      image: ghcr.io/stefanprodan/podinfo:${V1}\n');
    for (const args of [
      ['audit', 'r', '--manifest', 'm.yaml', '-t', 't.yaml', '--format', 'json'],
      ['rewrite', 'manifests', 'r', '-t', 't.yaml', '--lock', 'm.lock.json', '--dry-run'],
    ]) {
      const r = await runFerry(args, { cwd: dir });
      expect(r.code, `${args[0]}: ${r.stdout.slice(0, 500)}`).toBe(2);
      expect(r.stderr).toMatch(/Flux variables: the Kustomizations in the scan \(up to \S*r\/clusters\/ks\.yaml, naming ConfigMap\/s in \S*r\/clusters\/cm\.yaml\) set more than 100,000 values/);
    }
  }, 120_000);
});

describe('a Quadlet unit read as systemd reads it (systemd.syntax(7): continuation lines)', () => {
  it('a line continuing the one before (a comment block between skipped) is no Image= key: rewrite leaves it, and moves the real one', async () => {
    const dir = path.join(work, 'quadlet');
    await mkdir(path.join(dir, 'units'), { recursive: true });
    const ref = 'docker.io/library/nginx:1.25';
    await writeFile(path.join(dir, 'm.lock.json'), imagesLock('m', [ref]));
    await writeFile(path.join(dir, 't.yaml'), NESTED_SITE_TARGET);
    const unit = '[Unit]\nDescription=web\n\n[Container]\nEnvironment=A=1 \\\n# a comment inside the run\nImage=evil.example/x:1\nImage=docker.io/library/nginx:1.25\nExec=run \\\n  --flag\n';
    await writeFile(path.join(dir, 'units', 'web.container'), unit);
    const r = await runFerry(['rewrite', 'manifests', 'units', '-t', 't.yaml', '--lock', 'm.lock.json'], { cwd: dir });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(await readFile(path.join(dir, 'units', 'web.container'), 'utf8')).toBe(unit.replace(`Image=${ref}`, `Image=registry.site.internal/ferry/${ref}`));
  }, 60_000);
});
