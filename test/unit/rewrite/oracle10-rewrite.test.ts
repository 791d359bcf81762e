import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discoverChartImages } from '../../../src/kinds/chart/discover.js';
import { loadChartDir } from '../../../src/kinds/chart/load.js';
import { imageValuesOf } from '../../../src/kinds/chart/lock.js';
import { findRenderedImages } from '../../../src/kinds/chart/discover/rendered.js';
import { renderChart } from '../../../src/kinds/chart/render/index.js';
import { createRewriteContext } from '../../../src/rewrite/context.js';
import { rewriteChart } from '../../../src/rewrite/chart.js';
import { chartLock, fixtureTarget, MIRROR, writeTree } from './helpers.js';

// The tenth rewrite pass over the tenth oracle pass's charts: each value set rewritten with
// `rewrite chart`, rendered with the override by an independent Go renderer, and every image
// compared with its mirror reference.
let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ferry-oracle10-rewrite-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** The chart written, its certain images locked as `ferry lock` records them, and `rewrite chart` run. */
async function rewriteLocked(name: string, files: Record<string, string>, allowUnmapped = false) {
  const dir = await writeTree(tmp, name, files);
  const chart = await loadChartDir(dir, undefined, { allFiles: true });
  const found = discoverChartImages(chart, {}).images.filter((i) => i.certainty === 'certain');
  const refs = found.map((i) => i.ref).sort();
  const ctx = createRewriteContext(await fixtureTarget(), chartLock(refs, imageValuesOf(found), name, '1.0.0'));
  return { chart, refs, r: await rewriteChart(dir, ctx, { allowUnmapped, render: {} }) };
}

// yugaware: `{{ registry }}/{{ name }}:{{ tag }}` with `image.postgres: {registry: "", name:
// postgres}`. Docker Hub's official image is `library/postgres` on the mirror; the registry key the
// proof found by rendering gave `<mirror>/docker.io/postgres`, a path the mirror does not hold.
// The key stayed in the override (with --allow-unmapped) while the report said the image was left
// as it is: the pod would have failed to pull.
const YUGAWARE = {
  'Chart.yaml': 'apiVersion: v2\nname: yugaware\nversion: 1.0.0\n',
  'values.yaml': ['image:', '  postgres:', '    registry: ""', '    name: postgres', "    tag: '14.23'", '  app: quay.io/yugabyte/yugaware:1.0', ''].join('\n'),
  'templates/_helpers.tpl': [
    '{{- define "full_image" -}}',
    '{{- $r := (get (get .root.Values.image .containerName) "registry") -}}',
    '{{- if $r }}{{ $r = printf "%s/" $r }}{{ end -}}',
    '{{- printf "%s%s:%s" $r (get (get .root.Values.image .containerName) "name") (toString (get (get .root.Values.image .containerName) "tag")) -}}',
    '{{- end -}}',
    '',
  ].join('\n'),
  'templates/sts.yaml': [
    'apiVersion: apps/v1',
    'kind: StatefulSet',
    'metadata:',
    '  name: yw',
    'spec:',
    '  template:',
    '    spec:',
    '      containers:',
    '        - name: app',
    '          image: {{ .Values.image.app }}',
    '        - name: postgres',
    '          image: {{ include "full_image" (dict "containerName" "postgres" "root" .) }}',
    '',
  ].join('\n'),
};

describe('rewrite chart never leaves a key that points an image at a path the mirror does not hold', () => {
  it('takes the key back, and the image stays upstream, named', async () => {
    const { chart, refs, r } = await rewriteLocked('yugaware', YUGAWARE, true);
    expect(refs).toEqual(['docker.io/library/postgres:14.23', 'quay.io/yugabyte/yugaware:1.0']);
    // the override, rendered: the app on the mirror, postgres exactly as before (not a mirror path that does not exist)
    const images = findRenderedImages(renderChart(chart, { values: [{ name: 'override', data: r.overrideValues }] }).documents).map((f) => f.ref).sort();
    expect(images).toEqual(['docker.io/library/postgres:14.23', `${MIRROR}/quay.io/yugabyte/yugaware:1.0`]);
    expect(r.overrideValues).toEqual({ image: { app: `${MIRROR}/quay.io/yugabyte/yugaware:1.0` } });
    expect(r.unmapped.map((u) => `${u.ref} ${u.reason.split(':')[0]}`)).toEqual(['docker.io/library/postgres:14.23 still points upstream in the render with the override']);
  });
});

// yugabyte's OpenTelemetryCollector: `image: {{ .Values.otelCollector.image | default
// "otel/opentelemetry-collector-contrib:0.114.0" | quote }}` with `otelCollector.image: ""`. No key
// held the image, so the proof found none, and the collector was named as left upstream although
// setting the empty key moves it.
const OTEL = {
  'Chart.yaml': 'apiVersion: v2\nname: yb\nversion: 1.0.0\n',
  'values.yaml': ['otelCollector:', '  image: ""', '  imagePullPolicy: ""', ''].join('\n'),
  'templates/otel.yaml': [
    'apiVersion: opentelemetry.io/v1beta1',
    'kind: OpenTelemetryCollector',
    'metadata:',
    '  name: yb-otel',
    'spec:',
    '  image: {{ .Values.otelCollector.image | default "otel/opentelemetry-collector-contrib:0.114.0" | quote }}',
    '',
  ].join('\n'),
};

describe('an empty image key the template defaults past', () => {
  it('is found by the proof and set to the mirror reference', async () => {
    const { refs, r } = await rewriteLocked('otel', OTEL);
    expect(refs).toEqual(['docker.io/otel/opentelemetry-collector-contrib:0.114.0']);
    expect(r.unmapped).toEqual([]);
    expect(r.overrideValues).toEqual({ otelCollector: { image: `${MIRROR}/docker.io/otel/opentelemetry-collector-contrib:0.114.0` } });
  });
});
