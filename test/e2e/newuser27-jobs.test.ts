import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../support/cli.js';
import { imagesLock, imagesManifest, NESTED_SITE_TARGET } from '../support/offline-lock.js';

/**
 * A platform team whose stack is installed by operators and their custom resources, not by Helm
 * values (new-user round 27): Istio from an `IstioOperator` (`spec.hub: docker.io/istio`,
 * `spec.tag: 1.24.2`, `spec.values.global.proxy.image: proxyv2`), Calico by the Tigera operator
 * (`Installation.spec.registry` + `imagePath`, composed `<registry><imagePath>/<imagePrefix><name>`),
 * Rook, the Prometheus Operator, ECK, the OpenTelemetry operator, CloudNativePG and Strimzi. The
 * images were listed in a manifest and locked; then `ferry rewrite manifests` and `ferry audit`
 * over the CRs.
 *
 * What tripped:
 * - `rewrite manifests` refused the whole tree: `spec.values.global.proxy.image: proxyv2` (a name
 *   istioctl puts behind `spec.hub`) was read as `docker.io/library/proxyv2`, "not in the lock";
 *   with --allow-unmapped, `spec.hub` and the Installation's `spec.registry` were left upstream
 *   without a word. Now a prefix field becomes the mirror's prefix (never a full image) when every
 *   image it composes is carried under one mirror prefix ending in `<path><name>`, the names behind
 *   it are no images of their own, a composed image the lock lacks is named, and a CR without an
 *   image field is named with the operator's default image.
 * - `ferry audit` read `spec.hub: docker.io/istio` and `spec.registry: quay.io/` as bare hosts
 *   ("undeclared"), not the images they mean; a CR with no image field (an Alertmanager, an
 *   Elasticsearch with only `spec.version`, a Kafka) was silently clean. Now the composed images
 *   are the findings (mirrored when carried), and a default image is reported with a note naming
 *   the operator's default. Per-operator knowledge is one table (src/kinds/image/operator-images.ts).
 *
 * Not fixed here: CloudNativePG's `spec.imageName` is found by audit but not rewritten (the key
 * rule wants a key ending in "image"); Strimzi's STRIMZI_KAFKA_IMAGES on the operator Deployment is
 * not rewritten.
 */

let work: string;
const IMAGES = [
  'docker.io/istio/pilot:1.24.2',
  'docker.io/istio/proxyv2:1.24.2',
  'quay.io/calico/node:v3.29.1',
  'quay.io/calico/cni:v3.29.1',
  'quay.io/prometheus/alertmanager:v0.27.0',
  'docker.elastic.co/elasticsearch/elasticsearch:8.16.1',
];
const MANIFEST = imagesManifest('platform', IMAGES);
const TARGET = NESTED_SITE_TARGET;
const ISTIO = `apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata:
  name: control-plane
spec:
  hub: docker.io/istio
  tag: 1.24.2
  values:
    global:
      proxy:
        image: proxyv2
`;
const CALICO = `apiVersion: operator.tigera.io/v1
kind: Installation
metadata:
  name: default
spec:
  registry: quay.io/
  imagePath: calico
`;
const MONITORING = `apiVersion: monitoring.coreos.com/v1
kind: Alertmanager
metadata:
  name: main
spec:
  replicas: 3
---
apiVersion: elasticsearch.k8s.elastic.co/v1
kind: Elasticsearch
metadata:
  name: logs
spec:
  version: 8.16.1
`;

const lock = (refs: string[]): string => imagesLock('platform', refs);

interface Finding {
  file: string;
  keyPath: string;
  kind: string;
  value: string;
  class: string;
  note?: string;
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-newuser27-'));
  await writeFile(path.join(work, 'm.yaml'), MANIFEST);
  await writeFile(path.join(work, 't.yaml'), TARGET);
  await writeFile(path.join(work, 'm.lock.json'), lock(IMAGES));
  await mkdir(path.join(work, 'crs'));
  await writeFile(path.join(work, 'crs', 'istio.yaml'), ISTIO);
  await writeFile(path.join(work, 'crs', 'calico.yaml'), CALICO);
  await writeFile(path.join(work, 'crs', 'monitoring.yaml'), MONITORING);
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('operators and their custom resources', () => {
  it('rewrite manifests points spec.hub and spec.registry at the mirror prefix, keeps the bare names, and names default images', async () => {
    const dir = path.join(work, 'rw');
    await cp(path.join(work, 'crs'), dir, { recursive: true });
    const r = await runFerry(['rewrite', 'manifests', dir, '-t', 't.yaml', '--lock', 'm.lock.json'], { cwd: work });
    expect(r.code, r.stderr).toBe(0);
    const istio = await readFile(path.join(dir, 'istio.yaml'), 'utf8');
    expect(istio).toContain('  hub: registry.site.internal/ferry/docker.io/istio\n');
    expect(istio).toContain('        image: proxyv2\n');
    expect(istio).toContain('  tag: 1.24.2\n');
    const calico = await readFile(path.join(dir, 'calico.yaml'), 'utf8');
    expect(calico).toContain('  registry: registry.site.internal/ferry/quay.io/\n');
    expect(calico).toContain('  imagePath: calico\n');
    // The Tigera names the lock lacks, and the CRs the operators complete with their default images.
    expect(r.stderr).toContain('quay.io/calico/typha');
    expect(r.stderr).toContain('quay.io/prometheus/alertmanager');
    expect(r.stderr).toContain('docker.elastic.co/elasticsearch/elasticsearch');
  });

  it('rewrite manifests leaves a hub whose composed image is not carried, and says which', async () => {
    const dir = path.join(work, 'rw-missing');
    await mkdir(dir);
    await writeFile(path.join(dir, 'istio.yaml'), ISTIO.replace('tag: 1.24.2', 'tag: 1.25.0'));
    const r = await runFerry(['rewrite', 'manifests', dir, '-t', 't.yaml', '--lock', 'm.lock.json'], { cwd: work });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('docker.io/istio/pilot:1.25.0');
    expect(await readFile(path.join(dir, 'istio.yaml'), 'utf8')).toContain('  hub: docker.io/istio\n');
  });

  it('audit reads spec.hub + spec.tag as the images istioctl pulls and reports operator defaults', async () => {
    const r = await runFerry(['audit', 'crs', '--manifest', 'm.yaml', '--target', 't.yaml', '--json'], { cwd: work });
    expect([0, 5], r.stderr).toContain(r.code);
    const findings = JSON.parse(r.stdout).findings as Finding[];
    const at = (value: string) => findings.find((f) => f.value === value);
    expect(findings.filter((f) => f.kind === 'host' && (f.value === 'docker.io' || f.value === 'quay.io'))).toEqual([]);
    expect(at('docker.io/istio/pilot:1.24.2')).toMatchObject({ keyPath: 'spec.hub', class: 'mirrored' });
    expect(at('docker.io/istio/proxyv2:1.24.2')).toMatchObject({ keyPath: 'spec.hub', class: 'mirrored' });
    expect(at('quay.io/calico/node')?.note).toContain('Tigera operator');
    const am = at('quay.io/prometheus/alertmanager');
    expect(am?.class).not.toBe('mirrored');
    expect(am?.note).toContain('default image');
    const es = at('docker.elastic.co/elasticsearch/elasticsearch:8.16.1');
    expect(es).toMatchObject({ keyPath: 'spec.image', class: 'mirrored' });
    expect(es?.note).toContain('no spec.image');
  });
});
