import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FERRY, runCommand } from '../support/cli.js';

/**
 * Redirects (and token realms) to host names that resolve to this machine or to a link-local
 * address. Everything runs in a network and mount namespace of its own: the "server elsewhere"
 * listens on 192.0.2.1 (an address of the namespace's `lo`, not loopback: another machine as far
 * as ferry can tell), a service on this machine on 127.0.0.1:9090, and a server on this machine
 * that a name reaches (`here.example.test`) on 127.0.0.1:8081. /etc/hosts is bind-mounted (as a
 * site's own hosts file or a rebinding DNS answer would give the names), so glibc resolves them as
 * for any program: `files.example.test` → 192.0.2.1, `rebind.example.test` and `here.example.test`
 * → 127.0.0.1, `meta.example.test` → 169.254.169.254.
 */
let work: string;

/** As root, network and mount namespaces are enough; otherwise a user namespace maps this user to root in it. */
const NS = process.getuid?.() === 0 ? ['--net', '--mount'] : ['--user', '--map-root-user', '--net', '--mount'];

/** The servers, in the namespace: they answer as `REDIRECT` and `REALM` say and log what the local service is asked. */
const SERVERS = `
import { createServer } from 'node:http';
import { appendFileSync, writeFileSync } from 'node:fs';
const [redirect, realm, log, ready] = process.argv.slice(2);
const elsewhere = (req, res) => {
  if (req.url.startsWith('/v2/')) return void res.writeHead(401, { 'www-authenticate': 'Bearer realm="' + realm + '",service="registry"', 'content-length': '0' }).end();
  // A chart repository whose index names its archive at \`redirect\`.
  if (req.url === '/charts/index.yaml') {
    const index = 'apiVersion: v1\\nentries:\\n  demo:\\n    - name: demo\\n      version: 1.0.0\\n      apiVersion: v2\\n      urls: ["' + redirect + '"]\\n';
    return void res.writeHead(200, { 'content-type': 'text/yaml', 'content-length': String(Buffer.byteLength(index)) }).end(index);
  }
  res.writeHead(302, { location: redirect, 'content-length': '0' }).end();
};
let up = 0;
const started = () => { if (++up === 3) writeFileSync(ready, 'up'); };
createServer(elsewhere).listen(8080, '192.0.2.1', started);
createServer(elsewhere).listen(8081, '127.0.0.1', started);
createServer((req, res) => {
  appendFileSync(log, req.url + '\\n');
  res.writeHead(200, { 'content-length': '6' }).end('secret');
}).listen(9090, '127.0.0.1', started);
`;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-hostile24-net-'));
  await writeFile(path.join(work, 'hosts'), ['127.0.0.1 localhost', '192.0.2.1 files.example.test', '127.0.0.1 rebind.example.test here.example.test', '169.254.169.254 meta.example.test', ''].join('\n'));
  await writeFile(path.join(work, 'servers.mjs'), SERVERS);
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** `sh -c` in the namespace: /etc/hosts, `lo` up with 192.0.2.1, the servers, then the command. */
const IN_NAMESPACE = `set -e
mount --bind "$WORK/hosts" /etc/hosts
ip link set lo up
ip addr add 192.0.2.1/32 dev lo
"$NODE" "$WORK/servers.mjs" "$REDIRECT" "$REALM" "$DIR/seen.log" "$DIR/ready" &
servers=$!
i=0; while [ ! -f "$DIR/ready" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
set +e
"$@"
rc=$?
kill $servers
exit $rc`;

/**
 * `ferry lock` of one file URL (or one image, with `--insecure-registry` for its plain-HTTP
 * registry) in the namespace, the servers answering with `redirect` / `realm`.
 */
async function lock(name: string, entry: { file: string } | { image: string; registry: string } | { chartRepo: string }, answers: { redirect?: string; realm?: string } = {}) {
  const dir = path.join(work, name);
  await mkdir(dir, { recursive: true });
  const entries =
    'file' in entry
      ? ['files:', '  - name: disk', `    url: ${entry.file}`]
      : 'chartRepo' in entry
        ? ['charts:', '  - name: demo', `    repo: ${entry.chartRepo}`, '    version: 1.0.0']
        : ['images:', `  - ref: ${entry.image}`];
  await writeFile(path.join(dir, 'manifest.yaml'), ['apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata: { name: rebind }', ...entries, ''].join('\n'));
  const env = {
    WORK: work,
    DIR: dir,
    NODE: process.execPath,
    REDIRECT: answers.redirect ?? 'http://unused.invalid/',
    REALM: answers.realm ?? 'http://unused.invalid/',
    FERRY_CACHE_DIR: path.join(dir, 'cache'),
    FERRY_RETRIES: '1',
    FERRY_RETRY_MIN_MS: '50',
    HTTP_PROXY: '',
    HTTPS_PROXY: '',
    http_proxy: '',
    https_proxy: '',
    NO_PROXY: '',
    no_proxy: '',
  };
  const cmd = [process.execPath, FERRY, 'lock', 'manifest.yaml', ...('registry' in entry ? ['--insecure-registry', entry.registry] : [])];
  const r = await runCommand('unshare', [...NS, 'sh', '-c', IN_NAMESPACE, 'sh', ...cmd], { cwd: dir, env, timeoutMs: 60_000 });
  const seen = (await readFile(path.join(dir, 'seen.log'), 'utf8').catch(() => '')).split('\n').filter(Boolean);
  return { ...r, out: r.stdout + r.stderr, dir, seen };
}

describe('a redirect from a server elsewhere to a name that resolves to this machine or link-local', () => {
  it('the namespace resolves the names and reaches the servers as the test means (a check of the set-up itself)', async () => {
    const r = await lock('setup', { file: 'http://here.example.test:9090/probe' });
    expect(r.code, r.out).toBe(0);
    expect(r.seen).toContain('/probe');
    const names = await runCommand('unshare', [...NS, 'sh', '-c', 'mount --bind "$0" /etc/hosts && ip link set lo up && ip addr add 192.0.2.1/32 dev lo && getent ahostsv4 files.example.test rebind.example.test meta.example.test', path.join(work, 'hosts')]);
    expect(names.stdout).toMatch(/^192\.0\.2\.1\s+STREAM files\.example\.test/m);
    expect(names.stdout).toMatch(/^127\.0\.0\.1\s+STREAM rebind\.example\.test/m);
    expect(names.stdout).toMatch(/^169\.254\.169\.254\s+STREAM meta\.example\.test/m);
  }, 90_000);

  it('a name resolving to 127.0.0.1: refused at the connection, naming the address; the local service gets nothing', async () => {
    const r = await lock('loopback-name', { file: 'http://files.example.test:8080/disk.img' }, { redirect: 'http://rebind.example.test:9090/admin/token' });
    expect(r.code, r.out).not.toBe(0);
    expect(r.out).toContain('redirected to "http://rebind.example.test:9090/admin/token", whose host rebind.example.test resolves to 127.0.0.1, which is this machine; refusing to follow a redirect there from another host');
    expect(r.seen).toEqual([]);
    await expect(readFile(path.join(r.dir, 'rebind.lock.json'))).rejects.toThrow();
  }, 90_000);

  it('a name resolving to the metadata address: refused before any connection is tried', async () => {
    const r = await lock('metadata-name', { file: 'http://files.example.test:8080/disk.img' }, { redirect: 'http://meta.example.test/latest/meta-data/iam/security-credentials/' });
    expect(r.code, r.out).not.toBe(0);
    expect(r.out).toContain('whose host meta.example.test resolves to 169.254.169.254, a link-local address (where cloud metadata services answer); refusing');
  }, 90_000);

  it('an IPv4-mapped IPv6 literal of 127.0.0.1 ([::ffff:127.0.0.1]) is this machine too', async () => {
    const r = await lock('mapped-literal', { file: 'http://files.example.test:8080/disk.img' }, { redirect: 'http://[::ffff:127.0.0.1]:9090/admin/token' });
    expect(r.code, r.out).not.toBe(0);
    expect(r.out).toContain('redirected to "http://[::ffff:7f00:1]:9090/admin/token", which is this machine; refusing');
    expect(r.seen).toEqual([]);
  }, 90_000);

  it("a registry's token realm naming this machine (by a name that resolves there, or a literal): refused, nothing sent there", async () => {
    const registry = 'files.example.test:8080';
    for (const [name, to, said] of [
      ['realm-name', 'http://rebind.example.test:9090/token', 'whose host rebind.example.test resolves to 127.0.0.1, which is this machine'],
      ['realm-literal', 'http://127.0.0.1:9090/token', 'which is this machine'],
    ] as const) {
      const r = await lock(name, { image: `${registry}/app:1`, registry }, { realm: to });
      expect(r.code, r.out).not.toBe(0);
      expect(r.out).toContain(`names "${to}?service=registry&scope=repository%3Aapp%3Apull", ${said}; refusing to follow a URL there from another host`);
      expect(r.seen).toEqual([]);
    }
  }, 120_000);

  it("a chart repository's index naming its archive on this machine (by name or literal): refused, nothing sent there", async () => {
    for (const [name, to, said] of [
      ['index-name', 'http://rebind.example.test:9090/demo-1.0.0.tgz', 'whose host rebind.example.test resolves to 127.0.0.1, which is this machine'],
      ['index-metadata', 'http://169.254.169.254/latest/meta-data/demo-1.0.0.tgz', 'a link-local address (where cloud metadata services answer)'],
    ] as const) {
      const r = await lock(name, { chartRepo: 'http://files.example.test:8080/charts' }, { redirect: to });
      expect(r.code, r.out).not.toBe(0);
      expect(r.out).toContain(`names "${to}", ${said}; refusing to follow a URL there from another host`);
      expect(r.seen).toEqual([]);
    }
  }, 120_000);

  it("a server on this machine under a name (the machine's own hostname, as Debian's /etc/hosts maps it) may send ferry to this machine: its redirect and its token realm are followed", async () => {
    const redirected = await lock('here-redirect', { file: 'http://here.example.test:8081/disk.img' }, { redirect: 'http://rebind.example.test:9090/admin/token' });
    expect(redirected.code, redirected.out).toBe(0);
    expect(new Set(redirected.seen)).toEqual(new Set(['/admin/token']));
    // The token service answers no JSON: the lock fails there, after the realm was asked.
    const realm = await lock('here-realm', { image: 'here.example.test:8081/app:1', registry: 'here.example.test:8081' }, { realm: 'http://rebind.example.test:9090/token' });
    expect(realm.out).not.toContain('refusing');
    expect(new Set(realm.seen)).toEqual(new Set(['/token?service=registry&scope=repository%3Aapp%3Apull']));
  }, 120_000);

  it("the same name, named in the manifest itself, is the user's choice and is fetched", async () => {
    const r = await lock('named', { file: 'http://rebind.example.test:9090/admin/token' });
    expect(r.code, r.out).toBe(0);
    expect(new Set(r.seen)).toEqual(new Set(['/admin/token']));
    expect(await readFile(path.join(r.dir, 'rebind.lock.json'), 'utf8')).toContain('http://rebind.example.test:9090/admin/token');
  }, 90_000);
});
