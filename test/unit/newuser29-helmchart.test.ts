import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDocument, type YAMLMap } from 'yaml';
import { k3sRewrite } from '../../src/audit/audit.js';
import { chartSourcesOf, helmChartObjectOf, helmSetValues } from '../../src/audit/chart-sources.js';
import { scanPaths } from '../../src/audit/scan.js';

/**
 * k3s/RKE2 HelmChart objects as hostile input (new-user round 29): what a scanned file says is read
 * in bounded time, and only as helm-controller reads it.
 */
describe('HelmChart reading', () => {
  it('spec.set keys become the values they set, escaped dots kept in a key, siblings sharing their parent', () => {
    const doc = parseDocument('set:\n  image.repository: quay.io/a/b\n  image.tag: "1"\n  a\\.b.c: x\n');
    const values = helmSetValues(doc.get('set', true) as YAMLMap).toJSON();
    expect(values).toEqual({ image: { repository: 'quay.io/a/b', tag: '1' }, 'a.b': { c: 'x' } });
  });

  it('a spec.set of 50 000 keys is built in one pass', { timeout: 30_000 }, () => {
    const lines = Array.from({ length: 50_000 }, (_, i) => `  k${i}.x: v`);
    const doc = parseDocument(`set:\n${lines.join('\n')}\n`, { uniqueKeys: false });
    const values = helmSetValues(doc.get('set', true) as YAMLMap);
    expect(values.items.length).toBe(50_000);
  });

  it('passes spec.set as helm-controller does: --set for numbers, booleans and null, --set-string (commas escaped) otherwise', () => {
    const doc = parseDocument('apiVersion: helm.cattle.io/v1\nkind: HelmChart\nmetadata: {name: x}\nspec:\n  chart: x\n  set:\n    replicas: 2\n    on: "true"\n    list: a,b\n    kept: a\\,b\n');
    const h = helmChartObjectOf(doc.contents)!;
    expect(h.set).toEqual(['replicas=2', 'on=true']);
    expect(h.setString).toEqual(['list=a\\,b', 'kept=a\\,b']);
  });

  it('a HelmChart with spec.chartContent, or a chart k3s fills in, has no source outside', () => {
    const src = (spec: string) => chartSourcesOf(parseDocument(`apiVersion: helm.cattle.io/v1\nkind: HelmChart\nmetadata: {name: x}\nspec:\n${spec}`).contents);
    expect(src('  chart: oci://r.example/charts/x\n  chartContent: H4sI\n')).toEqual([]);
    expect(src('  chart: https://%{KUBERNETES_API}%/static/charts/x-1.0.0.tgz\n')).toEqual([]);
    expect(src('  chart: oci://r.example/charts/x:1.2.0\n').map((s) => [s.repo, s.chart, s.version, s.ociTag])).toEqual([['oci://r.example/charts', 'x', '1.2.0', '1.2.0']]);
    expect(src('  repo: https://charts.example/stable\n  chart: x\n  version: 1.x\n').map((s) => [s.keyPath, s.form, s.repo, s.chart, s.version])).toEqual([['spec.repo', 'http', 'https://charts.example/stable', 'x', '1.x']]);
  });

  it('does not run a registries.yaml rewrite pattern whose backtracking could grow without bound', { timeout: 10_000 }, () => {
    const entry = { endpoints: ['https://m.example/v2/'], rewrites: [['^(a+)+$', 'x'] as [string, string], ['^.*.*.*.*x$', 'y'] as [string, string]] };
    expect(k3sRewrite(entry, 'm.example', `${'a'.repeat(64)}!`)).toBe(`${'a'.repeat(64)}!`);
    expect(k3sRewrite({ endpoints: ['https://m.example/v2/'], rewrites: [['^rancher/(.*)$', 'ferry/docker.io/rancher/$1']] }, 'm.example', 'rancher/x')).toBe('ferry/docker.io/rancher/x');
    // Only the registry's default endpoint: pulled without rewrites.
    expect(k3sRewrite({ endpoints: ['https://m.example'], rewrites: [['^rancher/(.*)$', 'y/$1']] }, 'm.example', 'rancher/x')).toBeUndefined();
  });

  it('a valuesContent denser than ferry parses is read as text, not parsed', { timeout: 20_000 }, async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-nu29-'));
    try {
      // Under the file's own bound (a `\n` escape is no line of the file), over it once unescaped.
      const dense = JSON.stringify(`- image: ghcr.io/a/b:1${'\n- a'.repeat(600_000)}`);
      await writeFile(path.join(dir, 'hc.yaml'), `apiVersion: helm.cattle.io/v1\nkind: HelmChart\nmetadata: {name: x}\nspec:\n  chart: x\n  valuesContent: ${dense}\n`);
      const scan = await scanPaths([dir], dir);
      expect(scan.skipped).toEqual([]);
      // Found all the same, line by line, without a values key path.
      expect(scan.references.filter((r) => r.value === 'ghcr.io/a/b:1').map((r) => r.keyPath)).toEqual(['spec.valuesContent']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
