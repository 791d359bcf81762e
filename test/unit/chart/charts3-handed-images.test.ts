import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discoverChartImages } from '../../../src/kinds/chart/discover.js';
import { loadChart } from '../../../src/kinds/chart/load.js';
import { writeChart } from './helpers.js';

// An operator's flag or variable named for an image, in Docker Hub's short form
// (opentelemetry-kube-stack: --collector-image=otel/opentelemetry-collector-k8s:0.158.0): the
// operator pulls it, so it is carried and rewritten like any other image.
let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ferry-charts3-handed-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('images handed to an operator without a registry host', () => {
  it('count when the flag or variable is named for an image and the reference has a tag or digest', async () => {
    const dir = await writeChart(path.join(tmp, 'op'), {
      chart: { name: 'op', version: '1.0.0' },
      files: {
        'templates/d.yaml': [
          'apiVersion: apps/v1',
          'kind: Deployment',
          'metadata:',
          '  name: op',
          'spec:',
          '  template:',
          '    spec:',
          '      containers:',
          '      - name: manager',
          '        image: ghcr.io/example/operator:1.0.0',
          '        args:',
          '        - --collector-image=otel/opentelemetry-collector-k8s:0.158.0',
          '        - --image-pull-policy=IfNotPresent',
          '        - --default-image-repository=otel/collector',
          '        - --log-level=info:debug',
          '        - --name=busybox:1.36',
          '        env:',
          '        - name: SIDECAR_IMAGE',
          '        value: busybox:1.36',
          '',
        ].join('\n').replace('        value:', '          value:'),
      },
    });
    const found = discoverChartImages(await loadChart(dir, { allFiles: true }));
    const certain = found.images.filter((i) => i.certainty === 'certain').map((i) => i.ref).sort();
    expect(certain).toEqual(['docker.io/library/busybox:1.36', 'docker.io/otel/opentelemetry-collector-k8s:0.158.0', 'ghcr.io/example/operator:1.0.0']);
    // an unnamed flag in short form is no image: --name=busybox:1.36 is not listed from the args
    const busybox = found.images.find((i) => i.ref === 'docker.io/library/busybox:1.36')!;
    expect(busybox.sources.map((s) => s.fieldPath)).toEqual(['spec.template.spec.containers[0].env[0].value']);
  });
});
