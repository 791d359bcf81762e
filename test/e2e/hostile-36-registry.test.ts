import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../support/cli.js';

/**
 * Hostile inputs, round 36: registry answers no round had tried, crafted by an in-process HTTP
 * server on loopback while the built `ferry lock` pins an image or an OCI chart.
 *
 * - The token service's JSON: `null` (was "unexpected error: Cannot read properties of null",
 *   exit 1), a token that is not a string (was sent as `Bearer [object Object]` / `Bearer 12345`)
 *   or that holds CR/LF or other control bytes (was undici's bare "invalid authorization
 *   header", exit 2, naming neither the token service nor what to do).
 * - OCI referrers: the referrers list's `artifactType` of a referrer (the registry's copy, which
 *   a number or an object was written into the lock as is: `ferry lock` exited 0 and every later
 *   command refused the lock, "delete it and run ferry lock again", which wrote it again) is
 *   now taken from the referrer's own, digest-checked manifest, as the distribution spec
 *   defines it; a manifest whose artifactType or blob media type is not a media type (RFC 6838,
 *   the image spec's pattern) is refused naming it, terminal bytes escaped.
 * - A tag list's next-page `Link` naming a link-local address (where cloud metadata services
 *   answer): the registry's word, now held to the rule a redirect or a token realm is (was
 *   requested like any page). A next page on the registry itself is still read.
 */
type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

let work: string;
let server: http.Server;
let host: string;
let handler: Handler;
const seen: string[] = [];
let n = 0;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-hostile36-reg-'));
  server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url} ${JSON.stringify(req.headers.authorization ?? '')}`);
    handler(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
  if (work) await rm(work, { recursive: true, force: true });
});

async function lock(yaml: string, more: string[][] = []) {
  const dir = path.join(work, `c${++n}`);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'manifest.yaml'), `apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: h }\n${yaml}`);
  seen.length = 0;
  const env = { FERRY_CACHE_DIR: path.join(dir, 'cache'), FERRY_RETRIES: '1', FERRY_RETRY_MIN_MS: '10' };
  const r = await runFerry(['lock', 'manifest.yaml'], { cwd: dir, env, timeoutMs: 60_000 });
  // Commands run after the lock (they read what it wrote).
  const after = [];
  for (const args of more) after.push(await runFerry(args, { cwd: dir, env, timeoutMs: 60_000 }));
  return { ...r, dir, after, files: await readdir(dir) };
}

/** The lock was refused: exit 4 or so (never 1 "unexpected error" nor 2 "usage"), `problem` said, no lock file. */
function refused(r: Awaited<ReturnType<typeof lock>>, problem: RegExp): void {
  expect(r.code, r.stderr).not.toBe(0);
  expect([1, 2]).not.toContain(r.code);
  expect(r.stderr).toMatch(problem);
  expect(r.stderr).not.toMatch(/unexpected error|\n\s+at /);
  expect(r.files.filter((f) => f.endsWith('.lock.json'))).toEqual([]);
}

function json(res: http.ServerResponse, body: unknown, headers: Record<string, string> = {}) {
  const b = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(b.length), ...headers });
  res.end(b);
}

const re = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('token service answers', () => {
  /** A registry that wants a bearer token from its own /token, which answers `tokenBody`. */
  const withToken = (tokenBody: string): Handler => (req, res) => {
    if (req.url!.startsWith('/token')) return json(res, tokenBody);
    if (!req.headers.authorization) {
      res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${host}/token",service="x"`, 'content-length': '0' });
      return res.end();
    }
    res.writeHead(404, { 'content-length': '0' });
    res.end();
  };
  const endpoint = () => re(`token endpoint http://${host}/token`);

  it('JSON null, a list: refused naming the token endpoint (null was "unexpected error")', async () => {
    for (const body of ['null', '[1,2]']) {
      handler = withToken(body);
      refused(await lock(`images:\n  - ref: ${host}/evil/app:1\n`), new RegExp(`${endpoint()} answered JSON that is not an object; no token in it\\nhint: The token service`));
    }
  });

  it('a token that is not a string, or holds CR/LF, an escape or NUL: refused naming the endpoint; no request carries it', async () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ a: 1 }, /is not a string \(object\)/],
      [12345, /is not a string \(number\)/],
      [['x'], /is not a string \(a list\)/],
      ['abc\r\nX-Injected: 1', /holds spaces, control characters or non-ASCII bytes/],
      ['abc\u001b[31m', /holds spaces, control characters or non-ASCII bytes/],
      ['abc\u0000def', /holds spaces, control characters or non-ASCII bytes/],
      ['tökén', /holds spaces, control characters or non-ASCII bytes/],
    ];
    for (const [token, problem] of cases) {
      handler = withToken(JSON.stringify({ token }));
      const r = await lock(`images:\n  - ref: ${host}/evil/app:1\n`);
      refused(r, new RegExp(`${endpoint()} gave a token that ${problem.source}; refusing it`));
      expect(seen.filter((s) => / "Bearer /.test(s))).toEqual([]);
    }
  });

  it('a well-formed token (a JWT-like word) is used: the registry is asked with it', async () => {
    handler = withToken(JSON.stringify({ access_token: 'eyJhbGciOi.eyJzdWIiOi-_.sig+/=' }));
    const r = await lock(`images:\n  - ref: ${host}/evil/app:1\n`);
    expect(r.code).not.toBe(0);
    expect(seen).toContain('GET /v2/evil/app/manifests/1 "Bearer eyJhbGciOi.eyJzdWIiOi-_.sig+/="');
  });
});

describe('OCI referrers of an image', () => {
  const sha = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');
  const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
  const bytes = (v: unknown) => Buffer.from(JSON.stringify(v));
  /**
   * A registry holding evil/app:1 (one layer) and one referrer of it, served through the
   * referrers API: the list states `listType` as the referrer's artifactType, the referrer's own
   * manifest `ownType` (and `layerType` as its layer's media type).
   */
  const referrerRegistry = (o: { listType: unknown; ownType: unknown; layerType?: unknown }): Handler => {
    const layer = Buffer.from('layer-bytes');
    const config = bytes({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha(layer)] }, config: {} });
    const manifest = bytes({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length }, layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha(layer), size: layer.length }] });
    const empty = Buffer.from('{}');
    const emptyDesc = { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha(empty), size: 2 };
    const referrer = bytes({ schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType: o.ownType, config: emptyDesc, layers: [{ ...emptyDesc, mediaType: o.layerType ?? emptyDesc.mediaType }], subject: { mediaType: OCI_MANIFEST, digest: sha(manifest), size: manifest.length } });
    const list = bytes({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [{ mediaType: OCI_MANIFEST, digest: sha(referrer), size: referrer.length, artifactType: o.listType }] });
    const served: Record<string, [Buffer, string]> = {
      '/v2/': [Buffer.from('{}'), 'application/json'],
      '/v2/evil/app/manifests/1': [manifest, OCI_MANIFEST],
      [`/v2/evil/app/manifests/${sha(manifest)}`]: [manifest, OCI_MANIFEST],
      [`/v2/evil/app/manifests/${sha(referrer)}`]: [referrer, OCI_MANIFEST],
      [`/v2/evil/app/referrers/${sha(manifest)}`]: [list, 'application/vnd.oci.image.index.v1+json'],
      [`/v2/evil/app/blobs/${sha(config)}`]: [config, 'application/octet-stream'],
      [`/v2/evil/app/blobs/${sha(layer)}`]: [layer, 'application/octet-stream'],
      [`/v2/evil/app/blobs/${sha(empty)}`]: [empty, 'application/octet-stream'],
    };
    return (req, res) => {
      const hit = served[req.url!];
      if (!hit) {
        res.writeHead(404, { 'content-type': 'application/json' });
        return res.end('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"unknown"}]}');
      }
      res.writeHead(200, { 'content-type': hit[1], 'content-length': String(hit[0].length), 'docker-content-digest': sha(hit[0]) });
      res.end(req.method === 'HEAD' ? undefined : hit[0]);
    };
  };

  it("the list's artifactType is not a string or holds terminal bytes: the referrer's own is recorded, and the lock is one later commands read", async () => {
    for (const listType of [12345, { a: 1 }, 'application/x\u001b]0;title\u0007']) {
      handler = referrerRegistry({ listType, ownType: 'application/vnd.example.sig.v1+json' });
      const r = await lock(`images:\n  - ref: ${host}/evil/app:1\n`, [['bundle', 'create', 'manifest.yaml', '-o', 'app.ferry.tar']]);
      expect(r.code, r.stderr).toBe(0);
      const written = JSON.parse(await readFile(path.join(r.dir, 'h.lock.json'), 'utf8')) as { images: Array<{ extras?: Array<{ artifactType?: unknown; via: string }> }> };
      expect(written.images[0].extras).toEqual([expect.objectContaining({ artifactType: 'application/vnd.example.sig.v1+json', via: 'referrers-api' })]);
      expect(r.after[0].code, r.after[0].stderr).toBe(0);
    }
  });

  it('a referrer without its own artifactType: its config media type, as the distribution spec says', async () => {
    handler = referrerRegistry({ listType: 'application/vnd.example.sig.v1+json', ownType: undefined });
    const r = await lock(`images:\n  - ref: ${host}/evil/app:1\n`);
    expect(r.code, r.stderr).toBe(0);
    expect(await readFile(path.join(r.dir, 'h.lock.json'), 'utf8')).toContain('"artifactType": "application/vnd.oci.empty.v1+json"');
  });

  it("the referrer's own artifactType or a layer media type is not a media type: refused naming the referrer and the field, escaped, no lock", async () => {
    const cases: Array<[{ ownType: unknown; layerType?: unknown }, RegExp]> = [
      [{ ownType: 12345 }, /extra sha256:[a-f0-9]{64}: artifactType \(a number\) is not a media type \(type\/subtype\); not recording it in the lock/],
      [{ ownType: 'no-slash' }, /artifactType "no-slash" is not a media type/],
      [{ ownType: 'application/x-ok', layerType: 'application/x\u001b[31mred' }, /layers\[0\] mediaType "application\/x\\u001b\[31mred" is not a media type/],
    ];
    for (const [o, problem] of cases) {
      handler = referrerRegistry({ listType: 'application/x-ok', ...o });
      const r = await lock(`images:\n  - ref: ${host}/evil/app:1\n`);
      refused(r, problem);
      expect(r.stderr).toMatch(/hint: .*extras: false/);
      expect(r.stderr).not.toContain('\u001b');
    }
  });
});

describe("a tag list's next-page Link", () => {
  const chart = () => `charts:\n  - name: x\n    repo: oci://${host}/charts\n    version: ">=2"\n`;
  const tags = (next: string | undefined): Handler => (req, res) => {
    if (req.url === '/v2/') return json(res, {});
    if (req.url === '/v2/charts/x/tags/list') return json(res, { name: 'charts/x', tags: ['1.0.0'] }, next ? { link: `<${next}>; rel="next"` } : {});
    if (req.url === '/v2/charts/x/tags/list?last=1.0.0') return json(res, { name: 'charts/x', tags: ['1.0.1'] });
    res.writeHead(404, { 'content-length': '0' });
    res.end();
  };

  it('to a link-local address (the metadata service) from the registry (on loopback): refused before any request, naming both', { timeout: 90_000 }, async () => {
    handler = tags('http://169.254.169.254/latest/meta-data/iam/security-credentials/');
    const r = await lock(chart());
    refused(r, new RegExp(`${re(`http://${host}/v2/charts/x/tags/list`)}: names "http://169\\.254\\.169\\.254/latest/meta-data/iam/security-credentials/", a link-local address \\(where cloud metadata services answer\\); refusing`));
  });

  it('to the next page on the registry itself (relative or absolute): followed, every page read', async () => {
    for (const next of ['/v2/charts/x/tags/list?last=1.0.0', `http://${host}/v2/charts/x/tags/list?last=1.0.0`]) {
      handler = tags(next);
      const r = await lock(chart());
      expect(r.stderr).toMatch(/no version matches ">=2"/);
      expect(r.stderr).toMatch(/1\.0\.1/);
      expect(seen.some((s) => s.startsWith('GET /v2/charts/x/tags/list?last=1.0.0 '))).toBe(true);
    }
  });
});
