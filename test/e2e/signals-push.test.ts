import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FERRY, runFerry } from '../support/cli.js';
import { ferryEnv, startRegistry } from '../support/registry.js';

/**
 * Two failure paths a user meets: a registry that refuses a push (each status said at once, or
 * retried a bounded number of times with the retry said), and Ctrl-C / SIGTERM during `bundle
 * create` (exit 130 / 143, the partial bundle kept and named, a rerun giving the same bytes).
 * The in-process servers here are fault injection only: the 401 case uses the real registry.
 */
let work: string;
let bundle: string;
let big: Buffer;
let small: Buffer;
/** Serves /big.bin (slowly while `slow`) and /small.bin, with Range; counts the bytes sent. */
let files: { url: string; slow: boolean; sent: number; close(): Promise<void> };

const hex = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const env = (dir: string) => ({ FERRY_CACHE_DIR: path.join(dir, 'cache'), DOCKER_CONFIG: path.join(dir, 'no-docker-config'), FERRY_RETRIES: '2', FERRY_RETRY_MIN_MS: '20' });

async function listen(server: http.Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function startFiles(): Promise<typeof files> {
  const state = { slow: false, sent: 0 };
  const server = http.createServer(async (req, res) => {
    const body = req.url === '/big.bin' ? big : req.url === '/small.bin' ? small : undefined;
    if (!body) return void res.writeHead(404).end();
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const start = m ? Number(m[1]) : 0;
    res.writeHead(m ? 206 : 200, { 'content-length': String(body.length - start), 'accept-ranges': 'bytes', ...(m ? { 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` } : {}) });
    if (req.method === 'HEAD') return void res.end();
    for (let at = start; at < body.length && !res.destroyed; at += 64 * 1024) {
      const c = body.subarray(at, at + 64 * 1024);
      res.write(c);
      state.sent += c.length;
      if (state.slow && req.url === '/big.bin') await new Promise((r) => setTimeout(r, 40));
    }
    res.end();
  });
  server.on('connection', (s) => s.unref());
  const host = await listen(server);
  return {
    url: `http://${host}`,
    get slow() {
      return state.slow;
    },
    set slow(v: boolean) {
      state.slow = v;
    },
    get sent() {
      return state.sent;
    },
    close: () => new Promise((r) => server.close(() => r())),
  };
}

/** A server that answers every registry request with `status` (fault injection), recording them. */
async function refusing(status: number, opts: { only?: (req: http.IncomingMessage) => boolean } = {}): Promise<{ host: string; requests: string[]; close(): Promise<void> }> {
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    req.resume();
    if (opts.only && !opts.only(req)) {
      // A registry-like answer for everything else: the API is there, no blob is.
      return void res.writeHead(req.url === '/v2/' ? 200 : 404, { 'docker-distribution-api-version': 'registry/2.0' }).end();
    }
    res.writeHead(status, { 'content-type': 'text/plain' }).end('no\n');
  });
  server.on('connection', (s) => s.unref());
  const host = await listen(server);
  return { host, requests, close: () => new Promise((r) => server.close(() => r())) };
}

function manifest(): string {
  return [
    'apiVersion: ferry/v1alpha1',
    'kind: Manifest',
    'metadata: { name: signals }',
    'files:',
    '  - name: big',
    `    url: ${files.url}/big.bin`,
    `    sha256: ${hex(big)}`,
    '  - name: small',
    `    url: ${files.url}/small.bin`,
    `    sha256: ${hex(small)}`,
    '',
  ].join('\n');
}

async function project(name: string): Promise<string> {
  const dir = path.join(work, name);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'manifest.yaml'), manifest());
  return dir;
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-signals-push-'));
  big = randomBytes(6 * 1024 * 1024 + 5);
  small = randomBytes(70_001);
  files = await startFiles();
  const dir = await project('pushme');
  bundle = path.join(dir, 'b.ferry.tar');
  const r = await runFerry(['bundle', 'create', 'manifest.yaml', '-o', bundle], { cwd: dir, env: env(dir) });
  expect(r.code, r.stderr).toBe(0);
});

afterAll(async () => {
  await files?.close();
  if (work && !process.env.FERRY_TEST_KEEP) await rm(work, { recursive: true, force: true });
});

describe('bundle push to a registry that refuses', () => {
  it('401 from the real registry (basic auth, no credentials): fails at once, naming the registry and the repository, saying to log in', async () => {
    const reg = await startRegistry({ mode: 'basic' });
    try {
      const r = await runFerry(['bundle', 'push', bundle, `oci://${reg.host}/team/x:1`], { env: { ...env(work), NODE_EXTRA_CA_CERTS: ferryEnv(reg).NODE_EXTRA_CA_CERTS } });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(`${reg.host}: authentication required for team/x`);
      expect(r.stderr).toContain(`docker login ${reg.host}`);
      expect(r.stderr).not.toContain('retrying');
    } finally {
      await reg.stop();
    }
  });

  it('403: fails at once, saying the account may not push there', async () => {
    const srv = await refusing(403);
    try {
      const r = await runFerry(['bundle', 'push', bundle, `oci://${srv.host}/x:1`], { env: env(work) });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(`${srv.host}/x`);
      expect(r.stderr).toContain('access denied');
      expect(r.stderr).toContain(`may not push to ${srv.host}/x`);
      expect(srv.requests.length).toBe(1);
    } finally {
      await srv.close();
    }
  });

  it('404 on the upload URL: fails at once, saying the URL may not be a registry that accepts pushes', async () => {
    const srv = await refusing(404, { only: (req) => req.method === 'POST' });
    try {
      const r = await runFerry(['bundle', 'push', bundle, `oci://${srv.host}/x:1`], { env: env(work) });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(`HTTP 404 to POST /v2/x/blobs/uploads/`);
      expect(r.stderr).toContain('names a container registry that accepts pushes to x');
      expect(srv.requests.filter((q) => q.startsWith('POST')).length).toBe(1);
    } finally {
      await srv.close();
    }
  });

  for (const status of [501, 405]) {
    it(`${status} (not a registry): fails at once with the status, not retried`, async () => {
      const srv = await refusing(status);
      try {
        const r = await runFerry(['bundle', 'push', bundle, `oci://${srv.host}/x:1`], { env: { ...env(work), FERRY_RETRIES: '5', FERRY_RETRY_MIN_MS: '1000' } });
        expect(r.code).not.toBe(0);
        expect(r.stderr).toContain(`${srv.host}/x`);
        expect(r.stderr).toContain(`answered HTTP ${status}`);
        expect(r.stderr).toContain('check that the URL names a container registry');
        expect(r.stderr).not.toContain('retrying');
        expect(srv.requests.length).toBe(1);
      } finally {
        await srv.close();
      }
    });
  }

  for (const status of [500, 503]) {
    it(`${status} (transient): retried a bounded number of times, each retry said, then a failure naming it`, async () => {
      const srv = await refusing(status);
      try {
        const r = await runFerry(['bundle', 'push', bundle, `oci://${srv.host}/x:1`], { env: env(work) });
        expect(r.code).not.toBe(0);
        expect(r.stderr).toContain('retrying (attempt 2 of 3)');
        expect(r.stderr).toContain('retrying (attempt 3 of 3)');
        expect(r.stderr).toContain(`HTTP ${status} (gave up after 3 attempts)`);
        expect(r.stderr).toContain(`${srv.host}/x`);
        expect(srv.requests.length).toBe(3);
      } finally {
        await srv.close();
      }
    });
  }
});

/** Start `bundle create`, send `signal` once the big file is flowing, and collect how it ended. */
async function interrupted(dir: string, out: string, signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  files.slow = true;
  const before = files.sent;
  const child = spawn(process.execPath, [FERRY, 'bundle', 'create', 'manifest.yaml', '-o', out], { cwd: dir, env: { ...process.env, NO_COLOR: '1', ...env(dir) }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  child.stdout.resume();
  const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('close', (code, sig) => r({ code, signal: sig })));
  try {
    while (files.sent - before < 1024 * 1024 || !existsSync(`${out}.partial`)) await new Promise((r) => setTimeout(r, 20));
    child.kill(signal);
    return { ...(await ended), stderr };
  } finally {
    files.slow = false;
  }
}

describe('Ctrl-C and SIGTERM during bundle create', () => {
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    it(`${signal}: exits ${code}, keeps and names <bundle>.partial and its journal, and the same command finishes the same bytes`, async () => {
      const dir = await project(`interrupt-${signal}`);
      const out = path.join(dir, 'b.ferry.tar');
      const r = await interrupted(dir, out, signal);
      expect({ code: r.code, signal: r.signal }, r.stderr).toEqual({ code, signal: null });
      const said = r.stderr.split('\n').filter((l) => l.startsWith('interrupted:'));
      expect(said).toEqual([`interrupted: what was written is kept in ${out}.partial (and its journal ${out}.partial.json); the same command run again continues from there.`]);
      expect(existsSync(`${out}.partial`)).toBe(true);
      expect(existsSync(`${out}.partial.json`)).toBe(true);
      expect(existsSync(out)).toBe(false);

      const again = await runFerry(['bundle', 'create', 'manifest.yaml', '-o', out], { cwd: dir, env: env(dir) });
      expect(again.code, again.stderr).toBe(0);
      expect(existsSync(`${out}.partial`)).toBe(false);
      // The same bundle, byte for byte, as one made in one go (same name, another directory).
      const fresh = await project(`fresh-${signal}`);
      const one = await runFerry(['bundle', 'create', 'manifest.yaml', '-o', path.join(fresh, 'b.ferry.tar')], { cwd: fresh, env: env(fresh) });
      expect(one.code, one.stderr).toBe(0);
      expect(hex(await readFile(out))).toBe(hex(await readFile(path.join(fresh, 'b.ferry.tar'))));
    });
  }
});

describe('import into a registry target that refuses', () => {
  let imageBundle: string;
  let stopUpstream: () => Promise<void>;

  beforeAll(async () => {
    const { seedImages } = await import('../support/images.js');
    const upstream = await startRegistry({ mode: 'http' });
    stopUpstream = () => upstream.stop();
    const seeded = await seedImages(upstream);
    const dir = path.join(work, 'images');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'manifest.yaml'), ['apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata: { name: imgs }', 'images:', `  - ref: ${seeded.refs.base}`, ''].join('\n'));
    imageBundle = path.join(dir, 'imgs.ferry.tar');
    const r = await runFerry(['bundle', 'create', 'manifest.yaml', '-o', imageBundle], { cwd: dir, env: env(dir) });
    expect(r.code, r.stderr).toBe(0);
  });

  afterAll(async () => {
    await stopUpstream?.();
  });

  async function target(host: string): Promise<string> {
    const file = path.join(work, `target-${host.replace(/[^0-9]/g, '')}.yaml`);
    await writeFile(file, `apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: site }\nregistry:\n  url: http://${host}\n  prefix: mirror\n`);
    return file;
  }

  it('501: fails at once, not retried', async () => {
    const srv = await refusing(501);
    try {
      const r = await runFerry(['import', imageBundle, '--target', await target(srv.host)], { env: { ...env(work), FERRY_RETRIES: '5', FERRY_RETRY_MIN_MS: '1000' } });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain('answered HTTP 501');
      expect(r.stderr).toContain(srv.host);
      expect(r.stderr).not.toContain('retrying');
    } finally {
      await srv.close();
    }
  });

  it('503: retried a bounded number of times, each retry said', async () => {
    const srv = await refusing(503, { only: (req) => req.method !== 'GET' || req.url !== '/v2/' });
    try {
      const r = await runFerry(['import', imageBundle, '--target', await target(srv.host)], { env: env(work) });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain('retrying (attempt 2 of 3)');
      expect(r.stderr).toContain('HTTP 503');
      expect(r.stderr).toContain(srv.host);
    } finally {
      await srv.close();
    }
  });
});
