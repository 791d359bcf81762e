import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FERRY, runCommand } from '../support/cli.js';

/**
 * Redirects to host names that resolve to this machine or to a link-local address. The names are
 * real: the built CLI runs in a user and mount namespace whose /etc/hosts (bind-mounted, as a
 * site's own hosts file or a rebinding DNS answer would give them) maps `files.example.test`
 * (the server elsewhere) and `rebind.example.test` to 127.0.0.1 and `meta.example.test` to the
 * cloud metadata address; glibc resolves them as for any program. A second loopback server
 * stands for a service on this machine; it must get nothing from a redirect, and still answer
 * when the manifest names it itself.
 */
let work: string;
let hostsFile: string;
let outside: Server;
let outsidePort: number;
let local: Server;
let localPort: number;
let redirectTo = '';
const localSeen: string[] = [];

const listen = async (handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<[Server, number]> => {
  const s = createServer(handler);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return [s, (s.address() as AddressInfo).port];
};

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-hostile24-net-'));
  hostsFile = path.join(work, 'hosts');
  await writeFile(hostsFile, ['127.0.0.1 localhost', '127.0.0.1 files.example.test', '127.0.0.1 rebind.example.test', '169.254.169.254 meta.example.test', ''].join('\n'));
  [outside, outsidePort] = await listen((_req, res) => void res.writeHead(302, { location: redirectTo }).end());
  [local, localPort] = await listen((req, res) => {
    localSeen.push(req.url ?? '');
    res.writeHead(200, { 'content-length': '6' }).end('secret');
  });
});

afterAll(async () => {
  await new Promise<void>((r) => outside.close(() => r()));
  await new Promise<void>((r) => local.close(() => r()));
  await rm(work, { recursive: true, force: true });
});

/** `ferry lock` of one file URL, run with the namespace's /etc/hosts. */
async function lockFile(name: string, url: string) {
  const dir = path.join(work, name);
  await runCommand('mkdir', ['-p', dir]);
  await writeFile(path.join(dir, 'manifest.yaml'), ['apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata: { name: rebind }', 'files:', '  - name: disk', `    url: ${url}`, ''].join('\n'));
  const env = { FERRY_CACHE_DIR: path.join(dir, 'cache'), FERRY_RETRIES: '1', FERRY_RETRY_MIN_MS: '50', HTTP_PROXY: '', HTTPS_PROXY: '', http_proxy: '', https_proxy: '', NO_PROXY: '', no_proxy: '' };
  const r = await runCommand('unshare', ['--user', '--map-root-user', '--mount', 'sh', '-c', 'mount --bind "$0" /etc/hosts && exec "$@"', hostsFile, process.execPath, FERRY, 'lock', 'manifest.yaml'], { cwd: dir, env, timeoutMs: 60_000 });
  return { ...r, out: r.stdout + r.stderr, dir };
}

describe('a redirect from a server elsewhere to a name that resolves to this machine or link-local', () => {
  it('the namespace resolves the names as the test means (a check of the set-up itself)', async () => {
    const r = await runCommand('unshare', ['--user', '--map-root-user', '--mount', 'sh', '-c', 'mount --bind "$0" /etc/hosts && getent ahostsv4 rebind.example.test meta.example.test', hostsFile]);
    expect(r.stdout).toMatch(/^127\.0\.0\.1\s+STREAM rebind\.example\.test/m);
    expect(r.stdout).toMatch(/^169\.254\.169\.254\s+STREAM meta\.example\.test/m);
  });

  it('a name resolving to 127.0.0.1: refused at the connection, naming the address; the local service gets nothing', async () => {
    redirectTo = `http://rebind.example.test:${localPort}/admin/token`;
    localSeen.length = 0;
    const r = await lockFile('loopback-name', `http://files.example.test:${outsidePort}/disk.img`);
    expect(r.code, r.out).not.toBe(0);
    expect(r.out).toContain(`redirected to "http://rebind.example.test:${localPort}/admin/token", whose host rebind.example.test resolves to 127.0.0.1, which is this machine; refusing to follow a redirect there from another host`);
    expect(localSeen).toEqual([]);
    await expect(readFile(path.join(r.dir, 'rebind.lock.json'))).rejects.toThrow();
  }, 90_000);

  it('a name resolving to the metadata address: refused before any connection is tried', async () => {
    redirectTo = 'http://meta.example.test/latest/meta-data/iam/security-credentials/';
    const r = await lockFile('metadata-name', `http://files.example.test:${outsidePort}/disk.img`);
    expect(r.code, r.out).not.toBe(0);
    expect(r.out).toContain('whose host meta.example.test resolves to 169.254.169.254, a link-local address (where cloud metadata services answer); refusing');
  }, 90_000);

  it('an IPv4-mapped IPv6 literal of 127.0.0.1 ([::ffff:127.0.0.1]) is this machine too', async () => {
    redirectTo = `http://[::ffff:127.0.0.1]:${localPort}/admin/token`;
    localSeen.length = 0;
    const r = await lockFile('mapped-literal', `http://files.example.test:${outsidePort}/disk.img`);
    expect(r.code, r.out).not.toBe(0);
    expect(r.out).toContain(`redirected to "http://[::ffff:7f00:1]:${localPort}/admin/token", which is this machine; refusing`);
    expect(localSeen).toEqual([]);
  }, 90_000);

  it('the same name, named in the manifest itself, is the user\'s choice and is fetched', async () => {
    localSeen.length = 0;
    const r = await lockFile('named', `http://rebind.example.test:${localPort}/admin/token`);
    expect(r.code, r.out).toBe(0);
    expect(localSeen.length).toBeGreaterThan(0);
    expect(await readFile(path.join(r.dir, 'rebind.lock.json'), 'utf8')).toContain(`http://rebind.example.test:${localPort}/admin/token`);
  }, 90_000);
});
