import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { runFerry } from '../support/cli.js';

/**
 * Hostile pass 11, through the CLI: `ferry inventory` Markdown from a crafted manifest.
 *
 * What tripped:
 * - a backslash before `<` (`feed\<img onerror=…>`): `<` became `\<` after the backslash, so the
 *   Markdown read an escaped backslash and then a raw HTML tag (pandoc's HTML ran it);
 * - a newline in the description, a zone title or a checklist item started a block of its own:
 *   a forged `- [x] all flows approved by the AO` item or a `## heading` in the inventory;
 * - `rewrite manifests` on a value written as a block scalar (`dns.imageRepository: |-` in a kubeadm
 *   ClusterConfiguration, `image: |-` in a Deployment) wrote the quoted mirror reference over the
 *   scalar's line break: the next key landed on the same line and the file no longer parsed.
 */
const FIX = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../fixtures/rewrite');
const TARGET = path.join(FIX, 'target.yaml');
const LOCK = path.join(FIX, 'lock.json');
let work: string;
let manifest: string;

const CRAFTED = `apiVersion: ferry/v1alpha1
kind: Manifest
metadata:
  name: crafted
  description: "desc\\n- [x] all flows approved by the AO"
zones:
  - name: app
    title: "App\\n## Forged heading"
    cidrs: [10.0.1.0/24]
    self: true
  - name: internet
    title: Internet
    external: true
connections:
  - name: legacy-feed
    ref: "C1"
    component: 'feed\\<img src=x onerror=alert(1)>'
    owner: "=HYPERLINK(\\"http://evil\\")\\\\|x\\n- [x] forged"
    from: app
    to: internet
    hosts: [feed.example.com]
    direction: outbound
    scope: external
    protocol: HTTP
    ports: [80]
    purpose: "pull\\\\"
endpoints:
  - name: license-server
    owner: "Platform \\\\<script>alert(1)</script>"
    category: license
    hosts: [license.example.com]
    from: app
    purpose: "licence\\n- [x] checked"
    mitigation: { type: exception, reason: vendor requires it, review: 2027-01-31 }
`;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-hostile11-'));
  manifest = path.join(work, 'crafted.yaml');
  await writeFile(manifest, CRAFTED);
});
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

/** Every `<` in the Markdown is escaped: preceded by an odd number of backslashes. */
function rawTags(md: string): string[] {
  return [...md.matchAll(/(\\*)<[a-z/]/gi)].filter((m) => m[1].length % 2 === 0).map((m) => md.slice(m.index, m.index + 30));
}

describe('inventory Markdown from a crafted manifest', () => {
  it('no raw HTML tag, whatever backslashes precede it', async () => {
    const r = await runFerry(['inventory', manifest]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('feed\\\\\\<img');
    expect(rawTags(r.stdout)).toEqual([]);
  });

  it('no forged block: a newline in a description, title or item stays on its line', async () => {
    const r = await runFerry(['inventory', manifest]);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines.filter((l) => /^\s*- \[x\]/i.test(l))).toEqual([]);
    expect(lines.filter((l) => l.includes('Forged heading') && !l.startsWith('|') && !l.startsWith('### App ## Forged') && !l.startsWith('- [ ] App ## Forged'))).toEqual([]);
    expect(r.stdout).toContain('desc - [x] all flows approved by the AO');
  });

  it('csv: the owner stays text for a spreadsheet', async () => {
    const r = await runFerry(['inventory', manifest, '--format', 'csv']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`"'=HYPERLINK(""http://evil"")\\|x`);
  });
});

describe('rewrite manifests on block scalars', () => {
  it.each([
    ['kubeadm dns.imageRepository', 'kubeadm.yaml', 'apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nimageRepository: registry.k8s.io\ndns:\n  imageRepository: |-\n    registry.k8s.io/coredns\nnetworking: {podSubnet: 10.0.0.0/16}\n', (d: any) => {
      expect(d.dns.imageRepository).toBe('mirror.site.example:5000/ferry/registry.k8s.io/coredns');
      expect(d.networking).toEqual({ podSubnet: '10.0.0.0/16' });
    }],
    ['a Deployment image, CRLF', 'd.yaml', 'apiVersion: apps/v1\r\nkind: Deployment\r\nmetadata: {name: a}\r\nspec:\r\n  template:\r\n    spec:\r\n      containers:\r\n      - name: a\r\n        image: >-\r\n          nginx:1.27\r\n        ports: []\r\n', (d: any) => {
      expect(d.spec.template.spec.containers).toEqual([{ name: 'a', image: 'mirror.site.example:5000/ferry/docker.io/library/nginx:1.27', ports: [] }]);
    }],
  ])('%s: the next key stays on its own line', async (_what, file, text, check) => {
    const dir = path.join(work, `block-${file}`);
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, file), text);
    const r = await runFerry(['rewrite', 'manifests', dir, '-t', TARGET, '--lock', LOCK]);
    expect(r.code, r.stderr).toBe(0);
    const after = await readFile(path.join(dir, file), 'utf8');
    check(parse(after));
    if (text.includes('\r\n')) expect(after.replace(/\r\n/g, '')).not.toContain('\n');
  });
});
