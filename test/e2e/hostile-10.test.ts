import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { runFerry } from '../support/cli.js';

/**
 * Hostile pass 10: today's kustomize overrides and GitOps chart sources, attacked through the
 * real CLI with crafted trees (no network: the lock and target are fixtures, the manifest is
 * written here).
 *
 * What tripped:
 * - a kustomization `images:` entry whose `name` is a block scalar written last in its map:
 *   `rewrite manifests` added `newName` after "the line the value ends on", which was the next
 *   (outer) key's line, so `newName` landed inside `resources:` — the override kept pulling
 *   upstream while the report said it moved;
 * - a newline in a crafted value (`newTag: "1.27\n  digest: …"`) started a line of its own in the
 *   refusal's details (a forged report line);
 * - `audit` classed an Argo CD repoURL *below* a carried chart repository
 *   (`https://charts.example.com/stable/sub`) as "mirrored", although Argo CD fetches it upstream.
 */
const FIX = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../fixtures/rewrite');
const TARGET = path.join(FIX, 'target.yaml');
const LOCK = path.join(FIX, 'lock.json');
const NGINX_REPO = 'mirror.site.example:5000/ferry/docker.io/library/nginx';
let work: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-hostile10-'));
});
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

async function tree(name: string, files: Record<string, string>): Promise<string> {
  const dir = path.join(work, name);
  for (const [f, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, f)), { recursive: true });
    await writeFile(path.join(dir, f), text);
  }
  return dir;
}

describe('kustomize overrides, crafted', () => {
  it('a name written as a block scalar, last in its entry: newName goes into that entry, not into the next key', async () => {
    const dir = await tree('block-name', { 'kustomization.yaml': 'images:\n- newTag: "1.27"\n  name: |-\n    nginx\nresources:\n- a.yaml\n' });
    const r = await runFerry(['rewrite', 'manifests', dir, '-t', TARGET, '--lock', LOCK]);
    expect(r.code, r.stderr).toBe(0);
    const after = parse(await readFile(path.join(dir, 'kustomization.yaml'), 'utf8'));
    expect(after).toEqual({ images: [{ name: 'nginx', newTag: '1.27', newName: NGINX_REPO }], resources: ['a.yaml'] });
  });

  it('the same with CRLF line ends and a folded scalar keeps the file valid and the override moved', async () => {
    const dir = await tree('block-name-crlf', { 'kustomization.yaml': 'images:\r\n  - newTag: "1.27"\r\n    name: >-\r\n      nginx\r\nresources:\r\n  - a.yaml\r\n' });
    const r = await runFerry(['rewrite', 'manifests', dir, '-t', TARGET, '--lock', LOCK]);
    expect(r.code, r.stderr).toBe(0);
    const text = await readFile(path.join(dir, 'kustomization.yaml'), 'utf8');
    expect(text.replace(/\r\n/g, '')).not.toContain('\n');
    expect(parse(text)).toEqual({ images: [{ name: 'nginx', newTag: '1.27', newName: NGINX_REPO }], resources: ['a.yaml'] });
  });

  it('a newline in a crafted newTag cannot start a line of its own in the refusal', async () => {
    const dir = await tree('newline-tag', { 'kustomization.yaml': 'images:\n- name: nginx\n  newTag: "1.27\\nFORGED: line\\u001b[31m"\n' });
    const r = await runFerry(['rewrite', 'manifests', dir, '-t', TARGET, '--lock', LOCK]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('nginx:1.27\\nFORGED: line\\x1b[31m');
    expect(r.stderr).not.toMatch(/^FORGED/m);
    expect(r.stderr).not.toContain('\x1b');
    expect(await readFile(path.join(dir, 'kustomization.yaml'), 'utf8')).toContain('newTag: "1.27\\n');
  });
});

describe('GitOps chart sources, crafted', () => {
  it('audit: a repoURL below (or dot-dotted back into) a carried chart repository still goes upstream, never "mirrored"; userinfo and host-prefix tricks are the other host', async () => {
    const manifest = path.join(work, 'gitops-manifest.yaml');
    await writeFile(manifest, 'apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: m }\ncharts:\n  - { repo: "https://charts.example.com/stable", name: web, version: 2.1.0, images: none }\n');
    const target = path.join(work, 'gitops-target.yaml');
    await writeFile(target, 'apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: site }\nregistry:\n  url: https://mirror.site.example:5000\n  prefix: ferry\ncharts:\n  dir: /srv/charts\n  baseUrl: https://charts.site.example/helm\n');
    const app = (name: string, url: string) => `apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: { name: ${name} }\nspec:\n  source:\n    repoURL: ${url}\n    chart: web\n    targetRevision: 2.1.0\n`;
    const dir = await tree('gitops', {
      'apps.yaml': [
        app('sub', 'https://charts.example.com/stable/sub'),
        app('dotdot', 'https://charts.example.com/stable/../stable'),
        app('userinfo', 'https://charts.site.example@evil.example/helm'),
        app('prefix', 'charts.site.example.evil.example/helm'),
      ].join('---\n'),
    });
    const r = await runFerry(['audit', dir, '--manifest', manifest, '-t', target, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const findings = (JSON.parse(r.stdout) as { findings: Array<{ value: string; class: string; host: string }> }).findings;
    const by = Object.fromEntries(findings.map((f) => [f.value, f]));
    expect(by['https://charts.example.com/stable/sub'].class).toBe('undeclared');
    expect(by['https://charts.example.com/stable/../stable'].class).toBe('undeclared');
    // The userinfo is masked in findings since hostile pass 14 (it may be a token): the host is still evil.example.
    expect(by['https://***@evil.example/helm']).toMatchObject({ class: 'undeclared', host: 'evil.example' });
    expect(by['charts.site.example.evil.example/helm']).toMatchObject({ class: 'undeclared', host: 'charts.site.example.evil.example' });
    expect(findings.some((f) => f.class === 'mirrored' || f.class === 'internal')).toBe(false);
  });
});
