import { describe, expect, it } from 'vitest';
import { ALL_KINDS, kindByName, kindsWithoutPlace } from '../../../src/kinds/index.js';
import { chartKind } from '../../../src/kinds/chart/index.js';
import { imageKind } from '../../../src/kinds/image/index.js';
import { fileKind } from '../../../src/kinds/file/index.js';
import type { ChartLock } from '../../../src/kinds/chart/lock.js';
import type { FileLock } from '../../../src/kinds/file/lock.js';
import type { ImageLock } from '../../../src/kinds/image/lock.js';
import { mirrorMappingFor, placeText, type MappingTarget } from '../../../src/mapping/index.js';
import type { MirrorTarget } from '../../../src/manifest/target.js';

const D = 'sha256:' + 'a'.repeat(64);
const S = 'sha256:' + 'b'.repeat(64);

const target: MappingTarget = {
  registry: { url: 'https://mirror.site:5000', prefix: 'ferry' },
  charts: { baseUrl: 'https://charts.site/' },
  files: { baseUrl: 'https://files.site/' },
};

describe('kind locations (typed places through src/mapping)', () => {
  it('places an image by its stored digest in the registry facet', () => {
    const entry = { ref: `docker.io/library/alpine:3.20@${D}`, storedDigest: S } as ImageLock;
    const [loc] = imageKind.locations(entry, mirrorMappingFor(target));
    expect(loc.ref).toEqual({ kind: 'image', upstream: entry.ref, storedDigest: S });
    expect(loc.places).toEqual([{ facet: 'registry', image: expect.objectContaining({ mirror: `mirror.site:5000/ferry/docker.io/library/alpine:3.20@${S}` }) }]);
  });

  it('places a chart from its own repo, name and version, never by re-parsing a reference', () => {
    const entry = { repo: 'https://Charts.Example.com/Stable', name: 'podinfo', version: '6.5.0+build.1' } as ChartLock;
    const [loc] = chartKind.locations(entry, mirrorMappingFor(target));
    expect(loc.ref).toMatchObject({ kind: 'chart', repo: entry.repo, name: 'podinfo', version: '6.5.0+build.1' });
    expect(loc.places.map(placeText)).toEqual([
      'mirror.site:5000/ferry/charts.example.com/stable/podinfo:6.5.0_build.1',
      'https://charts.site/podinfo-6.5.0%2Bbuild.1.tgz',
    ]);
  });

  it('has no place where the target lacks the facet', () => {
    const entry = { url: 'https://dl.example.com/tool.tar.gz' } as FileLock;
    expect(fileKind.locations(entry, mirrorMappingFor({ registry: target.registry }))).toEqual([{ ref: { kind: 'file', upstream: entry.url }, places: [] }]);
    expect(fileKind.locations(entry, mirrorMappingFor(target))[0].places.map(placeText)).toEqual(['https://files.site/dl.example.com/tool.tar.gz']);
  });

  it('endpoints are a kind with no lock key and no target facet', () => {
    const endpoint = kindByName('endpoint')!;
    expect(endpoint.lockSchema).toBeUndefined();
    expect(endpoint.targetFacet).toBeUndefined();
    expect(ALL_KINDS.map((k) => k.name)).toEqual(['image', 'chart', 'file', 'apt', 'endpoint']);
  });
});

describe('kindsWithoutPlace', () => {
  const only = (t: Partial<MirrorTarget>) => ({ apiVersion: 'ferry/v1alpha1', kind: 'MirrorTarget', metadata: { name: 't' }, ...t }) as MirrorTarget;

  it('lists every kind the target has no place for, once, sorted; what to add comes from each kind', () => {
    const missing = kindsWithoutPlace(['file', 'image', 'apt', 'chart', 'image', 'endpoint', 'unknown'], only({ files: { dir: 'f', baseUrl: 'http://f' } }));
    expect(missing).toEqual(['apt', 'chart', 'image']);
    expect(missing.map((k) => `${k}: add ${kindByName(k)!.targetFacet!.add}`)).toEqual(['apt: add apt: { dir, baseUrl }', 'chart: add registry:, directory: or charts: { dir, baseUrl }', 'image: add registry: { url } or directory:']);
    expect(missing.map((k) => kindByName(k)!.targetFacet!.noun)).toEqual(['APT repositories', 'Helm charts', 'images']);
  });

  it('accepts a target with a place for each kind', () => {
    expect(kindsWithoutPlace(['image', 'chart'], only({ directory: 'layout' }))).toEqual([]);
  });
});
