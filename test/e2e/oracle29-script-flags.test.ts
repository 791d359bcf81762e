import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify as stringifyYaml } from 'yaml';
import { runFerry } from '../support/cli.js';

/**
 * An injector handed its sidecar images in flags inside a shell-script command (Consul's connect
 * injector: `-consul-dataplane-image="REF" \` in a multi-line `/bin/sh -ec` item). Every pod it
 * injects pulls that image, and the oracle (chartrender -images -indirect-images) reads it, but
 * ferry read a list item only as one flag or one word: the image was missing, or only "possible,
 * not deployed with these values" when another template used the same value. Now the flags of a
 * script item are read as the list's own items are.
 */
let work: string;

const DEPLOY = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: injector
spec:
  template:
    spec:
      containers:
        - name: injector
          image: {{ .Values.injector.image | quote }}
          command:
            - "/bin/sh"
            - "-ec"
            - |
              mesh-control inject \\
                -log-level=info \\
                -dataplane-image="{{ .Values.dataplane }}" \\
                --init-image '{{ .Values.initContainer }}' \\
                -listen=:8080
              echo registry.example.com/other/tool:3
`;

interface Report {
  charts: Array<{ images: Array<{ ref: string; certainty: string; role?: string; sources: Array<{ kind: string; fieldPath?: string; resource?: string }> }> }>;
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-oracle29-'));
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

async function chart(): Promise<string> {
  const dir = path.join(work, 'mesh');
  await mkdir(path.join(dir, 'templates'), { recursive: true });
  await writeFile(path.join(dir, 'Chart.yaml'), stringifyYaml({ apiVersion: 'v2', name: 'mesh', version: '1.0.0' }));
  await writeFile(
    path.join(dir, 'values.yaml'),
    stringifyYaml({ injector: { image: 'registry.example.com/mesh/control:2.0' }, dataplane: 'registry.example.com/mesh/dataplane:1.4', initContainer: 'registry.example.com/mesh/init:1.4' }),
  );
  await writeFile(path.join(dir, 'templates', 'deploy.yaml'), DEPLOY);
  return dir;
}

describe('images handed over in flags inside a shell-script command', () => {
  it('charts images: each flag naming an image is a certain operator image at the script item; bare words are not read', async () => {
    const dir = await chart();
    const r = await runFerry(['charts', 'images', dir, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const images = (JSON.parse(r.stdout) as Report).charts[0].images;
    const certain = images.filter((i) => i.certainty === 'certain').map((i) => i.ref).sort();
    expect(certain).toEqual(['registry.example.com/mesh/control:2.0', 'registry.example.com/mesh/dataplane:1.4', 'registry.example.com/mesh/init:1.4']);
    for (const ref of ['registry.example.com/mesh/dataplane:1.4', 'registry.example.com/mesh/init:1.4']) {
      const img = images.find((i) => i.ref === ref)!;
      expect(img.sources.filter((s) => s.kind === 'rendered').map((s) => `${s.resource} ${s.fieldPath}`)).toEqual(['apps/v1 Deployment injector spec.template.spec.containers[0].command[2]']);
    }
    // `echo REF` is a word of the script, not a hand-over: never certain
    expect(images.find((i) => i.ref === 'registry.example.com/other/tool:3')?.certainty).not.toBe('certain');
  }, 60_000);

  it('charts images (text): the handed image is listed as an operator image', async () => {
    const r = await runFerry(['charts', 'images', await chart()]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/certain \(3\)\n(?:.*\n)*? {4}registry\.example\.com\/mesh\/dataplane:1\.4 {2}\(operator\)/);
  }, 60_000);
});
