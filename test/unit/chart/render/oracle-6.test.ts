import { describe, expect, it } from 'vitest';
import { renderChart } from '../../../../src/kinds/chart/render/index.js';
import { scratchCharts } from '../helpers.js';

// Sixth pass of real charts against the independent Go renderer (FairwindsOps, stevehipwell,
// groundhog2k, dysnix, bedag, adfinis, christianhuth, nicholaswilde, softonic, gimlet onechart,
// twuni docker-registry). Each expectation is what the oracle (Helm 3.14's behaviour) gives.

const chartWith = scratchCharts('ferry-oracle6-');

describe('.Files.Glob is a map of path to bytes for toYaml, toJson, toString and printf', () => {
  // bedag/vcluster: `checksum/manifests: {{ .Files.Glob (include "…manifests" $) | toYaml | sha256sum }}`
  // and the same for webhooks. Helm's Files is a map[string][]byte, which encoding/json writes as
  // path: base64 bytes; ferry wrote its internal fields (`entries: {}`), so every Glob hashed the
  // same and the pod annotations differed from Helm's.
  it('writes each file as path: base64, and prints its bytes', async () => {
    const chart = await chartWith({
      'files/m/a.yaml': 'a: 1\n',
      'files/w/b.txt': 'b\n',
      'templates/cm.yaml': [
        'apiVersion: v1',
        'kind: ConfigMap',
        'metadata:',
        '  name: x',
        '  annotations:',
        '    checksum/manifests: {{ .Files.Glob "files/m/*" | toYaml | sha256sum | quote }}',
        '    checksum/webhooks: {{ .Files.Glob "files/w/*" | toYaml | sha256sum | quote }}',
        'data:',
        '  yml: {{ .Files.Glob "files/*/*" | toYaml | quote }}',
        '  json: {{ .Files.Glob "files/*/*" | toJson | quote }}',
        '  none: {{ .Files.Glob "nothing/*" | toYaml | quote }}',
        '  str: {{ .Files.Glob "files/m/*" | toString | quote }}',
        '  printed: {{ printf "%v" (.Files.Glob "files/w/*") | quote }}',
        '',
      ].join('\n'),
    });
    const r = renderChart(chart);
    const o = r.documents.find((x) => x.kind === 'ConfigMap')!.object as any;
    expect(o.metadata.annotations).toEqual({
      'checksum/manifests': '052ef431a830badd452685e74faa0279723fb90abc0165d4618f833e6f1734f7',
      'checksum/webhooks': 'b370c8e40f3b407a59189ba2f9cd2d9a4a68752177d8b211ef29b9afcc0cfb94',
    });
    expect(o.data).toEqual({
      yml: 'files/m/a.yaml: YTogMQo=\nfiles/w/b.txt: Ygo=',
      json: '{"files/m/a.yaml":"YTogMQo=","files/w/b.txt":"Ygo="}',
      none: '{}',
      str: 'map[files/m/a.yaml:[97 58 32 49 10]]',
      printed: 'map[files/w/b.txt:[98 10]]',
    });
  });
});
