import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditReport, Finding } from '../../src/audit/audit.js';
import { runFerry } from '../support/cli.js';
import { writeTree } from '../support/fs-tree.js';
import { offlineWork } from '../support/offline-lock.js';

/**
 * recall12: images operators pull that no `image:` field names, read from real install manifests
 * (excerpts written from the sources cited on each file):
 * - Strimzi, strimzi/strimzi-kafka-operator packaging/install/cluster-operator/060-Deployment-strimzi-cluster-operator.yaml:
 *   `STRIMZI_KAFKA_IMAGES`, a literal block of `version=image` lines;
 * - Tekton, tektoncd/pipeline config/controller.yaml: `-shell-image` then the image as the next
 *   args item (a site that sets a Docker Hub short name, as `ko resolve` output may);
 * - trivy-operator, aquasecurity/trivy-operator deploy/static/trivy-operator.yaml: the
 *   trivy-operator-trivy-config ConfigMap's `trivy.repository` + `trivy.tag`, `trivy.dbRepository`
 *   (the vulnerability DB, an OCI artifact whose tag trivy picks);
 * - Knative, knative/serving config/core/configmaps/deployment.yaml: `queue-sidecar-image` in the
 *   config-deployment ConfigMap.
 */
const MIRROR = 'registry.site.internal/ferry';
const KAFKA = (v: string) => `quay.io/strimzi/kafka:0.45.0-kafka-${v}`;
const LOCKED = [KAFKA('3.8.0'), KAFKA('3.9.0'), 'docker.io/library/busybox:1.36', 'mirror.gcr.io/aquasec/trivy:0.72.0', 'mirror.gcr.io/aquasec/trivy-db:2', 'gcr.io/knative-releases/knative.dev/serving/cmd/queue:v1.19.0'];

const STRIMZI = [
  'apiVersion: apps/v1', // 1
  'kind: Deployment',
  'metadata:',
  '  name: strimzi-cluster-operator',
  'spec:', // 5
  '  template:',
  '    spec:',
  '      containers:',
  '        - name: strimzi-cluster-operator',
  '          image: quay.io/strimzi/operator:0.45.0', // 10
  '          env:',
  '            - name: STRIMZI_KAFKA_IMAGES',
  '              value: |',
  `                3.8.0=${KAFKA('3.8.0')}`,
  `                3.8.1=${KAFKA('3.8.1')}`, // 15
  `                3.9.0=${KAFKA('3.9.0')}`,
  '            - name: STRIMZI_DEFAULT_KAFKA_INIT_IMAGE',
  '              value: busybox:1.36',
  '            - name: STRIMZI_DEFAULT_MAVEN_BUILDER',
  '              value: quay.io/strimzi/maven-builder:0.45.0', // 20
  '',
].join('\n');

const TEKTON = [
  'apiVersion: apps/v1', // 1
  'kind: Deployment',
  'metadata:',
  '  name: tekton-pipelines-controller',
  'spec:', // 5
  '  template:',
  '    spec:',
  '      containers:',
  '      - name: tekton-pipelines-controller',
  '        image: ghcr.io/tektoncd/pipeline/controller:v1.3.0', // 10
  '        args: [',
  '          "-shell-image", "busybox:1.36",',
  '          "--extra-image=busybox:1.36",',
  '        ]',
  '',
].join('\n');

const TRIVY = [
  'kind: ConfigMap', // 1
  'apiVersion: v1',
  'metadata:',
  '  name: trivy-operator-trivy-config',
  'data:', // 5
  '  trivy.repository: "mirror.gcr.io/aquasec/trivy"',
  '  trivy.tag: "0.72.0"',
  '  trivy.imagePullPolicy: "IfNotPresent"',
  '  trivy.dbRepository: "mirror.gcr.io/aquasec/trivy-db"',
  '  trivy.javaDbRepository: "mirror.gcr.io/aquasec/trivy-java-db"', // 10
  '  trivy.command: "image"',
  '',
].join('\n');

const KNATIVE = [
  'apiVersion: v1', // 1
  'kind: ConfigMap',
  'metadata:',
  '  name: config-deployment',
  '  namespace: knative-serving', // 5
  'data:',
  '  queue-sidecar-image: gcr.io/knative-releases/knative.dev/serving/cmd/queue:v1.19.0',
  '',
].join('\n');

const FILES = { 'strimzi.yaml': STRIMZI, 'tekton.yaml': TEKTON, 'trivy.yaml': TRIVY, 'knative.yaml': KNATIVE };

let work = '';
beforeAll(async () => {
  work = await offlineWork('ferry-recall12-', LOCKED);
});
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

async function audit(dir: string): Promise<Finding[]> {
  const r = await runFerry(['audit', dir, '--manifest', 'm.yaml', '--target', 't.yaml', '--format', 'json'], { cwd: work });
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as AuditReport).findings;
}

const images = (f: Finding[], file: string) =>
  f
    .filter((x) => x.file === file && x.kind === 'image')
    .map((x) => `${x.line} ${x.value}`)
    .sort();

describe('recall12: images operators are handed outside image: fields', () => {
  it('audit: each name=ref entry of an IMAGES variable at its line, a short name a variable or flag names an image, flat repository/tag keys as one image', async () => {
    await writeTree(path.join(work, 'audit'), FILES);
    const f = await audit('audit');
    expect(images(f, 'audit/strimzi.yaml')).toEqual([`10 quay.io/strimzi/operator:0.45.0`, `14 ${KAFKA('3.8.0')}`, `15 ${KAFKA('3.8.1')}`, `16 ${KAFKA('3.9.0')}`, '18 busybox:1.36', '20 quay.io/strimzi/maven-builder:0.45.0'].sort());
    expect(f.find((x) => x.file === 'audit/strimzi.yaml' && x.line === 15)?.class).toBe('undeclared');
    expect(images(f, 'audit/tekton.yaml')).toEqual(['10 ghcr.io/tektoncd/pipeline/controller:v1.3.0', '12 busybox:1.36', '13 busybox:1.36']);
    // busybox:1.36 is locked (docker.io/library/busybox): the audit knows it is carried.
    expect(f.filter((x) => x.file === 'audit/tekton.yaml' && x.line === 12).map((x) => x.class)).toEqual(['mirrored']);
    expect(images(f, 'audit/trivy.yaml')).toEqual(['10 mirror.gcr.io/aquasec/trivy-java-db', '6 mirror.gcr.io/aquasec/trivy:0.72.0', '9 mirror.gcr.io/aquasec/trivy-db']);
    const db = f.find((x) => x.file === 'audit/trivy.yaml' && x.line === 9)!;
    expect(db.note).toContain('the program reading this map picks the tag, so which tag is pulled is unknown here');
    // Not a bare host any more: the repository is read with its tag as one image.
    expect(f.filter((x) => x.file === 'audit/trivy.yaml' && x.kind === 'host')).toEqual([]);
  }, 60_000);

  it('rewrite manifests: list entries move inside the literal block, ConfigMap image keys and repository/tag keys move, what the lock lacks is named', async () => {
    await writeTree(path.join(work, 'rw'), FILES);
    const r = await runFerry(['rewrite', 'manifests', 'rw', '-t', 't.yaml', '--lock', 'm.lock.json', '--allow-unmapped', '--json'], { cwd: work });
    expect(r.code, r.stderr).toBe(0);
    const strimzi = await readFile(path.join(work, 'rw/strimzi.yaml'), 'utf8');
    expect(strimzi).toBe(
      STRIMZI.replace(`3.8.0=${KAFKA('3.8.0')}`, `3.8.0=${MIRROR}/${KAFKA('3.8.0')}`)
        .replace(`3.9.0=${KAFKA('3.9.0')}`, `3.9.0=${MIRROR}/${KAFKA('3.9.0')}`)
        .replace('value: busybox:1.36', `value: ${MIRROR}/docker.io/library/busybox:1.36`),
    );
    const tekton = await readFile(path.join(work, 'rw/tekton.yaml'), 'utf8');
    expect(tekton).toContain(`"-shell-image", "${MIRROR}/docker.io/library/busybox:1.36",`);
    expect(tekton).toContain(`"--extra-image=${MIRROR}/docker.io/library/busybox:1.36",`);
    const trivy = await readFile(path.join(work, 'rw/trivy.yaml'), 'utf8');
    expect(trivy).toBe(TRIVY.replace('trivy.repository: "mirror.gcr.io', `trivy.repository: "${MIRROR}/mirror.gcr.io`).replace('trivy.dbRepository: "mirror.gcr.io', `trivy.dbRepository: "${MIRROR}/mirror.gcr.io`));
    expect(await readFile(path.join(work, 'rw/knative.yaml'), 'utf8')).toBe(KNATIVE.replace('image: gcr.io', `image: ${MIRROR}/gcr.io`));
    const out = JSON.parse(r.stdout) as { unmapped: Array<{ file: string; line: number; ref: string; where?: string }>; warnings: string[] };
    const missing = out.unmapped.map((u) => `${path.basename(u.file)}:${u.line} ${u.ref}`).sort();
    expect(missing).toEqual([`strimzi.yaml:10 quay.io/strimzi/operator:0.45.0`, `strimzi.yaml:15 ${KAFKA('3.8.1')}`, 'tekton.yaml:10 ghcr.io/tektoncd/pipeline/controller:v1.3.0', 'trivy.yaml:10 mirror.gcr.io/aquasec/trivy-java-db'].sort());
    expect(out.unmapped.find((u) => u.line === 15)?.where).toContain('STRIMZI_KAFKA_IMAGES');
    expect(out.warnings.join('\n')).toContain('quay.io/strimzi/maven-builder:0.45.0, a string that looks like an image reference (STRIMZI_DEFAULT_MAVEN_BUILDER)');
    expect(out.warnings.join('\n')).toContain('data["trivy.dbRepository"] names a repository with no tag beside it');
  }, 60_000);
});
