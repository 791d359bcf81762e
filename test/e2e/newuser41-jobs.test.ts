import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand, runFerry } from '../support/cli.js';
import { offlineImagesSite } from '../support/offline-site.js';
import { skopeoEnv, skopeoTlsArgs, startRegistry, type RunningRegistry } from '../support/registry.js';

/**
 * A compliance reviewer gathers the evidence a CMMC / FedRAMP assessor asks for from a finished
 * deployment tree (`audit --format json`, `inventory --format md`, `firewall`) and checks each
 * claim against what it names: the registry the images are said to be pulled from, and the
 * firewall file the evidence says allows a flow.
 *
 * - `audit`: a deployment naming the site registry at a path `ferry import` never writes
 *   (`<mirror>/library/nginx:1.27.3`, while import put docker.io/library/nginx:1.27.3 at
 *   `<mirror>/ferry/docker.io/library/nginx:1.27.3`) was "internal — mirror target" and nothing
 *   more: the reviewer read the image as deployed from the mirror, and the pull fails at the site.
 * - `inventory`, NIST SC-7 c: "N outbound external flow(s) direct, each allowed by the firewall
 *   output" counted every direct flow, a `disabled`, `mirrored` or conditional one too, which the
 *   firewall writes as a comment (CCX: 34 said allowed, 1 is).
 */
let work: string;
let site: RunningRegistry;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-newuser41-'));
  site = await startRegistry({ mode: 'http' });
  await offlineImagesSite(work, site, 'payroll', ['docker.io/library/nginx:1.27.3', 'ghcr.io/example/api:2.1.0']);
}, 120_000);

afterAll(async () => {
  await site?.stop();
  await rm(work, { recursive: true, force: true });
});

interface Finding {
  value: string;
  class: string;
  note?: string;
}

const onSite = async (ref: string) => (await runCommand('skopeo', ['inspect', '--raw', ...skopeoTlsArgs(site), `docker://${ref}`], { env: { ...process.env, ...skopeoEnv(site) } })).code === 0;

describe('newuser41: a compliance reviewer checks what the evidence says is deployed', () => {
  it('an image on the site registry at a path import never wrote is noted, naming where the carried one is; those import wrote are not', async () => {
    const tree = path.join(work, 'deploy');
    await mkdir(tree, { recursive: true });
    const good = `${site.host}/ferry/docker.io/library/nginx:1.27.3`;
    const wrongPath = `${site.host}/library/nginx:1.27.3`;
    const wrongTag = `${site.host}/ferry/ghcr.io/example/api:2.2.0`;
    await writeFile(
      path.join(tree, 'deployment.yaml'),
      `apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: payroll }\nspec:\n  template:\n    spec:\n      containers:\n        - { name: a, image: "${good}" }\n        - { name: b, image: "${wrongPath}" }\n        - { name: c, image: "${wrongTag}" }\n`,
    );
    const r = await runFerry(['audit', tree, '--manifest', path.join(work, 'payroll.yaml'), '--target', path.join(work, 'site.yaml'), '--format', 'json'], { cwd: work });
    expect(r.code, r.stderr).toBe(0);
    const findings = (JSON.parse(r.stdout) as { findings: Finding[] }).findings;
    const of = (v: string) => findings.find((f) => f.value === v)!;
    // What the registry holds, read with skopeo: the note is right about each.
    expect([await onSite(good), await onSite(wrongPath), await onSite(wrongTag)]).toEqual([true, false, false]);
    expect([of(good).class, of(good).note]).toEqual(['internal', 'mirror target']);
    expect(of(wrongPath).class).toBe('internal');
    expect(of(wrongPath).note).toContain(`no image the manifest carries is imported to ${site.host}/library/nginx (docker.io/library/nginx:1.27.3 is at ${good})`);
    expect(of(wrongPath).note).toContain('the pull fails at the site');
    expect(of(wrongTag).note).toContain(`writes ${site.host}/ferry/ghcr.io/example/api only at 2.1.0 (what the manifest carries), not 2.2.0`);
    // The location the note names is where import put the image.
    expect(await onSite(`${site.host}/ferry/ghcr.io/example/api:2.1.0`)).toBe(true);
  });

  it('SC-7 c names as allowed only the direct flows the firewall allows, the others as left closed, as the nftables file writes them', async () => {
    const manifest = path.join(work, 'boundary.yaml');
    await writeFile(
      manifest,
      `apiVersion: ferry/v1alpha1
kind: Manifest
metadata: { name: boundary }
zones:
  - { name: enclave, cidrs: [10.20.0.0/24], self: true }
  - { name: internet, external: true }
endpoints:
  - name: license
    category: license
    urls: [https://license.vendor.example.com/v1/check]
    from: enclave
    purpose: license check
    mitigation: { type: exception, reason: vendor requires it, review: 2026-06-30 }
  - name: telemetry
    category: telemetry
    urls: [https://telemetry.vendor.example.com]
    from: enclave
    purpose: usage statistics
    mitigation: { type: disabled, description: TELEMETRY_ENABLED=false }
    checks: [{ kind: env, key: TELEMETRY_ENABLED, equals: "false" }]
  - name: updates
    category: download
    urls: [https://updates.vendor.example.com]
    from: enclave
    purpose: update check
    requirement: conditional
    condition: auto-update on
    mitigation: { type: none }
`,
    );
    const inv = await runFerry(['inventory', manifest, '--format', 'md']);
    expect(inv.code, inv.stderr).toBe(0);
    const sc7c = inv.stdout.split('\n').find((l) => l.startsWith('| SC-7 | c |'))!;
    const fw = await runFerry(['firewall', manifest, '--format', 'nftables']);
    expect(fw.code, fw.stderr).toBe(0);
    // The nftables file: an accept rule under `# <name>:`, or a `# not allowed: <name>` comment.
    const allowed = [...fw.stdout.matchAll(/^ {4}# ([\w-]+): .*\n {4}ip daddr .* accept$/gm)].map((m) => m[1]).sort();
    const closed = [...fw.stdout.matchAll(/^ {4}# not allowed: ([\w-]+) /gm)].map((m) => m[1]).sort();
    expect([allowed, closed]).toEqual([['license'], ['telemetry', 'updates']]);
    expect(sc7c).toContain(`${allowed.length} outbound external flow(s) direct, each allowed by the firewall output`);
    expect(sc7c).toContain(`TBD or blocked): ${closed.length} (`);
    for (const name of closed) expect(sc7c).toContain(name);
  });

  it('AC.L1 [b] says the carried hosts come from the manifest, not from a bundle inventory never read', async () => {
    const inv = await runFerry(['inventory', path.join(work, 'payroll.yaml'), '--format', 'md']);
    expect(inv.code, inv.stderr).toBe(0);
    const b = inv.stdout.split('\n').find((l) => l.startsWith('| AC.L1-b.1.iii (AC.L1-3.1.20) | [b] |'))!;
    expect(b).not.toContain('carried by the bundle');
    expect(b).toContain('whose artifacts the manifest lists to carry across the gap (from the manifest: no bundle is read here)');
  });

  it('a check written with the wrong field names is refused in plain English, naming the field it needs', async () => {
    const m = path.join(work, 'bad-check.yaml');
    await writeFile(m, `apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: bad }\nzones: [{ name: app, self: true }]\nendpoints:\n  - name: t\n    category: telemetry\n    urls: [https://t.example.com]\n    from: app\n    purpose: p\n    mitigation: { type: disabled }\n    checks: [{ kind: env, name: T, value: "false" }]\n`);
    const r = await runFerry(['inventory', m]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('endpoints[0].checks[0]: an env check needs key');
  });
});
