import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../support/cli.js';

/**
 * A compliance lead's job (new-user round 10): the ISSO of a CMMC Level 2 / FedRAMP Moderate site
 * shows an assessor the connection inventory (md for the SSP appendix, csv for the spreadsheet,
 * json), the default-deny firewall that enforces it, probe and audit evidence, the bundle's SBOM
 * and signature, and `ferry report` as the one page for people. The nftables host and gateway
 * rules were loaded into network namespaces with veth pairs and every declared flow (TCP, UDP,
 * tcp+udp DNS to one host, ICMP) was tried with real sockets, plus undeclared ports, sources and
 * destinations: the rules admitted exactly the inventory. A hostile manifest (`<script>`, quotes,
 * control characters, spreadsheet formulas, newlines in a purpose) stayed text in every format.
 *
 * What tripped:
 * - `inventory --format md`: placeholders the seeds use for what the site must fill in
 *   (`<bind IP>`, `nodes.<node>.daemon.dev_networking`, `s3.<region>.amazonaws.com`) are HTML tags
 *   to CommonMark (GitHub, pandoc: checked with markdown-it), so in the rendered SSP appendix the
 *   destination read `predastore Raft status (:6660/status)` and the condition
 *   `nodes..daemon.dev_networking`; a crafted `<img onerror=…>` ran in pandoc's HTML. A `<` from
 *   the manifest is now written `\<`.
 * - `report`: the page for people left out what the inventory carries for each connection and an
 *   assessor asks first for AC.L1-3.1.20 [c] (which the page's own CMMC row cites): the
 *   authentication method in words, the scope and the notes (Spinifex's Formation server
 *   dialled with InsecureSkipVerify was only in the notes). The flow tables now have them.
 */
let work: string;
const seed = (name: string) => path.resolve('manifests', `${name}.yaml`);

const hostile = `apiVersion: ferry/v1alpha1
kind: Manifest
metadata:
  name: hostile
  description: "<script>alert(1)</script> quoted"
zones:
  - name: app
    title: "App <b>zone</b>"
    cidrs: [10.0.1.0/24]
    self: true
  - name: corp
    title: Corp
    cidrs: [10.9.0.0/16]
connections:
  - name: admin
    component: "<img src=x onerror=alert(1)>"
    from: corp
    to: app
    direction: inbound
    scope: cluster
    protocol: SSH
    ports: [22]
    purpose: operator access
    notes: "keys only <i>really</i>"
    security: { encrypted: true, integrity: true, authenticated: true, trustedOnly: true, auth: "<u>FIDO2</u> keys \\u0007bell" }
`;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-newuser10-'));
  await writeFile(path.join(work, 'hostile.yaml'), hostile);
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** `<` that starts a CommonMark raw HTML tag (open or closing), not escaped with a backslash. */
const rawHtmlTag = /(?<!\\)<\/?[A-Za-z][A-Za-z0-9-]*(?:\s[^>]*)?>/;

describe('inventory --format md for the SSP appendix', () => {
  it('keeps the placeholders the site must fill in as text, not HTML tags', async () => {
    const r = await runFerry(['inventory', seed('spinifex')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('predastore Raft status (\\<bind IP>:6660/status)');
    expect(r.stdout).toContain('nodes.\\<node>.daemon.dev_networking = true');
    for (const line of r.stdout.split('\n')) expect(line).not.toMatch(rawHtmlTag);
    const ccx = await runFerry(['inventory', seed('ccx')]);
    expect(ccx.code, ccx.stderr).toBe(0);
    for (const line of ccx.stdout.split('\n')) expect(line).not.toMatch(rawHtmlTag);
  });

  it('writes a crafted manifest as text in every heading, table and list', async () => {
    const r = await runFerry(['inventory', path.join(work, 'hostile.yaml')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('\\<img src=x onerror=alert(1)>');
    expect(r.stdout).toContain('### App \\<b>zone\\</b>');
    expect(r.stdout).toContain('\\<script>alert(1)\\</script> quoted');
    for (const line of r.stdout.split('\n')) expect(line).not.toMatch(rawHtmlTag);
    // JSON and CSV carry the values unchanged (only the Markdown needs the escape).
    const json = JSON.parse((await runFerry(['inventory', path.join(work, 'hostile.yaml'), '--format', 'json'])).stdout);
    expect(json.inbound[0].component).toBe('<img src=x onerror=alert(1)>');
  });
});

describe('report: the connection tables an assessor reads', () => {
  it('shows the authentication method, scope and notes of every connection', async () => {
    const out = path.join(work, 'spinifex.html');
    const r = await runFerry(['report', seed('spinifex'), '-o', out]);
    expect(r.code, r.stderr).toBe(0);
    const html = await readFile(out, 'utf8');
    const inventory = html.slice(html.indexOf('<section id="inventory">'), html.indexOf('<section id="endpoints">'));
    expect(inventory).toContain('<th>Auth / verification</th>');
    expect(inventory).toContain('<th>Scope</th>');
    expect(inventory).toContain('<th>Notes</th>');
    expect(inventory).toContain('<td>AWS SigV4 + TLS (cluster CA)</td>');
    expect(inventory).toContain('<td>Key-based auth (operator-managed)</td>');
    expect(inventory).toContain('the joining node dials with InsecureSkipVerify');
    expect(inventory).toContain('<td>Configure operator-managed keys only; password auth disabled in sshd_config.</td>');
  });

  it('escapes the authentication method and notes of a crafted manifest', async () => {
    const out = path.join(work, 'hostile.html');
    const r = await runFerry(['report', path.join(work, 'hostile.yaml'), '-o', out]);
    expect(r.code, r.stderr).toBe(0);
    const html = await readFile(out, 'utf8');
    expect(html).toContain('&lt;u&gt;FIDO2&lt;/u&gt; keys \\x07bell');
    expect(html).toContain('keys only &lt;i&gt;really&lt;/i&gt;');
    expect(html).not.toContain('<u>');
    expect(html).not.toContain('<i>');
    expect(html).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f]/);
  });
});
