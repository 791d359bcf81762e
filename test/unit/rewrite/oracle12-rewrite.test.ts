import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { discoverChartImages } from '../../../src/kinds/chart/discover.js';
import { loadChartDir } from '../../../src/kinds/chart/load.js';
import { imageValuesOf } from '../../../src/kinds/chart/lock.js';
import { createRewriteContext } from '../../../src/rewrite/context.js';
import { rewriteChart } from '../../../src/rewrite/chart.js';
import { rewriteValues } from '../../../src/rewrite/values.js';
import { chartLock, fixtureTarget, MIRROR, write, writeTree } from './helpers.js';

// The twelfth rewrite pass over the twelfth oracle pass's charts (Percona, Strimzi, cert-manager,
// external-secrets, ingress-nginx, Linkerd, Dapr, NATS, Altinity): each value set rewritten with
// `rewrite chart` and `rewrite values`, rendered with the result by an independent Go renderer,
// and every image compared with its mirror reference.
let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ferry-oracle12-rewrite-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

// Percona's pg-db: the values file's root holds `repository: docker.io/percona/…` beside `image:
// <repository>:<tag>` (the key the templates use) and every other setting. `rewrite values` read
// the whole root as one `{repository}` image map: it moved the unused `repository` key, left
// `image` upstream and never looked inside the file (pgBouncer's, pgBackRest's and PMM's images).
const PG_VALUES = [
  'repository: docker.io/percona/percona-distribution-postgresql',
  'image: docker.io/percona/percona-distribution-postgresql:18.4-1',
  'imagePullPolicy: Always',
  'proxy:',
  '  pgBouncer:',
  '    image: docker.io/percona/percona-pgbouncer:1.25.2-1',
  'pmm:',
  '  enabled: false',
  '  image:',
  '    repository: docker.io/percona/pmm-client',
  '    tag: 3.7.1',
  '',
].join('\n');

describe('rewrite values: the root of a values file is not an image map', () => {
  it('moves the image keys under a root that also has a repository key, and names the image the lock lacks', async () => {
    const dir = await mkdtemp(path.join(tmp, 'pg-values-'));
    const file = await write(dir, 'values.yaml', PG_VALUES);
    const pg = 'docker.io/percona/percona-distribution-postgresql:18.4-1';
    const bouncer = 'docker.io/percona/percona-pgbouncer:1.25.2-1';
    const lock = chartLock([pg, bouncer], { [pg]: [{ path: 'image' }], [bouncer]: [{ path: 'proxy.pgBouncer.image' }] }, 'pg-db', '3.0.0');
    const ctx = createRewriteContext(await fixtureTarget(), lock);
    const r = await rewriteValues([file], ctx, { allowUnmapped: true });
    const out = parse(r.override!) as Record<string, any>;
    expect(out.image).toBe(`${MIRROR}/${pg}`);
    expect(out.proxy.pgBouncer.image).toBe(`${MIRROR}/${bouncer}`);
    // The unused root `repository` key is not an image of its own: left as it is.
    expect(out.repository).toBeUndefined();
    expect(r.warnings ?? []).toEqual([]);
    // PMM's client (disabled, not in the lock) is named, not passed over.
    expect(r.unmapped.map((u) => u.ref)).toEqual(['docker.io/percona/pmm-client:3.7.1']);
  });
});

// Percona's ps-db and psmdb-db: the cluster resource names the PMM client, MySQL router and
// orchestrator images beside `enabled: false`. ferry does not count them as deployed, so the lock
// does not carry them, and `rewrite chart` left them upstream in the rendered resource without a
// word; it now names each one with the reason it was not counted.
const PS_CHART = {
  'Chart.yaml': 'apiVersion: v2\nname: ps-db\nversion: 1.1.0\n',
  'values.yaml': ['mysql:', '  image:', '    repository: docker.io/percona/percona-server', '    tag: 8.4.8-8.1', 'pmm:', '  enabled: false', '  image:', '    repository: docker.io/percona/pmm-client', '    tag: 3.7.0', ''].join('\n'),
  'templates/cluster.yaml': [
    'apiVersion: ps.percona.com/v1',
    'kind: PerconaServerMySQL',
    'metadata:',
    '  name: {{ .Release.Name }}',
    'spec:',
    '  mysql:',
    '    image: "{{ .Values.mysql.image.repository }}:{{ .Values.mysql.image.tag }}"',
    '  pmm:',
    '    enabled: {{ .Values.pmm.enabled }}',
    '    image: "{{ .Values.pmm.image.repository }}:{{ .Values.pmm.image.tag }}"',
    '',
  ].join('\n'),
};

describe('rewrite chart: images the rendered objects name but ferry does not count as deployed', () => {
  it('names a disabled component\'s image it leaves upstream', async () => {
    const dir = await writeTree(tmp, 'ps-db', PS_CHART);
    const chart = await loadChartDir(dir, undefined, { allFiles: true });
    const found = discoverChartImages(chart, {}).images.filter((i) => i.certainty === 'certain');
    expect(found.map((i) => i.ref)).toEqual(['docker.io/percona/percona-server:8.4.8-8.1']);
    const ctx = createRewriteContext(await fixtureTarget(), chartLock(found.map((i) => i.ref), imageValuesOf(found), 'ps-db', '1.1.0'));
    const r = await rewriteChart(dir, ctx, { render: {} });
    expect(r.replacements.map((x) => x.new)).toEqual([`${MIRROR}/docker.io/percona/percona-server`]);
    const named = (r.warnings ?? []).filter((w) => w.includes('docker.io/percona/pmm-client:3.7.0'));
    expect(named).toHaveLength(1);
    expect(named[0]).toContain('enabled: false');
    expect(named[0]).toContain('pmm.image');
  });
});
