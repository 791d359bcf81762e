import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../support/cli.js';

/**
 * Hostile pass 11, through the CLI: `ferry inventory` Markdown from a crafted manifest.
 *
 * What tripped:
 * - a backslash before `<` (`feed\<img onerror=…>`): `<` became `\<` after the backslash, so the
 *   Markdown read an escaped backslash and then a raw HTML tag (pandoc's HTML ran it);
 * - a newline in the description, a zone title or a checklist item started a block of its own:
 *   a forged `- [x] all flows approved by the AO` item or a `## heading` in the inventory.
 */
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
