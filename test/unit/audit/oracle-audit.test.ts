import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { interpolateCompose, scanPaths } from '../../../src/audit/scan.js';

/**
 * Defects an oracle pass over real deployment repositories found (argocd-example-apps,
 * kube-prometheus, opentelemetry-demo, podinfo, sealed-secrets, ...): each fixture is the
 * pattern, small and synthetic.
 */
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-oracle-audit-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function scan(files: Record<string, string>) {
  const root = await mkdtemp(path.join(dir, 'case-'));
  for (const [name, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(root, name)), { recursive: true });
    await writeFile(path.join(root, name), text);
  }
  return scanPaths(['.'], root);
}
const refs = (r: Awaited<ReturnType<typeof scan>>) => r.references.map((x) => `${x.file}:${x.line} ${x.kind} ${x.value}`);

describe('audit on real repository patterns', () => {
  it('reads a Helm template or JSON with comments line by line instead of refusing the whole audit', async () => {
    const r = await scan({
      'chart/templates/job.yaml': '{{- if .Values.enabled }}\napiVersion: batch/v1\nkind: Job\nspec:\n  template:\n    spec:\n      containers:\n        - name: t\n          image: busybox\n        - name: u\n          image: "quay.io/org/tool:1.2"\n{{- end }}\n',
      '.vscode/launch.json': '{\n  // comment\n  "url": "https://debug.example.com/x"\n}\n',
    });
    expect(refs(r)).toEqual(expect.arrayContaining(['chart/templates/job.yaml:9 image busybox', 'chart/templates/job.yaml:11 image quay.io/org/tool:1.2', '.vscode/launch.json:3 url https://debug.example.com/x']));
    expect(r.skipped.map((s) => [s.file, s.unscanned])).toEqual([['chart/templates/job.yaml', false]]);
  });

  it("finds git's scp-like SSH address (an Argo CD repoURL), not an e-mail address", async () => {
    const r = await scan({
      'app.yaml': 'spec:\n  source:\n    repoURL: git@github.com:org/deploy.git\n  sourceRepos:\n    - git@gitlab.example.org:team/repo\n  owner: ops@example.org\n',
    });
    expect(refs(r)).toEqual(expect.arrayContaining(['app.yaml:3 host github.com', 'app.yaml:5 host gitlab.example.org']));
    expect(refs(r).filter((x) => x.startsWith('app.yaml:6'))).toEqual([]);
  });

  it('gives a reference in a quoted or folded string the line it is written on', async () => {
    const r = await scan({
      'dash.json': '{\n  "description": "Metrics.\\n\\nSee https://docs.example.com/a for more",\n  "x": 1\n}\n',
      'cassette.yaml': 'body:\n  string: "{\\"text\\": \\"one\n    two https://first.example.com/a\n    three (https://second.example.com/b)\\"}"\n',
      'crd.yaml': 'd: |-\n  see https://k.example.io/s/#e\n  and https://k.example.io/s/ too\n',
    });
    expect(refs(r)).toEqual(expect.arrayContaining(['dash.json:2 url https://docs.example.com/a', 'cassette.yaml:3 url https://first.example.com/a', 'cassette.yaml:4 url https://second.example.com/b', 'crd.yaml:2 url https://k.example.io/s/#e', 'crd.yaml:3 url https://k.example.io/s/']));
  });

  it('interpolates a Compose image from the .env beside it and its defaults', async () => {
    const r = await scan({
      '.env': 'IMAGE_NAME=ghcr.io/org/demo\nDEMO_VERSION=2.1\n',
      'compose.yaml': 'services:\n  ad:\n    image: ${IMAGE_NAME}:${DEMO_VERSION}-ad\n  web:\n    image: ${WEB_IMAGE:-nginx:1.25}\n  k3s:\n    image: rancher/k3s:${K3S_VERSION}\n',
    });
    const images = r.references.filter((x) => x.kind === 'image' && x.file === 'compose.yaml').map((x) => `${x.line} ${x.value}`);
    expect(images).toEqual(['3 ghcr.io/org/demo:2.1-ad', '5 nginx:1.25', '7 rancher/k3s']);
    expect(r.references.find((x) => x.line === 7)?.provenance).toContain('${K3S_VERSION} set neither');
    expect(r.references.some((x) => 'composeVars' in x)).toBe(false);
  });

  it('interpolates as docker compose does', () => {
    const env = new Map([['A', 'x'], ['E', '']]);
    expect(interpolateCompose('$A-${A}-${E:-d}-${E-d}-${U:-d}-${A:+alt}-$$A', env)).toEqual({ value: 'x-x-d--d-alt-$A', unresolved: [] });
    expect(interpolateCompose('${U}/b', env)).toEqual({ value: '${U}/b', unresolved: ['U'] });
  });

  it('a Dockerfile FROM resolves ARG defaults, counts a bare name, skips scratch and stage names, and keeps an unresolved one as written', async () => {
    const r = await scan({
      'app/Dockerfile': 'ARG BASE=python:3.12-slim\nARG REG=quay.io\nFROM ${REG}/prometheus/busybox:latest AS tools\nFROM $BASE AS build\nFROM ${NOPE:-alpine:3.20}\nFROM build\nFROM scratch\nFROM ubuntu\nFROM $UNSET\n',
      // Not a Dockerfile: a SQL `FROM users` is no image.
      'db/query.sql': 'SELECT * \nFROM users\n',
    });
    const images = refs(r).filter((x) => x.includes(' image '));
    expect(images).toEqual([
      'app/Dockerfile:3 image quay.io/prometheus/busybox:latest',
      'app/Dockerfile:4 image python:3.12-slim',
      'app/Dockerfile:5 image alpine:3.20',
      'app/Dockerfile:8 image ubuntu',
      'app/Dockerfile:9 image $UNSET',
    ]);
  });
});
