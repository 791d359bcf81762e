import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../support/cli.js';
import { writeEndless } from '../support/fault-proxy.js';
import { makeTestCa, type TestCa } from '../support/registry.js';

/**
 * Hostile registry and token-service answers while `ferry lock` pins an image (pass 8): an
 * in-process server on loopback plays the registry, once over plain HTTP and once over HTTPS
 * (a test CA trusted through SSL_CERT_FILE), and answers what a crafted or compromised registry
 * could. Each ends in a clear error naming the image and the problem, with no lock file
 * written, nothing fetched in clear text that was asked for over HTTPS, and no credentials
 * sent in clear text.
 */

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

let work: string;
let ca: TestCa;
let plain: http.Server;
let secure: https.Server;
let plainHost: string;
let tlsHost: string;
let handler: Handler;
/** Requests the plain-HTTP server saw, with their Authorization header. */
const plainSeen: Array<{ url: string; authorization?: string }> = [];
let n = 0;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-hostile8-'));
  ca = await makeTestCa(path.join(work, 'ca'));
  plain = http.createServer((req, res) => {
    plainSeen.push({ url: req.url!, authorization: req.headers.authorization });
    handler(req, res);
  });
  secure = https.createServer({ key: await readFile(ca.keyFile), cert: await readFile(ca.certFile) }, (req, res) => handler(req, res));
  await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
  await new Promise<void>((r) => secure.listen(0, '127.0.0.1', r));
  plainHost = `127.0.0.1:${(plain.address() as AddressInfo).port}`;
  tlsHost = `127.0.0.1:${(secure.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const s of [plain, secure]) {
    s?.closeAllConnections();
    await new Promise((r) => s?.close(r));
  }
  if (work) await rm(work, { recursive: true, force: true });
});

async function lock(ref: string, env: Record<string, string> = {}) {
  const dir = path.join(work, `c${++n}`);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'manifest.yaml'), `apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: h }\nimages:\n  - ref: ${ref}\n`);
  const r = await runFerry(['lock', 'manifest.yaml'], {
    cwd: dir,
    env: { FERRY_CACHE_DIR: path.join(dir, 'cache'), FERRY_RETRIES: '1', FERRY_RETRY_MIN_MS: '10', SSL_CERT_FILE: ca.caFile, ...env },
    timeoutMs: 90_000,
  });
  return { ...r, files: await readdir(dir) };
}

/** The lock was refused: a clear error matching `problem`, no crash, no lock file. */
function refused(r: Awaited<ReturnType<typeof lock>>, problem: RegExp): void {
  expect(r.code, r.stderr).not.toBe(0);
  expect(r.stderr).toMatch(problem);
  expect(r.stderr).not.toMatch(/unexpected error|\n\s+at /);
  expect(r.files.filter((f) => f.endsWith('.lock.json'))).toEqual([]);
}

const sha256 = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');

function send(res: http.ServerResponse, body: Buffer | string, contentType = 'application/vnd.oci.image.manifest.v1+json', status = 200) {
  const b = Buffer.from(body);
  res.writeHead(status, { 'content-type': contentType, 'content-length': String(b.length) });
  res.end(b);
}

/** Answers /v2/ and routes the rest of evil/app to `rest`. */
function registry(rest: Handler): Handler {
  return (req, res) => {
    if (req.url === '/v2/') return send(res, '{}', 'application/json');
    return rest(req, res);
  };
}

async function dockerConfigFor(host: string): Promise<string> {
  const dir = path.join(work, `docker-${++n}`);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'config.json'), JSON.stringify({ auths: { [host]: { auth: Buffer.from('user:secret').toString('base64') } } }));
  return dir;
}

describe('error answers that never end', () => {
  it('a registry error (HTTP 400) with an endless body is cut off, and the error names the image (was a hang, draining it)', async () => {
    handler = registry((_req, res) => writeEndless(res, 400, '{"errors":['));
    refused(await lock(`${plainHost}/evil/app:1`), new RegExp(`${plainHost}/evil/app:1 manifest: unexpected HTTP 400 from ${plainHost}`));
  });

  it('a token endpoint refusing with an endless body (HTTP 400) is cut off, naming the endpoint (was a hang)', async () => {
    handler = (req, res) => {
      if (req.url!.startsWith('/token')) return writeEndless(res, 400, 'bad request ');
      res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${plainHost}/token",service="x"` });
      res.end();
    };
    refused(await lock(`${plainHost}/evil/app:1`), new RegExp(`token endpoint http://${plainHost}/token for ${plainHost}: unexpected HTTP 400: bad request a+`));
  });
});

describe('HTTPS stays HTTPS', () => {
  it('a registry over HTTPS redirecting a manifest to plain HTTP is not followed; the plain server gets no request', async () => {
    plainSeen.length = 0;
    handler = registry((req, res) => {
      res.writeHead(307, { location: `http://${plainHost}${req.url}` });
      res.end();
    });
    refused(await lock(`${tlsHost}/evil/app:1`), new RegExp(`redirected from HTTPS to plain HTTP \\("http://${plainHost}/v2/evil/app/manifests/1"\\); refusing to follow it`));
    expect(plainSeen).toEqual([]);
  });

  it('credentials for a registry over HTTPS are not sent to a token realm on the same host over plain HTTP; the realm gets no request', async () => {
    plainSeen.length = 0;
    handler = (req, res) => {
      if (req.url!.startsWith('/token')) return send(res, '{"token":"t"}', 'application/json');
      res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${plainHost}/token",service="x"` });
      res.end();
    };
    const r = await lock(`${tlsHost}/evil/app:1`, { DOCKER_CONFIG: await dockerConfigFor(tlsHost) });
    refused(r, new RegExp(`the token realm http://${plainHost} is the same host over plain HTTP, while the registry uses HTTPS; refusing to send the credentials for ${tlsHost}`));
    expect(plainSeen).toEqual([]);
  });
});

describe('indexes', () => {
  const child = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${'a'.repeat(64)}`, size: 2 },
      layers: [],
    }),
  );
  const childDigest = sha256(child);
  /** An index of `count` entries; entry i names the one child with `size(i)` as its size. */
  const indexOf = (count: number, size: (i: number) => number) =>
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: Array.from({ length: count }, (_, i) => ({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: childDigest, size: size(i), platform: { os: 'linux', architecture: `arch${i}` } })),
    });
  let manifestGets = 0;
  const serving = (index: string): Handler =>
    registry((req, res) => {
      if (req.url === '/v2/evil/app/manifests/1') return send(res, index, 'application/vnd.oci.image.index.v1+json');
      if (req.url === `/v2/evil/app/manifests/${childDigest}`) {
        manifestGets++;
        return send(res, child);
      }
      res.writeHead(404);
      res.end();
    });

  it('an index listing 20 000 manifests (4 MB, under the manifest cap) is refused before any of them is fetched', async () => {
    manifestGets = 0;
    handler = serving(indexOf(20_000, () => child.length));
    refused(await lock(`${plainHost}/evil/app:1`), /evil\/app:1: the index lists 20000 manifests, more than the 1000 ferry reads/);
    expect(manifestGets).toBe(0);
  });

  it('an index whose descriptor size disagrees with the manifest served is refused, naming the manifest', async () => {
    handler = serving(indexOf(2, (i) => (i === 1 ? 1 : child.length)));
    refused(await lock(`${plainHost}/evil/app:1`), new RegExp(`evil/app:1: the index says manifest ${childDigest} is 1 bytes, the registry served ${child.length}`));
  });

  it('a Content-Type that disagrees with the manifest is refused (an image sent as an index was locked with no blobs at all)', async () => {
    const index = indexOf(1, () => child.length);
    const cases: Array<[string, string, RegExp]> = [
      [child.toString(), 'application/vnd.oci.image.index.v1+json', /the registry sent it as application\/vnd\.oci\.image\.index\.v1\+json, but the manifest says it is application\/vnd\.oci\.image\.manifest\.v1\+json/],
      [child.toString().replace(/"mediaType":"application\/vnd\.oci\.image\.manifest\.v1\+json",/, ''), 'application/vnd.docker.distribution.manifest.list.v2+json', /the registry sent it as application\/vnd\.docker\.distribution\.manifest\.list\.v2\+json, but it lists no manifests/],
      [index.replace(/"mediaType":"application\/vnd\.oci\.image\.index\.v1\+json",/, ''), 'application/vnd.oci.image.manifest.v1+json', /the registry sent it as application\/vnd\.oci\.image\.manifest\.v1\+json, but it has no config/],
    ];
    for (const [body, contentType, problem] of cases) {
      handler = registry((req, res) => {
        if (req.url === '/v2/evil/app/manifests/1') return send(res, body, contentType);
        res.writeHead(404);
        res.end();
      });
      refused(await lock(`${plainHost}/evil/app:1`), new RegExp(`evil/app:1: ${problem.source}`));
    }
  });
});

describe('retry', () => {
  it('a 429 asking to retry after 999999999 s fails at once, saying so, instead of waiting', async () => {
    handler = registry((_req, res) => {
      res.writeHead(429, { 'retry-after': '999999999' });
      res.end();
    });
    refused(await lock(`${plainHost}/evil/app:1`), /evil\/app:1 manifest: server asked to retry after 999999999 s, longer than ferry waits/);
  });
});
