import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify as stringifyYaml } from 'yaml';
import { runFerry } from '../support/cli.js';

/**
 * istiod's sidecar injector writes a proxy image into every pod that asks for injection. When the
 * chart's values compose none (an empty global.hub or global.tag), or one that is no image
 * reference, `charts images` used to list nothing for it and say nothing: the pods' image was
 * silently unknown. Now both are warnings that name the ConfigMap and the values.
 */

let work: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-istio-warn-'));
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

async function istiodChart(name: string, global: Record<string, unknown>): Promise<string> {
  const dir = path.join(work, name);
  await mkdir(path.join(dir, 'templates'), { recursive: true });
  await writeFile(path.join(dir, 'Chart.yaml'), stringifyYaml({ apiVersion: 'v2', name: 'istiod', version: '1.0.0' }));
  await writeFile(path.join(dir, 'values.yaml'), stringifyYaml({ global }));
  await writeFile(
    path.join(dir, 'templates', 'injector.yaml'),
    'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: istio-sidecar-injector\ndata:\n  values: {{ pick .Values "global" | toJson | quote }}\n  config: "templates: {sidecar: \'{{`{{ .ProxyImage }}`}}\'}"\n',
  );
  return dir;
}

describe("istiod's injector values that compose no proxy image", () => {
  it('a well-formed one is listed and draws no warning', async () => {
    const r = await runFerry(['charts', 'images', await istiodChart('ok', { hub: 'docker.io/istio', tag: '1.28.0', proxy: { image: 'proxyv2' } })]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('docker.io/istio/proxyv2:1.28.0');
    expect(r.stdout).not.toContain("istiod's sidecar injector");
  }, 60_000);

  it('an empty global.hub: a warning naming the ConfigMap and the values, not silence', async () => {
    const r = await runFerry(['charts', 'images', await istiodChart('nohub', { hub: '', tag: '1.28.0', proxy: { image: 'proxyv2' } })]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`warning: istiod's sidecar injector (ConfigMap istio-sidecar-injector) writes its proxy image into every pod that asks for injection, but its values compose none (global.hub "", global.tag "1.28.0"): which image those pods pull is unknown`);
  }, 60_000);

  it('a global.proxy.image that is no image reference: a warning, the value quoted', async () => {
    const r = await runFerry(['charts', 'images', await istiodChart('bad', { hub: 'docker.io/istio', tag: '1.28.0', proxy: { image: 'Vendor/Proxy:\u001b[31mX' } })]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`warning: istiod's sidecar injector (ConfigMap istio-sidecar-injector) writes "Vendor/Proxy:\\u001b[31mX" into every pod that asks for injection (istio-proxy, from global.proxy.image), which is no valid image reference`);
    expect(r.stdout).not.toContain('\u001b');
  }, 60_000);
});
