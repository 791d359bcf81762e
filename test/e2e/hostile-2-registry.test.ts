import { execFileSync } from 'node:child_process';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../support/cli.js';
import { writeEndless } from '../support/fault-proxy.js';

/**
 * Hostile registry answers while `ferry lock` pins what a manifest names: an in-process HTTP
 * server on loopback plays a registry (and a second one, on another loopback address, a token
 * service) and answers what a crafted or compromised registry could. Each must end in a clear
 * error naming the image and the problem (never "unexpected error", never a stack), with no
 * lock file written, no credentials sent where they must not go, and memory bounded by a cap.
 */

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

let work: string;
let server: http.Server;
let tlsServer: https.Server;
let tlsHost: string;
let certFile: string;
let other: http.Server;
let host: string;
let otherHost: string;
let handler: Handler;
let otherHandler: Handler;
const seen: string[] = [];
const otherSeen: Array<{ url: string; authorization?: string }> = [];
let n = 0;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-hostile2-reg-'));
  server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    handler(req, res);
  });
  other = http.createServer((req, res) => {
    otherSeen.push({ url: req.url!, authorization: req.headers.authorization });
    otherHandler(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  await new Promise<void>((r) => other.listen(0, '127.0.0.2', r));
  host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  // The same registry over HTTPS (a self-signed certificate for 127.0.0.1, trusted through SSL_CERT_FILE).
  certFile = path.join(work, 'cert.pem');
  const keyFile = path.join(work, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  tlsServer = https.createServer({ key: await readFile(keyFile), cert: await readFile(certFile) }, (req, res) => handler(req, res));
  await new Promise<void>((r) => tlsServer.listen(0, '127.0.0.1', r));
  tlsHost = `127.0.0.1:${(tlsServer.address() as AddressInfo).port}`;
  otherHost = `127.0.0.2:${(other.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server?.closeAllConnections();
  tlsServer?.closeAllConnections();
  other?.closeAllConnections();
  await new Promise((r) => tlsServer?.close(r));
  await new Promise((r) => server?.close(r));
  await new Promise((r) => other?.close(r));
  if (work) await rm(work, { recursive: true, force: true });
});

async function lock(yaml: string, env: Record<string, string> = {}) {
  const dir = path.join(work, `c${++n}`);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'manifest.yaml'), `apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: h }\n${yaml}`);
  const r = await runFerry(['lock', 'manifest.yaml'], { cwd: dir, env: { FERRY_CACHE_DIR: path.join(dir, 'cache'), FERRY_RETRIES: '1', FERRY_RETRY_MIN_MS: '10', ...env }, timeoutMs: 60_000 });
  const files = await readdir(dir);
  return { ...r, files };
}

const image = () => `images:\n  - ref: ${host}/evil/app:1\n`;

function json(res: http.ServerResponse, body: unknown, headers: Record<string, string> = {}) {
  const b = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'content-length': String(b.length), ...headers });
  res.end(b);
}


/** The lock was refused: a clear error matching `problem`, no crash, no lock file. */
function refused(r: Awaited<ReturnType<typeof lock>>, problem: RegExp): void {
  expect(r.code, r.stderr).not.toBe(0);
  expect(r.stderr).toMatch(problem);
  expect(r.stderr).not.toMatch(/unexpected error|\n\s+at /);
  expect(r.files.filter((f) => f.endsWith('.lock.json'))).toEqual([]);
}

/** Answers /v2/ and the manifest of evil/app:1 (`manifest`), 404 for anything else. */
function registryWith(manifest: (req: http.IncomingMessage, res: http.ServerResponse) => void): Handler {
  return (req, res) => {
    if (req.url === '/v2/') return json(res, {});
    if (req.url === '/v2/evil/app/manifests/1') return manifest(req, res);
    res.writeHead(404);
    res.end();
  };
}

describe('manifests a registry answers', () => {
  it('not JSON: refused as such, naming the image (was "unexpected error")', async () => {
    handler = registryWith((_req, res) => json(res, 'not json {'));
    refused(await lock(image()), /evil\/app:1: manifest is not valid JSON/);
  });

  it('descriptors ferry cannot act on: a digest with a path in it, another algorithm, a negative or astronomic size', async () => {
    const cfg = { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${'a'.repeat(64)}`, size: 2 };
    const layer = { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${'b'.repeat(64)}`, size: 3 };
    const cases: Array<[object, RegExp]> = [
      [{ config: { ...cfg, digest: 'sha256:../../x' }, layers: [layer] }, /manifest config "sha256:\.\.\/\.\.\/x" is not a valid descriptor/],
      [{ config: cfg, layers: [layer, { ...layer, digest: `md5:${'c'.repeat(32)}` }] }, /manifest layers\[1\] "md5:c+" is not a valid descriptor/],
      [{ config: cfg, layers: [{ ...layer, size: -5 }] }, /manifest layers\[0\] "sha256:b+" is not a valid descriptor/],
      [{ config: { ...cfg, size: 1e300 }, layers: [layer] }, /manifest config "sha256:a+" is not a valid descriptor/],
      [{ manifests: [{ ...layer, mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: 'sha512:' + 'd'.repeat(128) }] }, /manifest manifests\[0\] "sha512:d+" is not a valid descriptor/],
      [{ config: cfg, layers: 'all of them' }, /manifest layers "?.*is not a valid descriptor/],
      [{ schemaVersion: 2 }, /neither an image manifest \(config, layers\) nor an index \(manifests\)/],
    ];
    for (const [m, problem] of cases) {
      handler = registryWith((_req, res) => json(res, { schemaVersion: 2, ...m }));
      refused(await lock(image()), problem);
    }
  });
});

describe('token service answers and challenges', () => {
  const challenge = (realm: string): Handler => (req, res) => {
    if (req.headers.authorization) return registryWith((_q, r) => json(r, 'not json'))(req, res);
    res.writeHead(401, { 'www-authenticate': `Bearer realm="${realm}",service="x"` });
    res.end();
  };

  it('a realm that is not an http(s) URL (file:, garbage) is refused naming it (garbage was "unexpected error")', async () => {
    handler = challenge('file:///etc/passwd');
    refused(await lock(image()), /the bearer challenge's realm "file:\/\/\/etc\/passwd" is not an http\(s\) URL/);
    handler = challenge('::::');
    refused(await lock(image()), /the bearer challenge's realm "::::" is not an http\(s\) URL/);
  });

  it('a token answer that never ends is cut off at its cap, naming the endpoint', async () => {
    handler = challenge(`http://${otherHost}/token`);
    otherHandler = (_req, res) => writeEndless(res, 200, '{"token":"');
    refused(await lock(image()), new RegExp(`token endpoint http://${otherHost.replace(/\./g, '\\.')}/token answered more than 1048576 bytes; refusing it`));
  });

  it('credentials for a registry reached over HTTPS are not sent in clear text to a token realm on another host; the realm gets no request', async () => {
    const cfg = path.join(work, 'docker');
    await mkdir(cfg, { recursive: true });
    await writeFile(path.join(cfg, 'config.json'), JSON.stringify({ auths: { [tlsHost]: { auth: Buffer.from('user:secret').toString('base64') } } }));
    otherSeen.length = 0;
    handler = challenge(`http://${otherHost}/token`);
    otherHandler = (_req, res) => json(res, { token: 't' });
    const r = await lock(`images:\n  - ref: ${tlsHost}/evil/app:1\n`, { DOCKER_CONFIG: cfg, SSL_CERT_FILE: certFile });
    refused(r, new RegExp(`the token realm http://${otherHost.replace(/\./g, '\\.')} is another host over plain HTTP, while the registry uses HTTPS; refusing to send the credentials`));
    expect(otherSeen).toEqual([]);
  });
});

describe('redirects', () => {
  it('a redirect loop stops with an error saying so (was "unexpected HTTP 302")', async () => {
    handler = registryWith((req, res) => {
      res.writeHead(302, { location: req.url });
      res.end();
    });
    refused(await lock(image()), /still redirected after 10 redirects \(a redirect loop\?\)/);
  });

  it('a redirect to file: or another non-HTTP scheme is not followed', async () => {
    for (const location of ['file:///etc/passwd', 'ftp://127.0.0.1/x']) {
      handler = registryWith((_req, res) => {
        res.writeHead(307, { location });
        res.end();
      });
      refused(await lock(image()), new RegExp(`redirected to "${location.replace(/\//g, '\\/')}", which is not an http\\(s\\) URL; refusing to follow it`));
    }
  });
});

describe('tag lists (versions of an OCI chart)', () => {
  const chart = () => `charts:\n  - name: x\n    repo: oci://${host}/charts\n    version: ">=2"\n`;
  const tags = (answer: (req: http.IncomingMessage, res: http.ServerResponse) => void): Handler => (req, res) => {
    if (req.url === '/v2/') return json(res, {});
    if (req.url!.startsWith('/v2/charts/x/tags/list')) return answer(req, res);
    res.writeHead(404);
    res.end();
  };

  it('300 000 tags in one page are read (was "Maximum call stack size exceeded")', async () => {
    handler = tags((_req, res) => json(res, { name: 'charts/x', tags: Array.from({ length: 300_000 }, (_, i) => `1.0.${i}`) }, { 'content-type': 'application/json' }));
    refused(await lock(chart()), /no version matches ">=2".*\n.*30 of 300000/);
  });

  it('a page that never ends is cut off at its cap', async () => {
    handler = tags((_req, res) => writeEndless(res, 200, '{"tags":[', Buffer.from('"1.0.0",'.repeat(8192))));
    refused(await lock(chart()), /charts\/x tags: a page of more than 16777216 bytes; refusing it/);
  });

  it('a next-page link that loops, and tags that are not names, are refused', async () => {
    handler = tags((req, res) => json(res, { tags: ['1.0.0'] }, { 'content-type': 'application/json', link: `<${req.url}>; rel="next"` }));
    refused(await lock(chart()), /next page link .* points back at a page already read \(a loop\)/);
    handler = tags((_req, res) => json(res, { tags: [{ evil: 1 }] }, { 'content-type': 'application/json' }));
    refused(await lock(chart()), /"tags" in the registry's answer is not a list of names/);
  });
});
