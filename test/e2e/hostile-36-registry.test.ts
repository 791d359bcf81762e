import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
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

async function lock(yaml: string) {
  const dir = path.join(work, `c${++n}`);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'manifest.yaml'), `apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: h }\n${yaml}`);
  seen.length = 0;
  const r = await runFerry(['lock', 'manifest.yaml'], { cwd: dir, env: { FERRY_CACHE_DIR: path.join(dir, 'cache'), FERRY_RETRIES: '1', FERRY_RETRY_MIN_MS: '10' }, timeoutMs: 60_000 });
  return { ...r, files: await readdir(dir) };
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
