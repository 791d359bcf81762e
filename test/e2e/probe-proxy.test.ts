import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net, { type AddressInfo, type Server } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../support/cli.js';
import { startSquid, type Squid } from '../support/squid.js';
import { freePort } from '../support/registry.js';

/**
 * `ferry probe` through a real squid on loopback. squid allows CONNECT to one listening port,
 * to a second listening port only with credentials (407 without), and denies everything else
 * (403). Its own hosts file names egress.test and vendor.test, which this host's resolver does
 * not know: direct probes fail DNS while the proxy reaches them — the egress a direct-only
 * probe missed. squid listens on two ports: one stands for the manifest's (and --proxy's)
 * proxy, the other for the environment's.
 */
const PASSWORD = 'pr0be-s3cret';

let dir: string;
let squid: Squid;
let squidPort: number;
let envSquidPort: number;
const servers: Server[] = [];
let openPort: number;
let authPort: number;
let closedPort: number;
let manifest: string;

async function listener(): Promise<number> {
  const s = net.createServer((sock) => sock.destroy());
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return (s.address() as AddressInfo).port;
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-probe-proxy-'));
  await chmod(dir, 0o755);
  openPort = await listener();
  authPort = await listener();
  closedPort = await freePort();
  const hosts = path.join(dir, 'hosts');
  await writeFile(hosts, '127.0.0.1 egress.test vendor.test\n');
  await chmod(hosts, 0o644);
  squid = await startSquid(dir, {
    listeners: 2,
    password: PASSWORD,
    config: [
      `hosts_file ${hosts}`,
      'acl CONNECT method CONNECT',
      `acl open_port port ${openPort}`,
      `acl auth_port port ${authPort}`,
      'http_access allow CONNECT open_port',
      'http_access allow CONNECT auth_port authed',
      'http_access deny all',
    ],
  });
  [squidPort, envSquidPort] = squid.ports;

  manifest = path.join(dir, 'probe.yaml');
  await writeFile(
    manifest,
    `apiVersion: ferry/v1alpha1
kind: Manifest
metadata: { name: probe-proxy }
zones:
  - { name: node, cidrs: [127.0.0.0/8] }
  - { name: outside, external: true }
endpoints:
  - { name: allowed-api, category: other, hosts: [127.0.0.1], from: node, ports: [${openPort}], purpose: allowed by exception, mitigation: { type: exception, reason: fixture, review: 2030-01-01 } }
  - { name: mirrored-downloads, category: download, hosts: [127.0.0.1], from: node, ports: [${closedPort}], purpose: "mirrored, egress blocked", mitigation: { type: mirrored } }
  - { name: leaky-telemetry, category: telemetry, hosts: [egress.test], from: node, ports: [${openPort}], purpose: should be disabled, mitigation: { type: disabled, description: TELEMETRY=0 } }
  - { name: vendor-api, category: other, hosts: [vendor.test], from: node, ports: [${authPort}], purpose: through the proxy, mitigation: { type: proxied, proxy: "127.0.0.1:${squidPort}" } }
  - { name: vendor-closed, category: other, hosts: [vendor.test], from: node, ports: [${closedPort}], purpose: through the proxy, mitigation: { type: proxied, proxy: "127.0.0.1:${squidPort}" } }
`,
  );
}, 60_000);

afterAll(async () => {
  await squid?.stop();
  for (const s of servers) await new Promise((r) => s.close(r));
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface ProxyProbe {
  proxy: string;
  result: string;
  statusCode?: number;
  statusLine?: string;
}
interface Rec {
  name: string;
  port: number;
  status: string;
  expected: string;
  verdict: string;
  why: string;
  proxies: ProxyProbe[];
}

const noEnv = { HTTPS_PROXY: '', https_proxy: '', HTTP_PROXY: '', http_proxy: '', NO_PROXY: '', no_proxy: '' };
const byName = (report: { records: Rec[] }) => Object.fromEntries(report.records.map((r) => [`${r.name}`, r]));

describe('ferry probe through proxies (real squid)', () => {
  it('asks --proxy (with credentials), the environment proxy (honouring NO_PROXY) and the manifest proxy; a destination reachable only through a proxy is unexpected', async () => {
    const env = { ...noEnv, HTTPS_PROXY: `http://127.0.0.1:${envSquidPort}`, NO_PROXY: 'vendor.test' };
    const r = await runFerry(['probe', manifest, '--timeout', '5000', '--proxy', `http://ferry:${PASSWORD}@127.0.0.1:${squidPort}`, '--json'], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).not.toContain(PASSWORD);
    const report = JSON.parse(r.stdout);
    const main = `127.0.0.1:${squidPort}`;
    const fromEnv = `127.0.0.1:${envSquidPort}`;
    expect(report.proxies).toEqual([
      { proxy: main, sources: ['--proxy', 'manifest: vendor-api', 'manifest: vendor-closed'], authenticated: true, honoursNoProxy: false },
      { proxy: fromEnv, sources: ['HTTPS_PROXY'], authenticated: false, honoursNoProxy: true },
    ]);
    const recs = byName(report);
    const row = (n: string) => [recs[n].status, ...recs[n].proxies.map((p: ProxyProbe) => `${p.proxy}=${p.result}${p.statusCode ? ` ${p.statusCode}` : ''}`), recs[n].expected, recs[n].verdict];
    expect(row('allowed-api')).toEqual(['reachable', `${main}=reachable 200`, `${fromEnv}=reachable 200`, 'allowed', 'as-declared']);
    expect(row('mirrored-downloads')).toEqual(['refused', `${main}=refused 403`, `${fromEnv}=refused 403`, 'blocked', 'inconclusive']);
    expect(row('leaky-telemetry')).toEqual(['dns-failed', `${main}=reachable 200`, `${fromEnv}=reachable 200`, 'blocked', 'unexpected']);
    expect(row('vendor-api')).toEqual(['dns-failed', `${main}=reachable 200`, `${fromEnv}=not-asked`, 'via-proxy', 'as-declared']);
    expect(row('vendor-closed')).toEqual(['dns-failed', `${main}=refused 403`, `${fromEnv}=not-asked`, 'via-proxy', 'proxy-refused']);
    expect(recs['mirrored-downloads'].proxies[0].statusLine).toMatch(/^HTTP\/1\.1 403 Forbidden/);
    expect(recs['leaky-telemetry'].why).toBe(`should be blocked, reachable via ${main}, via ${fromEnv}`);
    expect(report.summary).toMatchObject({ reachable: 1, refused: 1, 'dns-failed': 3, unexpected: 1, inconclusive: 1, 'proxy-refused': 1, 'as-declared': 2, reachableViaProxy: 3 });
  });

  it('the manifest proxy alone, without credentials: 407 is proxy-refused; --reset-means-blocked counts a refused connect as blocked', async () => {
    const r = await runFerry(['probe', manifest, '--timeout', '5000', '--reset-means-blocked', '--no-env-proxy', '--json'], { env: { ...noEnv, HTTPS_PROXY: `http://127.0.0.1:${envSquidPort}` } });
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.resetMeansBlocked).toBe(true);
    expect(report.proxies.map((p: { proxy: string }) => p.proxy)).toEqual([`127.0.0.1:${squidPort}`]);
    const recs = byName(report);
    expect(recs['vendor-api'].proxies[0]).toMatchObject({ result: 'refused', statusCode: 407 });
    expect(recs['vendor-api'].verdict).toBe('proxy-refused');
    expect(recs['mirrored-downloads'].verdict).toBe('as-declared');
    expect(recs['leaky-telemetry'].verdict).toBe('unexpected');
  });

  it('prints one column per proxy, never the credentials, and --fail-on exits 5 naming the destinations', async () => {
    const args = ['probe', manifest, '--timeout', '5000', '--proxy', `http://ferry:${PASSWORD}@127.0.0.1:${squidPort}`];
    const r = await runFerry([...args, '--fail-on', 'unexpected,proxy-refused'], { env: noEnv });
    expect(r.code).toBe(5);
    expect(r.stdout + r.stderr).not.toContain(PASSWORD);
    expect(r.stdout).toContain(`via 127.0.0.1:${squidPort}`);
    expect(r.stdout).toContain(`proxy 127.0.0.1:${squidPort}: from --proxy, manifest: vendor-api, manifest: vendor-closed, with credentials`);
    expect(r.stdout).toMatch(/leaky-telemetry\s+blocked\s+dns-failed\s+reachable \(HTTP\/1\.1 200/);
    expect(r.stdout).toContain('1 unexpected, 1 inconclusive, 1 proxy-refused');
    expect(r.stderr).toContain('probe failed (--fail-on unexpected,proxy-refused, exit 5): 2 destinations with that verdict');
    expect(r.stderr).toContain(`egress.test:${openPort}  (leaky-telemetry)  unexpected`);
    expect(r.stderr).toContain(`vendor.test:${closedPort}  (vendor-closed)  proxy-refused`);
    const bad = await runFerry([...args, '--fail-on', 'everything'], { env: noEnv });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--fail-on everything: unknown');
    const socks = await runFerry(['probe', manifest, '--proxy', `socks5://ferry:${PASSWORD}@127.0.0.1:1080`], { env: noEnv });
    expect(socks.code).toBe(2);
    expect(socks.stderr).toContain('--proxy: 127.0.0.1:1080: socks5 proxies are not supported');
    expect(socks.stderr).not.toContain(PASSWORD);
  });
});
