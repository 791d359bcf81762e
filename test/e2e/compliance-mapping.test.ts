import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../support/cli.js';

/**
 * A CMMC Level 2 / FedRAMP Moderate assessor reads the inventory (new-user round 10, compliance):
 * the mapping went no further than CMMC Level 1, and nothing named who answers for a connection.
 * Through the real CLI: the Level 2 and NIST SP 800-53 sections carry evidence computed from the
 * manifest (the one unencrypted external flow is named under SC.L2-3.13.8 and SC-8, an unknown one
 * as unknown), "not recorded" where the manifest has no field, never "met"; and an owner recorded on
 * a connection or endpoint reaches md, json, csv and the HTML report, "not recorded" where absent.
 */
let work: string;
let manifest: string;
const seed = (name: string) => path.resolve('manifests', `${name}.yaml`);

const crafted = `apiVersion: ferry/v1alpha1
kind: Manifest
metadata:
  name: crafted
zones:
  - name: app
    title: App
    cidrs: [10.0.1.0/24]
    self: true
  - name: internet
    title: Internet
    external: true
connections:
  - name: legacy-feed
    ref: "C1"
    component: feed-puller
    owner: Data team
    from: app
    to: internet
    hosts: [feed.example.com]
    direction: outbound
    scope: external
    protocol: HTTP
    ports: [80]
    security: { encrypted: false, integrity: false }
    purpose: pull the price feed
  - name: metrics-scrape
    ref: "C2"
    component: prometheus
    from: app
    to: app
    direction: internal
    scope: cluster
    protocol: HTTP
    ports: [9090]
    purpose: scrape metrics
endpoints:
  - name: license-server
    owner: Platform team
    category: license
    hosts: [license.example.com]
    from: app
    purpose: licence check
    mitigation: { type: exception, reason: vendor requires it, review: 2027-01-31 }
`;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-compliance-'));
  manifest = path.join(work, 'crafted.yaml');
  await writeFile(manifest, crafted);
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** The evidence cell of the row whose first cells are `practice | objective`. */
function evidence(md: string, practice: string, objective: string): string {
  const line = md.split('\n').find((l) => l.startsWith(`| ${practice} | ${objective} |`));
  expect(line, `${practice} ${objective}`).toBeDefined();
  return line!.split(' | ').at(-1)!;
}

describe('compliance mapping and owners', () => {
  it('md: Level 1 kept; Level 2 and 800-53 sections name the unencrypted and the unknown flows, and say "not recorded", never "met"', async () => {
    const r = await runFerry(['inventory', manifest]);
    expect(r.code, r.stderr).toBe(0);
    const md = r.stdout;
    expect(md).toContain('## CMMC Level 1 mapping');
    expect(md).toContain('| AC.L1-b.1.iii (AC.L1-3.1.20) | [a] |');
    const l2 = md.indexOf('## CMMC Level 2 mapping');
    const nist = md.indexOf('## NIST SP 800-53 (FedRAMP) mapping');
    expect(l2).toBeGreaterThan(md.indexOf('## CMMC Level 1 mapping'));
    expect(nist).toBeGreaterThan(l2);

    const crypto = evidence(md, 'SC.L2-3.13.8', '[a]');
    expect(crypto).toContain('recorded as unencrypted: 1 (C1 legacy-feed)');
    expect(crypto).toContain('unknown or not recorded: 1 (C2 metrics-scrape)');
    expect(crypto).toContain('1 of 3 network flow(s)'); // the license endpoint: HTTPS by default
    expect(evidence(md, 'SC.L2-3.13.8', '[b]')).toMatch(/^Not recorded/);
    expect(evidence(md, 'SC.L2-3.13.8', '[c]')).toContain('External: 1 of 2 encrypted');
    const sc8 = evidence(md, 'SC-8', '—');
    expect(sc8).toContain('recorded as unencrypted: 1 (C1 legacy-feed)');
    expect(sc8).toContain('recorded as not protected: 1 (C1 legacy-feed)');
    expect(evidence(md, 'SC.L2-3.13.6', '[a]')).toContain('default-deny');
    expect(evidence(md, 'SC.L2-3.13.6', '[b]')).toContain('3 confirmed flow(s)');
    expect(evidence(md, 'AC.L2-3.1.3', '[d]')).toContain('owner recorded for 2 of 3 flow(s)');
    expect(evidence(md, 'SC.L1-3.13.1 (3.13.1, assessed at Level 2)', '[a]–[b]')).toBe('External zones: Internet (CIDRs not recorded). Internal zones: App. |');
    expect(evidence(md, 'CA-3', 'b')).toContain('owner recorded for 2 of 2 (responsibility)');
    expect(evidence(md, 'CA-3', 'c')).toContain('license-server: 2027-01-31');
    expect(evidence(md, 'CA-9', 'b')).toContain('owner recorded for 0 of 1');
    expect(evidence(md, 'CA-9', 'c–d')).toContain('Not recorded');
    const sections = md.slice(l2);
    expect(sections).not.toMatch(/\bmet\b/i);
  });

  it('md: the owner per connection and endpoint, "not recorded" where the manifest has none', async () => {
    const md = (await runFerry(['inventory', manifest])).stdout;
    expect(md).toContain('| Ref | Component | Owner | From |');
    expect(md).toContain('| C1 | feed-puller | Data team | App |');
    expect(md).toContain('| C2 | prometheus | not recorded | App |');
    // The endpoint's own row in the flow tables and in the endpoint table.
    expect(md).toMatch(/\| license-server \| Platform team \| App \|/);
    expect(md).toMatch(/\| license-server \| license \| Platform team \| App \|/);
  });

  it('json and csv carry the owner (null / "not recorded") and the mapping sections', async () => {
    const j = JSON.parse((await runFerry(['inventory', manifest, '--format', 'json'])).stdout);
    const byName = Object.fromEntries(j.matrix.map((r: { name: string }) => [r.name, r]));
    expect(byName['legacy-feed'].owner).toBe('Data team');
    expect(byName['metrics-scrape'].owner).toBeNull();
    expect(byName['license-server'].owner).toBe('Platform team');
    expect(j.endpoints[0].owner).toBe('Platform team');
    expect(j.cmmc.length).toBe(7);
    expect(j.cmmcLevel2.map((c: { practice: string }) => c.practice)).toEqual(expect.arrayContaining(['SC.L2-3.13.6', 'SC.L2-3.13.8', 'AC.L2-3.1.3', 'CA.L2-3.12.4']));
    expect(j.nist80053.map((c: { practice: string }) => c.practice)).toEqual(expect.arrayContaining(['CA-3', 'CA-9', 'SC-7', 'SC-7(5)', 'SC-8']));

    const csv = (await runFerry(['inventory', manifest, '--format', 'csv'])).stdout.trim().split('\n');
    const head = csv[0].split(',');
    const col = head.indexOf('owner');
    // Added after every column before it (their places unchanged); status_recorded came after it.
    expect(head.slice(col - 2)).toEqual(['mitigation', 'notes', 'owner', 'status_recorded']);
    expect(csv.find((l) => l.startsWith('C1,legacy-feed'))!.split(',')[col]).toBe('Data team');
    expect(csv.find((l) => l.startsWith('C2,metrics-scrape'))!.split(',')[col]).toBe('not recorded');
  });

  it('report HTML has the Level 2 and 800-53 sections and the owners', async () => {
    const out = path.join(work, 'report.html');
    const r = await runFerry(['report', manifest, '-o', out]);
    expect(r.code, r.stderr).toBe(0);
    const html = await readFile(out, 'utf8');
    expect(html).toContain('<section id="cmmcadvanced"><h2>CMMC Level 2 mapping</h2>');
    expect(html).toContain('<section id="fedramp"><h2>NIST SP 800-53 (FedRAMP) mapping</h2>');
    expect(html).toContain('<td>SC.L2-3.13.8</td>');
    expect(html).toContain('recorded as unencrypted: 1 (C1 legacy-feed)');
    expect(html).toContain('<td>Data team</td>');
    expect(html).toContain('<span class="badge muted">not recorded</span>');
  });

  it('seed manifests: every seed gets both sections, with its unencrypted flows named', async () => {
    for (const name of ['ccx', 'spinifex', 'spire', 'metal-stack', 'safespring']) {
      const md = (await runFerry(['inventory', seed(name)])).stdout;
      expect(md, name).toContain('## CMMC Level 2 mapping');
      expect(md, name).toContain('## NIST SP 800-53 (FedRAMP) mapping');
      expect(md, name).not.toMatch(/\| Owner \|[^\n]*\n\|[-|]+\n\| [^|]* \| [^|]* \|  \|/); // never a blank owner
    }
    const ccx = (await runFerry(['inventory', seed('ccx')])).stdout;
    expect(evidence(ccx, 'SC.L2-3.13.8', '[a]')).toContain('recorded as unencrypted: 4 (§3 apt-mariadb, §3 apt-percona, §3 apt-postgresql, §3 apt-ubuntu)');
  });

  it('the manifest schema describes owner on connections and endpoints', async () => {
    const schema = JSON.parse((await runFerry(['schema', 'manifest'])).stdout);
    const text = JSON.stringify(schema);
    expect(text).toContain('Responsible owner or team for this connection');
    expect(text).toContain('Responsible owner or team for this endpoint');
  });
});
