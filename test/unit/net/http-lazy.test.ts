import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { FerryError } from '../../../src/errors.js';
import { HttpClient } from '../../../src/net/http.js';
import { makeTestCa, type TestCa } from '../../support/registry.js';

/**
 * The HTTP client sets undici up on its first request and parses the CA bundle on its first
 * TLS connection: commands that send nothing, or only plain HTTP, pay for neither.
 */
let dir: string;
let ca: TestCa;
let plain: http.Server;
let secure: https.Server;
let plainUrl: string;
let secureUrl: string;

const listen = (s: http.Server | https.Server) => new Promise<number>((r) => s.listen(0, '127.0.0.1', () => r((s.address() as AddressInfo).port)));
const answer: http.RequestListener = (_req, res) => res.writeHead(200, { 'content-length': '2' }).end('ok');

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-http-lazy-'));
  ca = await makeTestCa(path.join(dir, 'ca'));
  plain = http.createServer(answer);
  secure = https.createServer({ key: await readFile(ca.keyFile), cert: await readFile(ca.certFile) }, answer);
  plainUrl = `http://127.0.0.1:${await listen(plain)}/x`;
  secureUrl = `https://127.0.0.1:${await listen(secure)}/x`;
});
afterAll(async () => {
  plain?.close();
  secure?.close();
  await rm(dir, { recursive: true, force: true });
});
afterEach(() => vi.restoreAllMocks());

describe('HttpClient set-up on first use', () => {
  it('parses the CA bundle only at the first TLS connection, once', async () => {
    const made = vi.spyOn(tls, 'createSecureContext');
    const c = new HttpClient({ caFiles: [ca.caFile], httpProxy: '', httpsProxy: '' });
    try {
      expect((await c.getBytes(plainUrl)).toString()).toBe('ok');
      expect(made).not.toHaveBeenCalled();
      expect((await c.getBytes(secureUrl)).toString()).toBe('ok');
      expect((await c.getBytes(secureUrl)).toString()).toBe('ok');
      // Exactly one context of ferry's own carries the extra CA (undici adds none of its own).
      expect(made.mock.calls.filter(([o]) => o && 'ca' in o)).toHaveLength(1);
    } finally {
      await c.close();
    }
  });

  it('an unreadable CA file is still reported when the client is made, before any request', () => {
    expect(() => new HttpClient({ caFiles: [path.join(dir, 'missing.pem')] })).toThrow(FerryError);
  });

  it('a malformed proxy URL is a usage error naming the settings, and close() still works', async () => {
    const c = new HttpClient({ httpsProxy: '::not a url', httpProxy: '::not a url', noProxy: '' });
    const err = await c.request(plainUrl).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FerryError);
    expect((err as FerryError).code).toBe('USAGE');
    expect((err as FerryError).message).toContain('HTTPS_PROXY');
    expect((err as FerryError).message).not.toContain('not a url');
    await expect(c.close()).resolves.toBeUndefined();
  });

  it('a client that never sent a request closes at once', async () => {
    await expect(new HttpClient().close()).resolves.toBeUndefined();
  });
});
