import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, runFerry } from '../support/cli.js';

/** `ferry charts images` as a user runs it on the corpus charts (no helm binary involved). */
const CORPUS = process.env.FERRY_CHART_CORPUS ?? path.resolve(ROOT, '../shared/corpus/charts');
let work: string;

beforeAll(async () => {
  if (!existsSync(CORPUS)) throw new Error(`chart corpus missing at ${CORPUS} (set FERRY_CHART_CORPUS)`);
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-chart-images-'));
});
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('ferry charts images', () => {
  it('--why prints certain and possible images with the rendered resource and field, template line and values key', async () => {
    const r = await runFerry(['charts', 'images', path.join(CORPUS, 'keycloak'), '--why']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split('\n');
    const certainAt = lines.findIndex((l) => l.trim().startsWith('certain (2)'));
    const possibleAt = lines.findIndex((l) => l.trim().startsWith('possible (3)'));
    expect(certainAt).toBeGreaterThan(0);
    expect(possibleAt).toBeGreaterThan(certainAt);
    expect(r.stdout).toContain('rendered by ferry, Kubernetes v1.29.0');
    expect(r.stdout).toContain('keycloak > postgresql  charts/postgresql/templates/primary/statefulset.yaml:190  apps/v1 StatefulSet default/release-name-postgresql spec.template.spec.containers[0].image');
    expect(r.stdout).toContain('keycloak > postgresql  charts/postgresql/values.yaml:121  values postgresql.image {registry, repository, tag, digest}');
    // a feature the default render leaves off: possible, with the switch, and the tag its render gives
    expect(r.stdout).toMatch(/docker\.io\/bitnami\/os-shell:12-debian-12-r51\n.*initContainers\[0\]\.image  \[possible: not deployed with these values; deployed with postgresql\.volumePermissions\.enabled=true\]/);
  });

  it('--values files merge over the defaults (global.imageRegistry, a disabled subchart) and provenance names them', async () => {
    const values = path.join(work, 'site.yaml');
    await writeFile(values, 'global:\n  imageRegistry: registry.site.internal\npostgresql:\n  enabled: false\nimage:\n  tag: 26.3.4\n');
    const r = await runFerry(['charts', 'images', path.join(CORPUS, 'keycloak'), '--values', values, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { charts: Array<{ images: Array<{ ref: string; certainty: string; sources: Array<{ overrides?: Record<string, string>; registryFrom?: string }> }>; skippedSubcharts: Array<{ chart: string; reason: string }> }> };
    const c = report.charts[0];
    expect(c.images.filter((i) => i.certainty === 'certain').map((i) => i.ref)).toEqual(['registry.site.internal/bitnami/keycloak:26.3.4']);
    expect(c.skippedSubcharts).toEqual([{ chart: 'keycloak > postgresql', reason: 'condition postgresql.enabled is false' }]);
    const src = c.images[0].sources.find((s) => s.registryFrom)!;
    expect(src.registryFrom).toBe('global.imageRegistry');
    expect(src.overrides).toEqual({ tag: `${values}:6` });
  });

  it('--set, --kube-version and --api-versions change the render as in helm; --help states the default Kubernetes version', async () => {
    const r = await runFerry(['charts', 'images', path.join(CORPUS, 'nats'), '--set', 'promExporter.enabled=true,promExporter.podMonitor.enabled=true', '--api-versions', 'monitoring.coreos.com/v1', '--kube-version', '1.30.2', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const c = JSON.parse(r.stdout).charts[0] as { images: Array<{ ref: string; certainty: string }>; rendered: { kubeVersion: string } };
    expect(c.rendered.kubeVersion).toBe('v1.30.2');
    expect(c.images.find((i) => i.ref === 'docker.io/natsio/prometheus-nats-exporter:0.20.1')?.certainty).toBe('certain');
    const help = await runFerry(['charts', 'images', '--help']);
    expect(help.stdout).toMatch(/--kube-version <version>\s+Kubernetes version for\s+\.Capabilities\.KubeVersion \(default v1\.29\.0\)/);
  });

  it('a chart that refuses the values fails with the chart\'s own message, as helm template would', async () => {
    const r = await runFerry(['charts', 'images', path.join(CORPUS, 'mysql-operator')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/mysql-operator.*execution error at \(mysql-operator\/templates\/service_account_operator\.yaml:4:5\).*cannot be installed in the 'default' namespace/s);
    const ok = await runFerry(['charts', 'images', path.join(CORPUS, 'mysql-operator'), '-n', 'mysql-operator']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('container-registry.oracle.com/mysql/community-operator:9.1.0-2.2.2');
  });

  it('--render helm runs a helm binary on PATH with the same flags and reads its output back', async () => {
    // a stand-in for helm that records its arguments and prints what helm template prints for nats
    const bin = path.join(work, 'bin');
    await mkdir(bin, { recursive: true });
    const golden = path.join(ROOT, 'test/fixtures/charts/render/nats/default.rendered.yaml');
    await writeFile(path.join(bin, 'helm'), `#!/bin/sh\nif [ "$1" = version ]; then echo v3.14.4; exit 0; fi\necho "$@" >> "${bin}/args.txt"\ncat "${golden}"\n`, { mode: 0o755 });
    const r = await runFerry(['charts', 'images', path.join(CORPUS, 'nats'), '--render', 'helm', '--kube-version', '1.30.0', '-n', 'msg', '--json'], { env: { ...process.env, PATH: `${bin}:${path.dirname(process.execPath)}:/usr/bin:/bin` } });
    expect(r.code, r.stderr).toBe(0);
    const c = JSON.parse(r.stdout).charts[0] as { images: Array<{ ref: string; certainty: string; sources: Array<{ kind: string; resource?: string }> }>; rendered: { renderer: string } };
    expect(c.rendered.renderer).toBe('helm');
    expect(c.images.filter((i) => i.certainty === 'certain').map((i) => i.ref)).toEqual(['docker.io/library/nats:2.14.2-alpine', 'docker.io/natsio/nats-box:0.19.7', 'docker.io/natsio/nats-server-config-reloader:0.23.0']);
    expect(c.images[0].sources.find((s) => s.kind === 'rendered')!.resource).toBe('apps/v1 StatefulSet release-name-nats');
    const args = await readFile(path.join(bin, 'args.txt'), 'utf8');
    expect(args.split('\n')[0]).toBe(`template release-name ${path.join(CORPUS, 'nats')} --namespace msg --kube-version 1.30.0`);
  });

  it('a path that is not a chart is a usage error naming it', async () => {
    const r = await runFerry(['charts', 'images', path.join(work, 'nope')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('nope');
  });
});
