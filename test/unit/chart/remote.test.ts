import { describe, expect, it } from 'vitest';
import { helmChartLayer, parseRemoteChart } from '../../../src/kinds/chart/remote.js';

const hex = 'a'.repeat(64);
const manifest = (o: unknown) => Buffer.from(JSON.stringify(o));

describe('parseRemoteChart', () => {
  it('oci://: the first part is the registry (even without a dot), the tag is the version; a digest is kept', () => {
    expect(parseRemoteChart('oci://myregistry:5000/charts/web:1.2.0_build.1')).toEqual({
      kind: 'oci',
      input: 'oci://myregistry:5000/charts/web:1.2.0_build.1',
      repo: { registry: 'myregistry:5000', repository: 'charts/web' },
      tag: '1.2.0_build.1',
      digest: undefined,
      version: '1.2.0+build.1',
    });
    expect(parseRemoteChart('oci://registry/web', { version: '~1.2' })).toMatchObject({ repo: { registry: 'registry', repository: 'web' }, version: '~1.2' });
    expect(parseRemoteChart(`oci://r.example/web@sha256:${hex}`)).toMatchObject({ digest: `sha256:${hex}`, tag: undefined, version: undefined });
  });

  it('refuses what does not fit, naming it: a tag and another --version, --chart with oci://, --version with an archive URL, no path', () => {
    expect(() => parseRemoteChart('oci://r.example/web:1.0.0', { version: '2.0.0' })).toThrow('names the tag 1.0.0; give one or the other');
    expect(() => parseRemoteChart('oci://r.example/web', { chart: 'web' })).toThrow('--chart web: an oci:// reference names the chart itself');
    expect(() => parseRemoteChart('https://x.example/web-1.0.0.tgz', { version: '1.0.0' })).toThrow('is an archive URL');
    expect(() => parseRemoteChart('oci://r.example')).toThrow('no repository path');
    expect(() => parseRemoteChart('oci://r.example/Web')).toThrow('not an OCI chart reference');
    expect(parseRemoteChart('https://charts.example/stable', { chart: 'web' })).toMatchObject({ kind: 'repo', repo: 'https://charts.example/stable', name: 'web' });
    expect(parseRemoteChart('./web')).toBeUndefined();
  });
});

describe('helmChartLayer', () => {
  const layer = { mediaType: 'application/vnd.cncf.helm.chart.content.v1.tar+gzip', digest: `sha256:${hex}`, size: 10 };
  it('the chart layer of a Helm manifest', () => {
    expect(helmChartLayer(manifest({ config: { mediaType: 'application/vnd.cncf.helm.config.v1+json' }, layers: [layer] }), 'application/vnd.oci.image.manifest.v1+json', 'ref')).toEqual(layer);
  });
  it('an index, an image, another artifact or a chart without its layer: refused, naming the reference', () => {
    expect(() => helmChartLayer(manifest({ manifests: [] }), 'application/vnd.oci.image.index.v1+json', 'oci://r/x:1')).toThrow('oci://r/x:1: an image index');
    expect(() => helmChartLayer(manifest({ config: { mediaType: 'application/vnd.docker.container.image.v1+json' }, layers: [] }), 'application/vnd.docker.distribution.manifest.v2+json', 'oci://r/x:1')).toThrow('a container image (config application/vnd.docker.container.image.v1+json), not a Helm chart');
    expect(() => helmChartLayer(manifest({ config: { mediaType: 'application/x-thing' }, layers: [] }), 'application/vnd.oci.image.manifest.v1+json', 'oci://r/x:1')).toThrow('an artifact of config media type "application/x-thing"');
    expect(() => helmChartLayer(manifest({ config: { mediaType: 'application/vnd.cncf.helm.config.v1+json' }, layers: [{ ...layer, size: -1 }] }), 'application/vnd.oci.image.manifest.v1+json', 'oci://r/x:1')).toThrow('without a chart layer');
  });
});
