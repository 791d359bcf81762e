import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../support/cli.js';

/**
 * `ferry probe` against loopback only: declared destinations on 127.0.0.1 ports, one listening,
 * one closed, one listening although the manifest says it is disabled (egress not limited).
 */
/** The environment's proxies are asked too (test/e2e/probe-proxy.test.ts): none here. */
const NO_PROXIES = { HTTPS_PROXY: '', https_proxy: '', HTTP_PROXY: '', http_proxy: '' };
let dir: string;
let server: Server;
let openPort: number;
let closedPort: number;

function listen(s: Server): Promise<number> {
  return new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve((s.address() as { port: number }).port)));
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-probe-'));
  server = createServer((sock) => sock.destroy());
  openPort = await listen(server);
  // A port that was free a moment ago and has nothing listening now.
  const tmp = createServer();
  closedPort = await listen(tmp);
  await new Promise((r) => tmp.close(r));
  await writeFile(
    path.join(dir, 'probe.yaml'),
    `apiVersion: ferry/v1alpha1
kind: Manifest
metadata: { name: probe-fixture }
zones:
  - { name: node, cidrs: [127.0.0.0/8] }
  - { name: outside, external: true }
endpoints:
  - { name: allowed-api, category: other, hosts: [127.0.0.1], from: node, ports: [${openPort}], purpose: allowed by exception, mitigation: { type: exception, reason: fixture, review: 2030-01-01 } }
  - { name: mirrored-downloads, category: download, hosts: [127.0.0.1], from: node, ports: [${closedPort}], purpose: "mirrored, egress blocked", mitigation: { type: mirrored } }
  - { name: leaky-telemetry, category: telemetry, hosts: [localhost], from: node, ports: [${openPort}], purpose: should be disabled, mitigation: { type: disabled, description: TELEMETRY=0 } }
  - { name: smtp, category: notification, hosts: [<smtp_host>], from: node, ports: [587], purpose: operator chooses the host, mitigation: { type: disabled } }
  - { name: browser-analytics, category: analytics, hosts: [127.0.0.1], from: node, side: browser, ports: [${openPort}], purpose: browser side only, mitigation: { type: exception, reason: fixture, review: 2030-01-01 } }
`,
  );
});

afterAll(async () => {
  await new Promise((r) => server?.close(r));
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('ferry probe', () => {
  it('records reachable, refused and skipped per destination and flags egress that should be blocked', async () => {
    const r = await runFerry(['probe', path.join(dir, 'probe.yaml'), '--timeout', '2000', '--json'], { env: NO_PROXIES });
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    const rows = report.records.map((x: { name: string; host: string; port: number; status: string; expected: string; verdict: string }) => [x.name, x.host, x.port, x.status, x.expected, x.verdict]);
    expect(rows).toEqual(
      [
        ['allowed-api', '127.0.0.1', openPort, 'reachable', 'allowed', 'as-declared'],
        // A refused connect (TCP reset) is what a host's closed port answers too: no evidence of blocking.
        ['mirrored-downloads', '127.0.0.1', closedPort, 'refused', 'blocked', 'inconclusive'],
        ['leaky-telemetry', 'localhost', openPort, 'reachable', 'blocked', 'unexpected'],
        ['smtp', '<smtp_host>', 587, 'skipped', 'blocked', 'n/a'],
      ].sort((a, b) => String(a[1]).localeCompare(String(b[1])) || Number(a[2]) - Number(b[2]) || String(a[0]).localeCompare(String(b[0]))),
    );
    expect(report.records.find((x: { name: string }) => x.name === 'leaky-telemetry').addresses).toContain('127.0.0.1');
    expect(report.summary).toMatchObject({ reachable: 2, refused: 1, skipped: 1, unexpected: 1, inconclusive: 1 });
    expect(report.timeoutMs).toBe(2000);
    expect(report.proxies).toEqual([]);
    const reset = JSON.parse((await runFerry(['probe', path.join(dir, 'probe.yaml'), '--timeout', '2000', '--reset-means-blocked', '--json'], { env: NO_PROXIES })).stdout);
    expect(reset.records.find((x: { name: string }) => x.name === 'mirrored-downloads').verdict).toBe('as-declared');
  });

  it('prints a table and refuses a bad --timeout', async () => {
    const r = await runFerry(['probe', path.join(dir, 'probe.yaml'), '--timeout', '2000'], { env: NO_PROXIES });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/leaky-telemetry\s+blocked\s+reachable/);
    expect(r.stdout).toContain('1 unexpected');
    const bad = await runFerry(['probe', path.join(dir, 'probe.yaml'), '--timeout', 'soon']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--timeout soon');
    const strict = await runFerry(['probe', path.join(dir, 'probe.yaml'), '--timeout', '2000', '--fail-on', 'unexpected'], { env: NO_PROXIES });
    expect(strict.code).toBe(5);
    const zone = await runFerry(['probe', path.join(dir, 'probe.yaml'), '--zone', 'elsewhere']);
    expect(zone.code).toBe(2);
    expect(zone.stderr).toContain('--zone elsewhere: no such zone in probe-fixture');
  });
});
